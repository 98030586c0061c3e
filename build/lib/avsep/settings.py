"""Default locations: one working folder holds the corpus, the cache, Ray results and MLflow.

``AVSEP_HOME`` overrides the folder (default ``./avsep_runs``); paths are always absolute,
because Ray Tune changes each trial's working directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The absolute working folder (``$AVSEP_HOME`` or ``./avsep_runs``)."""
    return Path(os.environ.get("AVSEP_HOME", "avsep_runs")).expanduser().resolve()


def default_mlflow_uri(root: Path | None = None) -> str:
    """``sqlite:///<abs>/mlflow.db`` beside the results (MLflow refuses a bare ./mlruns store)."""
    root = (root or home()).resolve()
    return f"sqlite:///{root / 'mlflow.db'}"


def default_artifact_root(root: Path | None = None) -> Path:
    return (root or home()).resolve() / "mlflow-artifacts"

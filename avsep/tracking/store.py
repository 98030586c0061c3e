"""MLflow: store checks, one run per trial, artifacts, and the model registry.

* :func:`check_tracking_uri` runs before any trial: a sqlite store's folder must be writable, a
  server must answer ``/health`` within a few seconds, the plain ``./mlruns`` file store is
  refused (current MLflow no longer supports it).
* :class:`RunLogger` is used by rank 0 of a training run: params (the flattened experiment
  config), per-epoch metrics, tags (space, study, code version), artifacts. MLflow metric names
  may not contain ``@``, so ``val/sdr@w1`` is logged as ``val/sdr_w1``.
* the champion guard and registration live in :mod:`avsep.tracking.registry`; the pyfunc
  model in :mod:`avsep.tracking.pyfunc`.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MODEL_ARTIFACT = "model"


class TrackingError(RuntimeError):
    """The MLflow tracking URI cannot be used; the message says why."""


def resolve_tracking_uri(explicit: str | None = None, root: Path | None = None) -> str:
    """The tracking URI every command uses, by MLflow's own precedence.

    ``explicit`` (``--mlflow-uri``) first, then ``$MLFLOW_TRACKING_URI``, then the embedded
    default ``sqlite:///<root or $AVSEP_HOME>/mlflow.db``. Not checked: see
    :func:`check_tracking_uri`.
    """
    import os

    from avsep import settings

    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or settings.default_mlflow_uri(root)


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> str:
    """Return ``uri`` when MLflow can use it, else raise :class:`TrackingError`."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.is_absolute():
            raise TrackingError(f"{uri}: use an absolute sqlite path (sqlite:////abs/mlflow.db); "
                                "Ray Tune changes each trial's working directory")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TrackingError(f"{uri}: cannot create {path.parent}: {err}") from None
        return uri
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310
                if reply.status != 200:
                    raise TrackingError(f"{uri}: MLflow server answered {reply.status} on /health")
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise TrackingError(f"{uri}: MLflow server unreachable ({err}); start it (e.g. "
                                "`mlflow server` on the head node) or pass another --mlflow-uri"
                                ) from None
        return uri
    if uri.startswith(("postgresql", "mysql", "mssql", "databricks")):
        return uri
    raise TrackingError(f"{uri}: unsupported MLflow tracking URI; expected sqlite:////abs/path.db, "
                        "http(s)://server:port or a database URI (the ./mlruns file store is "
                        "refused by current MLflow)")


def check_cluster_tracking_uri(uri: str, nodes: int) -> str:
    """Refuse a tracking URI that trials on other nodes cannot reach: a sqlite file (each node
    would write its own) or a loopback server, when the Ray cluster has ``nodes`` > 1."""
    if nodes <= 1:
        return uri
    host = urllib.parse.urlparse(uri).hostname or ""
    if uri.startswith("sqlite:") or host in ("localhost", "::1") or host.startswith("127."):
        raise TrackingError(f"{uri}: trials on the other {nodes - 1} node(s) of this Ray cluster "
                            "cannot reach it; start `mlflow server` on the head bound to its "
                            "routable address and pass --mlflow-uri http://<head ip>:5000")
    return uri


def mlflow_metric_name(name: str) -> str:
    """``val/sdr@w1`` -> ``val/sdr_w1`` (MLflow forbids ``@`` in metric names)."""
    return name.replace("@", "_")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}``; lists become JSON strings."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list | tuple) else value
    return flat


def code_version(root: Path | None = None) -> str:
    """The git commit of the code (with ``-dirty`` when modified), or the package version."""
    from avsep import __version__

    root = root or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"avsep-{__version__}"


def configure(uri: str) -> None:
    """Point MLflow's tracking and registry at ``uri``."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def experiment_id(uri: str, name: str, artifact_root: Path | None = None) -> str:
    """The id of experiment ``name`` (created with its artifacts under ``artifact_root``)."""
    import mlflow

    configure(uri)
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = str(artifact_root / name) if artifact_root else None
    try:
        # the UI then opens the experiment in its "Model training" mode (runs table, charts)
        # instead of the GenAI mode, whose first page is an empty "Traces" list
        return client.create_experiment(name, artifact_location=location,
                                        tags={"mlflow.experimentKind": "custom_model_development"})
    except Exception:  # noqa: BLE001 - a concurrent trial created it first
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class RunLogger:
    """One MLflow run (created, or resumed by id) written through the client API."""

    def __init__(self, uri: str, experiment: str, run_name: str, tags: Mapping[str, str],
                 artifact_root: Path | None = None, run_id: str | None = None) -> None:
        import mlflow

        configure(uri)
        self.client = mlflow.MlflowClient()
        if run_id is None:
            exp = experiment_id(uri, experiment, artifact_root)
            run_id = self.client.create_run(exp, run_name=run_name, tags=dict(tags)).info.run_id
        self.run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params
        todo = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in existing]
        for start in range(0, len(todo), 100):
            self.client.log_batch(self.run_id, params=todo[start:start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(mlflow_metric_name(k), float(v), now, step) for k, v in metrics.items()
                 if isinstance(v, int | float) and not isinstance(v, bool)]
        self.client.log_batch(self.run_id, metrics=batch)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    def log_dict(self, payload: Mapping[str, Any], filename: str) -> None:
        self.client.log_dict(self.run_id, dict(payload), filename)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)

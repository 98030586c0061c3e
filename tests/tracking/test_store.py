"""Which MLflow store a command uses, and that pointing MLflow at one leaves the next alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from avsep.tracking.store import configure, resolve_tracking_uri


def test_precedence_flag_then_environment_then_default(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    run = tmp_path / "run"
    assert resolve_tracking_uri(root=run) == f"sqlite:///{run / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_tracking_uri() == "http://127.0.0.1:5999"
    assert resolve_tracking_uri("sqlite:////x/flag.db") == "sqlite:////x/flag.db"


def test_configure_does_not_become_the_next_commands_store(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``mlflow.set_tracking_uri`` writes ``$MLFLOW_TRACKING_URI``; ``configure`` undoes that, so a
    second command in the same process resolves its own default, not the first one's store."""
    import mlflow

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    first = f"sqlite:///{tmp_path / 'first.db'}"
    configure(first)
    assert mlflow.get_tracking_uri() == first
    assert mlflow.get_registry_uri() == first
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")  # the user's own choice
    configure(first)
    assert mlflow.get_tracking_uri() == first
    assert resolve_tracking_uri() == "http://127.0.0.1:5999"  # kept, not overwritten

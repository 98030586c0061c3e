"""Helpers of the cluster tests: the ``avsep tune`` command line of a tiny search on the
cluster, and the rows Tune wrote for each trial."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.tune_state import result_rows


def tune_command(state: Any, data: tuple[Path, Path], name: str, samples: int, epochs: int,
                 concurrent: int, *extra: str) -> list[str]:
    """``avsep tune`` of ``samples`` tiny ``av_singing`` trials of ``epochs`` epochs on the
    cluster (results on its shared storage, runs on the head's MLflow server); ASHA's grace
    period is the whole run, so no trial is stopped early."""
    cache, config = data
    return [sys.executable, "-m", "avsep.cli", "tune", "--space", "av_singing",
            "--data", str(cache), "--config", str(config), "--num-samples", str(samples),
            "--max-epochs", str(epochs), "--grace-period", str(epochs), "--name", name,
            "--max-concurrent", str(concurrent), "--finalists", "1",
            "--storage", str(Path(state.storage) / "ray_results"),
            "--mlflow-uri", state.mlflow_uri, *extra]


def trial_rows(state: Any, name: str) -> dict[str, list[dict[str, Any]]]:
    """Trial id -> the results Tune recorded for search ``name`` on the cluster's storage, in
    order (``result.json`` lines: epoch, node_ip, pid, ...)."""
    return result_rows(Path(state.storage) / "ray_results" / name)


def trial_runs(state: Any, name: str) -> list[Any]:
    """The MLflow runs of the study's trials (those that logged a validation SDR)."""
    import mlflow

    client = mlflow.MlflowClient(state.mlflow_uri)
    experiment = client.get_experiment_by_name(name)
    return [r for r in client.search_runs([experiment.experiment_id])
            if "val/sdr" in r.data.metrics]

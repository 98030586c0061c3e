"""A 2-trial search driven from the head of a real local cluster: trials run on the workers
and log to the head's MLflow server, whose artifacts download over HTTP."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def write_tiny_cache(root: Path) -> Path:
    """The platform tests' tiny ``av_singing`` cache (tests/platform/conftest.py)."""
    path = Path(__file__).resolve().parents[1] / "platform" / "conftest.py"
    spec = importlib.util.spec_from_file_location("platform_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_tiny_cache(root)


def _node_ips(experiment: Path) -> list[str]:
    ips = []
    for result in sorted(experiment.glob("run_trial_*/result.json")):
        lines = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        ips.append(lines[-1]["node_ip"])
    return ips


def test_search_runs_trials_on_workers_and_logs_to_head_server(local_cluster, tmp_path):
    import mlflow

    from avsep.cluster import local, netns

    state = local_cluster
    storage = Path(state.storage)
    cache = write_tiny_cache(storage / "cache")
    results = storage / "ray_results"
    code = local.run_in_node(state, "head", [
        sys.executable, "-m", "avsep.cli", "tune", "--space", "av_singing", "--data", str(cache),
        "--num-samples", "2", "--max-epochs", "1", "--name", "cluster2", "--max-concurrent", "2",
        "--finalists", "1",
        "--storage", str(results), "--mlflow-uri", state.mlflow_uri], timeout_s=420)
    assert code == 0

    workers = {n.address for n in state.nodes[1:]}
    ips = _node_ips(results / "cluster2")
    assert len(ips) == 2
    assert set(ips) <= workers, f"trials ran on {ips}, workers are {sorted(workers)}"

    client = mlflow.MlflowClient(state.mlflow_uri)
    experiment = client.get_experiment_by_name("cluster2")
    runs = client.search_runs([experiment.experiment_id])
    trials = [r for r in runs if "val/sdr" in r.data.metrics]
    assert len(trials) == 2
    for run in trials:
        assert run.data.params["model.preset"] == "tiny"
        assert run.data.metrics["epoch"] >= 1
        assert "model" in {a.path for a in client.list_artifacts(run.info.run_id)}
    best = max(trials, key=lambda r: r.data.metrics["val/sdr"])
    # the artifacts live on the head's disk: they come back only through the server (HTTP)
    local_copy = Path(client.download_artifacts(best.info.run_id, "model", str(tmp_path)))
    files = [p for p in local_copy.rglob("*") if p.is_file()]
    assert files and sum(p.stat().st_size for p in files) > 1000
    head_store = Path(state.head.folder) / "mlflow" / "artifacts"
    assert any(head_store.rglob("*")), "the server did not store artifacts on the head"
    assert not any(p.is_relative_to(head_store) for p in files)
    assert netns.namespace_pids(state.nodes[1].namespace), "worker node has no processes"

"""A 2-trial search driven from the head of a real local cluster: trials run on the workers
and log to the head's MLflow server, whose artifacts download over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.searches import trial_rows, trial_runs, tune_command

pytestmark = pytest.mark.slow


def test_search_runs_trials_on_workers_and_logs_to_head_server(local_cluster, cluster_data,
                                                               tmp_path):
    import mlflow

    from avsep.cluster import local, netns

    state = local_cluster
    command = tune_command(state, cluster_data, "cluster2", samples=2, epochs=1, concurrent=2)
    assert local.run_in_node(state, "head", command, timeout_s=420) == 0

    workers = {n.address for n in state.nodes[1:]}
    ips = [rows[-1]["node_ip"] for rows in trial_rows(state, "cluster2").values()]
    assert len(ips) == 2
    assert set(ips) <= workers, f"trials ran on {ips}, workers are {sorted(workers)}"

    client = mlflow.MlflowClient(state.mlflow_uri)
    trials = trial_runs(state, "cluster2")
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

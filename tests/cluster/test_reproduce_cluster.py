"""``avsep reproduce li`` on the local cluster: its trials run on the worker nodes, and a killed
driver resumes as a Ray job.

Li et al.'s 3 arms × 2 seeds (6 trials of 2 epochs on a 1-minute synthetic corpus, 8 training
mixtures an epoch) are driven from the head, where the driver synthesises and prepares the data
on the cluster's shared storage. The driver is killed (SIGKILL) once Tune has saved a state in
which a trial finished; the same command with ``--resume``, submitted with ``ray job submit``
as docs/cluster.md shows, finishes the reproduction. Asserted: every trial ran on the workers
(the head has no CPU for them), 6 trials and 6 finished MLflow training runs, one per arm ×
seed (a trial finished in the saved state was not trained again, every other one went on from
the epoch its registered checkpoint holds to the last), a run left behind by a trial killed
before its first checkpoint is marked KILLED, and the resumed job wrote the report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.test_survival import _ray_job_submit, _wait_for
from tests.studies.report_checks import assert_report_complete
from tests.tune_state import (
    assert_not_trained_again,
    assert_went_on,
    finished,
    killed_now,
    result_rows,
    saved_trials,
)

pytestmark = pytest.mark.slow

EPOCHS = 2


def test_reproduce_runs_on_workers_and_resumes_as_ray_job(local_cluster):
    import mlflow

    from avsep.cluster import local
    from avsep.platform.search_results import load_results
    from avsep.platform.trial_history import trial_history

    state = local_cluster
    out = Path(state.storage) / "reproduce-li"
    args = ["reproduce", "li", "--out", str(out), "--seeds", "2", "--epochs", str(EPOCHS),
            "--minutes", "1", "--train-length", "8", "--val-length", "4", "--test-items", "1",
            "--mlflow-uri", state.mlflow_uri]
    experiment = out / "ray_results" / "reproduce-li-stage0"
    log = open(Path(state.storage) / "reproduce-li.log", "w")  # noqa: SIM115
    # Tune saves its experiment state every loop step, so the kill lands after a save
    driver = local.popen_in_node(state, "head", [sys.executable, "-m", "avsep.cli", *args],
                                 env={"TUNE_GLOBAL_CHECKPOINT_S": "0"}, stdout=log,
                                 stderr=subprocess.STDOUT)
    try:
        _wait_for("a trial finished in a saved experiment state",
                  lambda: finished(experiment), driver, timeout_s=540, poll_s=0.05)
        os.kill(driver.pid, signal.SIGKILL)
        killed_at = killed_now()
    finally:
        driver.kill()
        driver.wait()
        log.close()
    saved = saved_trials(experiment)  # what the resume restores: status, epochs checkpointed
    done_before = finished(experiment)
    assert done_before and len(done_before) < 6, saved  # killed with trials to go

    done = _ray_job_submit(state, ["avsep", *args, "--resume"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout + done.stderr
    assert "report:" in done.stdout
    assert_report_complete("li", out / "report" / "li")  # also li's smoke run

    after = result_rows(experiment)
    assert len(after) == 6, (sorted(after), done.stdout[-4000:])
    for trial in done_before:
        assert_not_trained_again(after[trial], killed_at, last=EPOCHS)
    for trial, rows in after.items():  # every other one went on to the last epoch
        assert_went_on(rows, killed_at, saved.get(trial, ("PENDING", 0))[1], last=EPOCHS)
    # the history avsep reads (report, champion) holds each epoch once, from the attempt that
    # went on: a killed attempt's staged rows are not its (avsep/platform/trial_history.py)
    histories = {r.metrics["trial_id"]: trial_history(r) for r in load_results(str(experiment))}
    assert {t: h["epoch"].tolist() for t, h in histories.items()} \
        == {t: list(range(1, EPOCHS + 1)) for t in after}
    assert all(h["mlflow_run_id"].nunique() == 1 for h in histories.values())
    workers = {n.address for n in state.nodes[1:]}
    ips = {r["node_ip"] for rows in after.values() for r in rows}
    assert ips <= workers, f"trials ran on {sorted(ips)}, workers are {sorted(workers)}"

    client = mlflow.MlflowClient(state.mlflow_uri)
    stage = client.get_experiment_by_name("reproduce-li-stage0")
    runs = [r for r in client.search_runs([stage.experiment_id])
            if "reproduce_seed" in r.data.tags]
    trained = [r for r in runs if r.info.status == "FINISHED"]
    assert sorted((r.data.tags["reproduce_arms"], r.data.tags["reproduce_seed"])
                  for r in trained) \
        == sorted((arm, seed) for arm in ("audio", "av", "av_nomask") for seed in ("0", "1"))
    assert {r.data.metrics["epoch"] for r in trained} == {float(EPOCHS)}
    # a trial whose last checkpoint the killed driver had not recorded started again as a new
    # run (it may have logged an epoch the checkpoint never reached): the run left behind is
    # marked KILLED by the resume, stopped short of the last epoch, and its (arm, seed) has a
    # finished run
    finished_pairs = {(r.data.tags["reproduce_arms"], r.data.tags["reproduce_seed"])
                      for r in trained}
    for run in (r for r in runs if r.info.status != "FINISHED"):
        assert run.info.status == "KILLED", run
        assert run.data.metrics.get("epoch", 0.0) < EPOCHS, run
        assert (run.data.tags["reproduce_arms"], run.data.tags["reproduce_seed"]) \
            in finished_pairs

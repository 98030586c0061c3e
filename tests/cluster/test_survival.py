"""A search survives losing its driver and losing a worker node (the local cluster).

* Driver loss: the driver is killed (SIGKILL) while the second of two trials runs; the same
  command with ``--resume``, submitted as a Ray job to the head's job API as docs/cluster.md
  shows, finishes the study: the finished trial is kept as it was, the interrupted one continues
  from its checkpoint, and the job's logs and exit code come back to ``ray job submit``.
* Preemption: a worker node is killed (every process in its namespace, by pid) while its
  trial runs; Tune retries the trial (``--max-failures``) from its last checkpoint on the other
  node, and the study completes with no trial lost or run twice.

The node-kill test is the last test of the package's shared cluster (see conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.searches import trial_rows, trial_runs, tune_command
from tests.tune_state import (
    assert_not_trained_again,
    assert_went_on,
    epochs,
    killed_now,
    saved_trials,
)

pytestmark = pytest.mark.slow


def _wait_for(what: str, ready, proc: subprocess.Popen, timeout_s: float = 420.0,
              poll_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        assert proc.poll() is None, f"the search ended (rc {proc.returncode}) before {what}"
        time.sleep(poll_s)
    raise AssertionError(f"no {what} after {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def slower_data(cluster_data) -> tuple[Path, Path]:
    """The tiny cache with 32 training items per epoch (a few seconds an epoch), so a trial is
    still running when the test kills its driver or its node."""
    cache, config = cluster_data
    slower = config.with_name("survival.yaml")
    slower.write_text(config.read_text().replace("train_length: 8", "train_length: 32"))
    return cache, slower


def _ray_job_submit(state, command: list[str]) -> subprocess.CompletedProcess:
    """``ray job submit -- COMMAND`` from this machine's namespace against the head."""
    ray = str(Path(sys.executable).parent / "ray")
    return subprocess.run([ray, "job", "submit", "--", *command], capture_output=True,
                          text=True, env={**os.environ, **state.job_env()}, timeout=600)


def test_failed_ray_job_reports_its_exit_code(local_cluster):
    done = _ray_job_submit(local_cluster, ["avsep", "tune", "--space", "no_such_space",
                                           "--data", "/nonexistent"])
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "unknown search space 'no_such_space'" in out  # the job's own log came back
    assert "failed with exit code 2" in out  # avsep's exit code, as the job API reports it


def test_driver_loss_then_resume_as_ray_job_finishes_study(local_cluster, slower_data):
    from avsep.cluster import local

    state = local_cluster
    command = tune_command(state, slower_data, "driverloss", samples=2, epochs=3,
                           concurrent=1)
    experiment = Path(state.storage) / "ray_results" / "driverloss"
    log = open(Path(state.storage) / "driverloss.log", "w")  # noqa: SIM115
    # Tune saves its experiment state (which trials finished, their last checkpoints) at most
    # every 10 s by default; every loop step here, so the kill below lands after a save
    driver = local.popen_in_node(state, "head", command, env={"TUNE_GLOBAL_CHECKPOINT_S": "0"},
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        # the first trial finished and the second reported its first epoch (with a checkpoint)
        _wait_for("a second trial's first epoch",
                  lambda: len(trial_rows(state, "driverloss")) == 2, driver, poll_s=0.1)
        # ...and Tune saved an experiment state whose checkpoint manager holds that trial's
        # checkpoint (a save newer than the result may still predate the checkpoint's
        # registration; a resume from it starts the trial over: seen once, epochs 1, 1, 2, 3)
        seen = trial_rows(state, "driverloss")
        second = next(t for t, rows in seen.items() if epochs(rows)[-1] < 3)
        first = next(t for t in seen if t != second)
        _wait_for("an experiment-state save with its checkpoint",
                  lambda: saved_trials(experiment).get(second, ("", 0))[1] >= 1, driver,
                  poll_s=0.05)
        os.kill(driver.pid, signal.SIGKILL)  # the driver dies; its trials die with it
        killed_at = killed_now()
    finally:
        driver.kill()
        driver.wait()
        log.close()
    saved = saved_trials(experiment)
    kept = saved[second][1]  # epochs the resume restores it with
    # which trial finished comes from the rows read before the kill: the kill lands right
    # after a save, while Tune copies the staged files to storage, and can leave them empty
    # there until the resume copies them again (tests/tune_state.py)
    assert saved[first][0] == "TERMINATED", saved

    resumed = [c for c in command if c != sys.executable and c not in ("-m", "avsep.cli")]
    done = _ray_job_submit(state, ["avsep", *resumed, "--resume"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 trials (0 failed)" in done.stdout  # the driver's own summary, via the job logs
    assert "succeeded" in done.stdout + done.stderr

    after = trial_rows(state, "driverloss")
    assert sorted(after) == sorted([first, second])  # no trial lost, none added
    assert_not_trained_again(after[first], killed_at, last=3)
    # continued from its registered checkpoint to the last epoch
    assert_went_on(after[second], killed_at, kept, last=3)
    assert len({r["pid"] for r in after[second]}) == 2  # in a new process
    runs = trial_runs(state, "driverloss")
    assert len(runs) == 2 and {r.data.metrics["epoch"] for r in runs} == {3.0}


def test_preempted_worker_node_trial_resumes_on_other_node(local_cluster, slower_data):
    from avsep.cluster import local

    state = local_cluster
    command = tune_command(state, slower_data, "preempt", samples=2, epochs=3, concurrent=2)
    log = open(Path(state.storage) / "preempt.log", "w")  # noqa: SIM115
    # results reach the storage folder when Tune syncs its state: every step, so the kill
    # lands while the trial still has epochs to run
    driver = local.popen_in_node(state, "head", command, env={"TUNE_GLOBAL_CHECKPOINT_S": "0"},
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        first = _wait_for("a trial's first epoch", lambda: next(
            (rows for rows in trial_rows(state, "preempt").values() if rows), None), driver)
        victim = next(n for n in state.nodes if n.address == first[-1]["node_ip"])
        assert victim is not state.head
        killed = local.kill_node(state, victim.name)
        assert int(first[-1]["epoch"]) < 3, "the trial finished before its node was killed"
        code = driver.wait(timeout=600)
    finally:
        driver.kill()
        driver.wait()
        log.close()
    assert killed
    assert code == 0
    survivor = next(n.address for n in state.nodes[1:] if n is not victim)
    # Ray marks a node dead after its health checks time out (tens of seconds); on a quiet
    # machine the study can finish before that, so wait for the head to report it
    deadline = time.monotonic() + 120
    while victim.address in local.alive_nodes(state) and time.monotonic() < deadline:
        time.sleep(2)
    assert victim.address not in local.alive_nodes(state)

    rows = trial_rows(state, "preempt")
    assert len(rows) == 2
    for trial_rows_ in rows.values():
        reported = epochs(trial_rows_)
        assert reported == sorted(set(reported)) and reported[-1] == 3  # complete, none twice
    hit = first[0]["trial_id"]
    moved = [r for r in rows[hit] if r["node_ip"] == survivor]
    assert moved and int(moved[0]["epoch"]) > 1  # resumed from its checkpoint, not epoch 1
    assert {r["node_ip"] for r in rows[hit]} == {victim.address, survivor}
    other = next(t for t in rows if t != hit)
    assert {r["node_ip"] for r in rows[other]} == {survivor}
    assert epochs(rows[other]) == [1, 2, 3]
    runs = trial_runs(state, "preempt")  # one MLflow run per trial, continued after the move
    assert len(runs) == 2 and {r.data.metrics["epoch"] for r in runs} == {3.0}

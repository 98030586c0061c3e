"""A tracking-server outage loses nothing: a real ``mlflow server`` stopped and restarted
mid-search.

A tiny ``av_singing`` search (2 trials, 3 epochs) logs to a real ``mlflow server`` subprocess
on 127.0.0.1 (sqlite backend, proxied artifacts). A watcher thread reads the server's sqlite
file directly; once the first epoch's metric is there, it kills the server's process group,
waits, and starts the server again on the same port and store. The search must finish with 0
failed trials, and every epoch's metric of every trial must be in the store in step order,
with the runs' params, artifacts and final status. MLflow's own request retries are switched
off for the test, so the records cross the outage through avsep's spool alone.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_S = 12.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(folder: Path, port: int) -> subprocess.Popen:
    """A real ``mlflow server`` in its own process group (killed with :func:`stop_server`);
    returns once ``/health`` answers."""
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    log = open(folder / "server.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"),
         "--allowed-hosts", f"127.0.0.1:{port},127.0.0.1,localhost:{port}", "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(folder / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError("mlflow server did not answer /health within 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    """Kill the server's process group (the one this test started) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def spooled_while_away(spools: Path) -> bool:
    """Whether some run's spool holds a record the server has not accepted (read-only: the
    trials own the files)."""
    for folder in spools.glob("*"):
        try:
            lines = (folder / "ops.jsonl").read_text().count("\n")
            done = int((folder / "delivered").read_text()) if (folder / "delivered").exists() \
                else -1
        except (OSError, ValueError):
            continue
        if lines > done + 1:
            return True
    return False


def first_metric_logged(db: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("select count(*) from metrics where key = 'val/loss'"
                               ).fetchone()[0] > 0
    except sqlite3.Error:
        return False


@pytest.mark.slow
def test_search_survives_a_tracking_server_restart(tmp_path, monkeypatch):
    import ray

    from avsep.platform.tune import SearchOptions, prepare, run
    from avsep.tracking.spool import Spool
    from tests.platform.conftest import write_tiny_cache

    folder = tmp_path / "server"
    folder.mkdir()
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = {"proc": start_server(folder, port)}
    events: list[str] = []

    def outage() -> None:
        deadline = time.monotonic() + 600
        while not first_metric_logged(folder / "mlflow.db"):
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)
        stop_server(server["proc"])
        events.append("stopped")
        time.sleep(OUTAGE_S)
        # stay away until a trial has spooled a record it could not send (at most one more
        # epoch), so the outage is crossed by the spool, not by falling between two epochs
        spools = tmp_path / "results" / "av_singing" / "mlflow-spool"
        deadline = time.monotonic() + 300
        while not spooled_while_away(spools) and time.monotonic() < deadline:
            time.sleep(0.2)
        if spooled_while_away(spools):
            events.append("spooled")
        server["proc"] = start_server(folder, port)
        events.append("restarted")

    config = tmp_path / "base.yaml"
    config.write_text("data: {train_length: 8, val_length: 4}\neval: {examples: 1}\n")
    options = SearchOptions(space="av_singing", data=str(write_tiny_cache(tmp_path / "cache")),
                            num_samples=2, max_epochs=3, storage=str(tmp_path / "results"),
                            config=str(config), check_samples=2, mlflow_uri=uri,
                            max_concurrent=2, finalists=0, paper_points="none",
                            grace_period=3)  # no ASHA stop: every trial runs 3 epochs
    monkeypatch.setenv("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # MLflow's own retries (7, with back-off up to ~4 min a request) are off in the trials
    # (Ray's workers inherit this environment), so what carries the outage is avsep's spool
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    watcher = threading.Thread(target=outage, daemon=True)
    try:
        plan = prepare(options)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        watcher.start()
        outcome = run(plan)
        watcher.join(timeout=180)
        # the outage happened during the search, and records waited in a spool
        assert events == ["stopped", "spooled", "restarted"]
        assert outcome.trials == 2 and outcome.failed == 0

        client = mlflow.MlflowClient(uri)
        experiment = client.get_experiment_by_name(plan.name)
        runs = client.search_runs([experiment.experiment_id])
        trials = [r for r in runs if r.data.tags.get("kind") != "study"]
        study = [r for r in runs if r.data.tags.get("kind") == "study"]
        assert len(trials) == 2 and len(study) == 1
        for r in trials:
            for key in ("val/loss", "train/loss", "val/sdr", "epoch"):
                history = client.get_metric_history(r.info.run_id, key)
                assert [m.step for m in history] == [1, 2, 3]  # every epoch, once, in order
            epochs = client.get_metric_history(r.info.run_id, "epoch")
            assert [m.value for m in epochs] == [1.0, 2.0, 3.0]
            assert {"lr", "batch_size", "model.name"} <= set(r.data.params)
            assert r.info.status == "FINISHED"
            names = {a.path for a in client.list_artifacts(r.info.run_id)}
            assert {"model", "config"} <= names
        parent = study[0]
        assert parent.info.status == "FINISHED"
        assert client.get_metric_history(parent.info.run_id, "failed_trials")[-1].value == 0
        assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"report"}
        # each run's records went through its spool on the search's storage, all delivered
        spools = {p.name: Spool(p) for p in (Path(plan.experiment_path) / "mlflow-spool"
                                             ).iterdir()}
        assert set(spools) == {r.info.run_id for r in runs}
        assert all(s.delivered >= 0 and not s.pending() for s in spools.values())
        assert all(not (s.folder / "files").exists() or not any((s.folder / "files").iterdir())
                   for s in spools.values())
    finally:
        ray.shutdown()
        watcher.join(timeout=60)
        stop_server(server["proc"])

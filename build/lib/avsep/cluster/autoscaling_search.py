"""A GPU search on Ray's fake autoscaling cluster: scale-up from 0 GPU workers, scale-down after.

:func:`run` starts a :class:`~avsep.cluster.fake_autoscaler.FakeCluster` (cluster.yaml's node
types, no GPU worker at the start), records the alive nodes per type every ``interval_s``
(a watcher driver in the cluster's namespace: ``ray.nodes()`` and the autoscaler's status
report), runs ``avsep tune --gpus-per-trial 1`` as a driver on the head, waits until the
autoscaler has removed every idle GPU worker, maps each trial (Tune's ``pid``) to the node
type it ran on, and tears the cluster down. It returns the figures and the raw snapshots.

The fake GPUs are Ray resources only: each trial holds one, and trains on the CPU because
CUDA is absent (``avsep.platform.session.Session.device``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from avsep.cluster.fake_autoscaler import (
    HEAD_TYPE,
    FakeCluster,
    peak_overlap,
    read_watch,
    summarize,
)


def tiny_cache(root: Path) -> Path:
    """The tiny ``av_singing`` cache the platform tests use (3 s clips, tiny preset's rate)."""
    from avsep.data.datasets.synthetic_cache import make_tiny_singing_cache

    return make_tiny_singing_cache(root)


def gpu_worker_type(cluster: FakeCluster) -> str:
    """The (first) worker type of the config that has GPUs."""
    for name, spec in cluster.config["available_node_types"].items():
        if name != HEAD_TYPE and spec["resources"].get("GPU", 0) > 0:
            return name
    raise ValueError("cluster.yaml has no worker type with GPUs (available_node_types.*.resources"
                     " GPU, or a GPU InstanceType); the autoscaling demo needs one")


def _wait_for(cluster_watch: Path, test, timeout_s: float, poll_s: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows, _ = read_watch(cluster_watch) if cluster_watch.exists() else ([], {})
        if rows and test(rows):
            return True
        time.sleep(poll_s)
    return False


def trial_results(experiment: Path) -> list[dict[str, Any]]:
    """The last Tune result of every trial of the search folder ``experiment`` (its ``pid``,
    ``timestamp``, metrics)."""
    last = []
    for result in sorted(experiment.glob("*/result.json")):
        lines = [json.loads(x) for x in result.read_text().splitlines() if x.strip()]
        if lines:
            last.append(lines[-1])
    return last


def _all_gone(row: dict[str, Any], gpu_type: str, after: float) -> bool:
    """Whether watcher ``row``, taken after ``after``, shows no live ``gpu_type`` node and the
    autoscaler's own status lists none active (its report can lag the node table by an update)."""
    reported = (row.get("autoscaler") or {}).get("active", {}).get(gpu_type, 0)
    return row["t"] > after and row["alive"].get(gpu_type, 0) == 0 and reported == 0


def run(cluster: FakeCluster, data: Path, num_samples: int = 2, max_epochs: int = 1,
        name: str = "autoscale", max_concurrent: int | None = None, interval_s: float = 0.5,
        search_timeout_s: float = 900.0) -> dict[str, Any]:
    """Start ``cluster``, run a ``num_samples``-trial GPU search on it, wait for the scale-down,
    stop the cluster. ``max_concurrent``: the search's ``--max-concurrent`` (None: avsep's
    default). Returns ``figures`` (see :func:`avsep.cluster.fake_autoscaler.summarize`, plus
    the search's exit code and seconds, trials per node type and the most trials running at
    once), ``snapshots`` (the watcher's rows) and ``config`` (the fake autoscaling config)."""
    concurrent = ["--max-concurrent", str(max_concurrent)] if max_concurrent else []
    state = Path(cluster.state.state_dir)
    watch = state / "nodes.jsonl"
    gpu_type = gpu_worker_type(cluster)
    idle_s = cluster.config["idle_timeout_minutes"] * 60.0
    storage = Path(cluster.state.storage)
    t0 = time.time()
    cluster.up()
    up_s = time.time() - t0
    watcher = None
    try:
        watcher = cluster.watch(watch, interval_s)
        if not _wait_for(watch, lambda rows: len(rows) >= 2, 120.0):
            raise RuntimeError(f"the node watcher wrote nothing; see "
                               f"{Path(cluster.head.folder) / 'watch.log'}")
        start = time.time()
        code = cluster.run([
            sys.executable, "-m", "avsep.cli", "tune", "--space", "av_singing",
            "--data", str(data), "--num-samples", str(num_samples),
            "--max-epochs", str(max_epochs), "--gpus-per-trial", "1", "--finalists", "0",
            "--name", name, "--storage", str(storage / "ray_results"),
            "--mlflow-uri", f"sqlite:///{storage / 'mlflow.db'}", *concurrent],
            timeout_s=search_timeout_s, log=state / "search.log")
        end = time.time()
        scaled_down = _wait_for(watch, lambda rows: _all_gone(rows[-1], gpu_type, end),
                                idle_s + 120.0)
        results = trial_results(storage / "ray_results" / name)
        pids = [int(r["pid"]) for r in results]
        watch.with_suffix(".pids").write_text(" ".join(map(str, pids)))
        FakeCluster.stop_watch(watcher)
    finally:
        if watcher is not None:
            FakeCluster.stop_watch(watcher, timeout_s=5.0)
        cluster.down()
    rows, trial_nodes = read_watch(watch)
    per_type: dict[str, int] = {}
    for kind in trial_nodes.values():
        per_type[kind] = per_type.get(kind, 0) + 1
    figures = {"search_exit_code": code, "cluster_up_s": up_s, "search_s": end - start,
               "trials": len(pids), "trials_per_node_type": per_type,
               "max_concurrent": max_concurrent,
               "peak_trials_running": peak_overlap(
                   [(float(r["timestamp"]) - float(r["time_total_s"]), float(r["timestamp"]))
                    for r in results]),
               "idle_timeout_s": idle_s, "scaled_down_within_wait": scaled_down,
               **summarize(rows, gpu_type, start, end,
                           max((float(r["timestamp"]) for r in results), default=None))}
    return {"figures": figures, "snapshots": rows, "config": cluster.config,
            "gpu_type": gpu_type, "search_log": str(state / "search.log")}

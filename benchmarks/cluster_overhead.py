"""Cluster overhead: the same tiny search on a single-node local Ray (2 CPUs) and on the local
multi-node cluster (head + two 1-CPU workers, ``avsep cluster local``), interleaved.

Each repetition runs ``avsep tune`` twice with the same arguments (``--trials`` tiny
``av_singing`` trials of ``--epochs`` epochs, 2 at a time, ASHA's grace period = the whole run so
every trial runs every epoch, same seed, so both runs sample the same configurations):

* ``single``: ``avsep tune --address local --num-cpus 2`` in this machine's namespace, MLflow in
  a sqlite file;
* ``cluster``: the driver in the head's namespace (``local.run_in_node``), trials on the two
  1-CPU worker nodes, MLflow on the head's server (HTTP), results on the shared folder.

Both use 2 CPUs for trials, so throughput per CPU compares as throughput does. Figures per
run, from the trials' own Tune results (``result.json``):

* ``trial_epochs``: epochs reported over all trials;
* ``trials_seconds``: from the first trial's start to the last trial's last report (the
  driver's start-up, pre-flight checks and final report are outside this window);
* ``seconds_per_trial_epoch`` = trials_seconds * 2 / trial_epochs (CPU-seconds per trial-epoch
  with 2 CPUs; also the mean ``time_this_iter_s``);
* ``trial_epochs_per_minute`` = trial_epochs / trials_seconds * 60;
* ``command_seconds``: the whole ``avsep tune`` command, start to exit.

``ratio`` = cluster / single trial-epochs per minute (medians over repetitions); the goal is
>= 0.8. The machine is shared: read the load average printed beside the figures.

    python benchmarks/cluster_overhead.py [--trials 4] [--epochs 2] [--repeats 2]
        [--name avbn --subnet 10.231.79]   # root: it starts (and stops) its own cluster
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

from avsep.cluster import local  # noqa: E402

TINY_CONFIG = ("data: {train_length: 8, val_length: 4}\ntrain: {batch_size: 4}\n"
               "eval: {examples: 1}\n")


def write_data(root: Path) -> tuple[Path, Path]:
    """A tiny ``av_singing`` cache (the platform tests' one) and the base config."""
    from avsep.data.datasets.synthetic_cache import make_demo_cache
    from avsep.models import build

    spec = build({"name": "av_mmdensenet", "preset": "tiny"}).spec
    cache = make_demo_cache(root / "cache", sample_rate=spec.stft.sample_rate,
                            crop=tuple(spec.crop), fps=spec.fps,
                            video_channels=spec.video_channels, seconds=3.0,
                            singers={"train": 2, "val": 1, "test": 1},
                            instruments=("violin", "flute"), solos=1, ensembles=0)
    config = root / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    return cache, config


def tune_args(data: tuple[Path, Path], name: str, storage: Path, mlflow_uri: str,
              trials: int, epochs: int) -> list[str]:
    cache, config = data
    return [sys.executable, "-m", "avsep.cli", "tune", "--space", "av_singing",
            "--data", str(cache), "--config", str(config), "--num-samples", str(trials),
            "--max-epochs", str(epochs), "--grace-period", str(epochs), "--name", name,
            "--max-concurrent", "2", "--finalists", "1", "--seed", "0",
            "--storage", str(storage), "--mlflow-uri", mlflow_uri]


def figures(experiment: Path, command_seconds: float) -> dict[str, Any]:
    """Throughput of one search from its trials' ``result.json`` rows."""
    rows = []
    for path in experiment.glob("*/result.json"):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise RuntimeError(f"{experiment}: no trial reported; see the search's log")
    starts = [r["timestamp"] - r["time_total_s"] for r in rows]
    seconds = max(r["timestamp"] for r in rows) - min(starts)
    epochs = len(rows)
    return {"trial_epochs": epochs, "trials_seconds": round(seconds, 2),
            "seconds_per_trial_epoch": round(seconds * 2 / epochs, 2),
            "mean_time_this_iter_s": round(statistics.mean(r["time_this_iter_s"]
                                                           for r in rows), 2),
            "trial_epochs_per_minute": round(epochs / seconds * 60, 2),
            "command_seconds": round(command_seconds, 1),
            "nodes": sorted({r["node_ip"] for r in rows}),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def run_single(data, root: Path, name: str, trials: int, epochs: int) -> dict[str, Any]:
    storage = root / "single"
    command = tune_args(data, name, storage, f"sqlite:///{root / 'single-mlflow.db'}", trials,
                        epochs) + ["--address", "local", "--num-cpus", "2"]
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",
                                                            "MLFLOW_TRACKING_URI")}
    start = time.perf_counter()
    with open(root / f"{name}.log", "w") as log:
        code = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"single-node search failed ({code}); log {root / name}.log")
    return figures(storage / name, time.perf_counter() - start)


def run_cluster(state: local.ClusterState, data, name: str, trials: int, epochs: int
                ) -> dict[str, Any]:
    storage = Path(state.storage) / "ray_results"
    command = tune_args(data, name, storage, state.mlflow_uri, trials, epochs)
    start = time.perf_counter()
    with open(Path(state.storage) / f"{name}.log", "w") as log:
        proc = local.popen_in_node(state, "head", command, stdout=log, stderr=subprocess.STDOUT)
        code = proc.wait()
    if code != 0:
        raise RuntimeError(f"cluster search failed ({code}); log {state.storage}/{name}.log")
    return figures(storage / name, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--name", default="avbn", help="cluster name (1-6 alnum)")
    parser.add_argument("--subnet", default="10.231.79", help="the cluster's private /24")
    parser.add_argument("--out", default="cluster_overhead", help="results/<out>.json")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="avsep-cluster-overhead-"))
    state = local.plan(args.name, 2, args.subnet, root / "shared", root / "state")
    started = time.perf_counter()
    local.up(state)
    up_seconds = time.perf_counter() - started
    runs: dict[str, list[dict[str, Any]]] = {"single": [], "cluster": []}
    try:
        data = write_data(Path(state.storage))
        for rep in range(args.repeats):  # interleaved: both modes see the same load
            for mode in ("single", "cluster"):
                name = f"bench-{mode}-{rep}"
                result = run_single(data, root, name, args.trials, args.epochs) \
                    if mode == "single" else run_cluster(state, data, name, args.trials,
                                                          args.epochs)
                runs[mode].append(result)
                print(f"{mode:7s} rep {rep}: {json.dumps(result)}", flush=True)
    finally:
        local.down(state)

    def median(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    summary = {mode: {key: median(mode, key) for key in
                      ("trial_epochs_per_minute", "seconds_per_trial_epoch",
                       "mean_time_this_iter_s", "command_seconds")} for mode in runs}
    ratio = summary["cluster"]["trial_epochs_per_minute"] / \
        summary["single"]["trial_epochs_per_minute"]
    out = {"trials": args.trials, "epochs": args.epochs, "repeats": args.repeats,
           "cpus_for_trials": {"single": 2, "cluster": "2 workers x 1"},
           "cluster_up_seconds": round(up_seconds, 1), "runs": runs, "median": summary,
           "ratio_cluster_to_single": round(ratio, 3), "goal": 0.8, "met": ratio >= 0.8}
    print(json.dumps({"median": summary, "ratio_cluster_to_single": out[
        "ratio_cluster_to_single"], "met": out["met"]}, indent=2))
    save(args.out, out)


if __name__ == "__main__":
    main()

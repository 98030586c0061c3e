"""Search efficiency: ASHA + Optuna against an exhaustive grid, and the Ray + MLflow overhead.

A discrete sub-space of ``av_singing`` (modality x mask layer x learning rate = 12
configurations) is small enough to run exhaustively on the synthetic cache:

1. **grid** — every configuration for ``--epochs`` epochs with the *bare* training loop (the
   same ``train_loop_per_worker``, no Ray, no MLflow); its best validation SI-SDR is the target.
2. **search** — ``avsep tune``'s driver (Ray Tune, OptunaSearch TPE with the paper points
   enqueued, ASHA, MLflow logging, checkpoints, champion registration) on the same sub-space
   with ``--num-samples`` trials.

Figures: the trial-epochs the search needed until its best-so-far came within 0.5 dB of the
grid's best (trials in completion order), against the grid's total trial-epochs (goal: at most
a third); and seconds per trial-epoch of the search against the bare loop (the overhead of
Ray + MLflow + checkpoints per trial). Prints and saves JSON via ``benchmarks/_common.save``.

    python benchmarks/search_efficiency.py [--cache DIR] [--epochs 4] [--num-samples 8]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

from avsep.search_spaces import SPACES  # noqa: E402
from avsep.search_spaces.base import SearchSpace, experiment  # noqa: E402
from avsep.search_spaces.dims import Categorical, TrialLike  # noqa: E402

MODALITY = Categorical("modality", ("audio", "audio_visual"), "audio-only or AV MMDenseNet")
MASK_LAYER = Categorical("mask_layer", (True, False), "sigmoid mask layer")
LR = Categorical("lr", (3e-4, 1e-3, 3e-3), "Adam learning rate")
TARGET_DB = 0.5


def grid_space(trial: TrialLike) -> dict[str, Any]:
    """The discrete sub-space (12 points); batch size and v+ share fixed."""
    modality = MODALITY.suggest(trial)
    model: dict[str, Any] = {"name": "mmdensenet" if modality == "audio" else "av_mmdensenet",
                             "mask_layer": MASK_LAYER.suggest(trial)}
    return experiment(model, {"extra_vocal_share": 0.5},
                      {"lr": LR.suggest(trial), "batch_size": 8})


SPACE = SearchSpace(name="bench_grid", description="12-point av_singing sub-space",
                    task="separation", function=grid_space,
                    dimensions=(MODALITY, MASK_LAYER, LR),
                    points_to_evaluate=({"modality": "audio_visual", "mask_layer": True,
                                         "lr": 1e-3},))


TRAIN_LENGTH = 256  # default training mixtures per epoch: enough that configurations differ


def _base(cache: Path, epochs: int, train_length: int) -> dict[str, Any]:
    return {"model": {"preset": "tiny"}, "data": {"cache": str(cache),
                                                  "train_length": train_length,
                                                  "val_length": 16},
            "train": {"epochs": epochs, "patience": epochs}, "eval": {"examples": 0}}


def run_grid(cache: Path, epochs: int, train_length: int, work: Path) -> list[dict[str, Any]]:
    """Every grid point with the bare loop; returns params, best val/sdr, seconds."""
    import optuna
    import torch

    from avsep.config import merge, validate
    from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker

    rows = []
    points = list(itertools.product(MODALITY.choices, MASK_LAYER.choices, LR.choices))
    for i, (modality, mask_layer, lr) in enumerate(points):
        params = {"modality": modality, "mask_layer": mask_layer, "lr": lr}
        cfg = validate(merge(_base(cache, epochs, train_length),
                             grid_space(optuna.trial.FixedTrial(params))["experiment"]))
        root = work / f"grid{i}"
        start = time.perf_counter()
        train_loop_per_worker(make_config(cfg, RunContext(local_root=str(root))))
        seconds = time.perf_counter() - start
        state = torch.load(root / "checkpoint" / "state.pt", weights_only=True)["state"]
        best = max(h["val/sdr"] for h in state["history"])
        rows.append({**params, "best_sdr": best, "seconds": seconds, "epochs": epochs})
        print(f"grid {i + 1}/{len(points)} {params}: best val/sdr {best:.2f} dB "
              f"in {seconds:.1f} s", flush=True)
    return rows


def run_search(cache: Path, epochs: int, train_length: int, samples: int,
               work: Path) -> dict[str, Any]:
    """The driver on the sub-space; returns per-trial (completion order) epochs and SDR."""
    from avsep.platform.tune import SearchOptions, prepare, run

    SPACES[SPACE.name] = SPACE
    config = work / "base.yaml"
    import yaml

    base = _base(cache, epochs, train_length)
    config.write_text(yaml.safe_dump({k: v for k, v in base.items() if k != "model"}))
    plan = prepare(SearchOptions(space=SPACE.name, data=str(cache), num_samples=samples,
                                 max_epochs=epochs, storage=str(work / "results"),
                                 mlflow_uri=f"sqlite:///{work / 'mlflow.db'}",
                                 config=str(config), check_samples=2, max_concurrent=2))
    start = time.perf_counter()
    outcome = run(plan)
    seconds = time.perf_counter() - start
    from avsep.platform.tune import load_results

    results = load_results(plan.experiment_path)
    trials = []
    for result in results:
        history = result.metrics_dataframe
        trials.append({"end": float(history["timestamp"].max()),
                       "epochs": int(history["training_iteration"].max()),
                       "best_sdr": float(history["val/sdr"].max())})
    trials.sort(key=lambda t: t["end"])
    return {"trials": trials, "seconds": seconds, "failed": outcome.failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help="prepared cache at the tiny MMDenseNet's rate (default: generate)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--num-samples", type=int, default=8)
    parser.add_argument("--train-length", type=int, default=TRAIN_LENGTH,
                        help="training mixtures per epoch (enough that configurations differ)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    work = Path(tempfile.mkdtemp(prefix="avsep-bench-"))
    cache = args.cache
    if cache is None:
        from avsep.data.datasets.synthetic_cache import make_demo_cache
        from avsep.models import build

        spec = build({"name": "av_mmdensenet", "preset": "tiny"}).spec
        cache = make_demo_cache(work / "cache", sample_rate=spec.stft.sample_rate,
                                crop=tuple(spec.crop), fps=spec.fps, seconds=6.0,
                                singers={"train": 4, "val": 2, "test": 1}, instruments=())
    grid = run_grid(cache, args.epochs, args.train_length, work)
    target = max(r["best_sdr"] for r in grid)
    grid_epochs = sum(r["epochs"] for r in grid)
    grid_seconds = sum(r["seconds"] for r in grid)
    search = run_search(cache, args.epochs, args.train_length, args.num_samples, work)
    used, reached_at, best_so_far = 0, None, float("-inf")
    for trial in search["trials"]:
        used += trial["epochs"]
        best_so_far = max(best_so_far, trial["best_sdr"])
        if reached_at is None and best_so_far >= target - TARGET_DB:
            reached_at = used
    search_epochs = sum(t["epochs"] for t in search["trials"])
    figures = {
        "subspace_points": len(grid), "epochs_per_trial": args.epochs,
        "train_items_per_epoch": args.train_length, "cache": str(cache),
        "grid_best_sdr_db": target, "grid_trial_epochs": grid_epochs,
        "search_trials": len(search["trials"]), "search_failed_trials": search["failed"],
        "search_best_sdr_db": best_so_far, "search_trial_epochs_total": search_epochs,
        "trial_epochs_to_within_0.5dB": reached_at,
        "fraction_of_grid": None if reached_at is None else reached_at / grid_epochs,
        "goal_met_(<=1/3)": reached_at is not None and reached_at <= grid_epochs / 3,
        "bare_loop_s_per_trial_epoch": grid_seconds / grid_epochs,
        "search_s_per_trial_epoch_wall": search["seconds"] / max(search_epochs, 1),
        "search_wall_s": search["seconds"], "grid_wall_s": grid_seconds,
        "note": "search runs 2 trials at once on 2 CPUs; the grid runs one at a time",
        "grid": grid, "search_trials_in_completion_order": search["trials"],
    }
    for key, value in figures.items():
        if not isinstance(value, list):
            print(f"{key:34} {value}")
    save("search_efficiency", figures)


if __name__ == "__main__":
    main()

"""Search efficiency: anytime curves of grid, random + ASHA and TPE + ASHA over five seeds.

A discrete sub-space of ``av_singing`` (modality x mask layer x learning rate = 12
configurations) is small enough to train exhaustively on the synthetic cache:

1. **table** — every configuration is trained once for ``--epochs`` epochs with the bare
   training loop (``train_loop_per_worker``: no Ray, no MLflow) and its validation SI-SDR is
   recorded after every epoch, on a validation set of ``--val-length`` items (default 192: the
   size at which one trained model re-scored on a differently seeded validation set moves by
   < 0.3 dB, ``benchmarks/val_spread.py``; ``--check-spread`` measures it again on the best
   configuration). The grid's best is the target.
2. **replay** — each searcher runs ``--seeds`` times (seeds 0..4) against that table, as a
   tabular benchmark does: a trial of configuration c that runs e epochs "sees" the first e
   epochs of c's recorded curve and costs e trial-epochs. The searchers are avsep's own: the
   Optuna sampler of ``avsep.platform.searcher.make_sampler`` (``tpe``: multivariate, grouped,
   constant liar, start-up trials scaled to the budget; ``random``), told each trial's *best*
   epoch as ``BestEpochOptunaSearch`` does, with ASHA's stopping rule (one trial at a time:
   a trial stops at rung r = grace * rf^k unless its value there is in the top 1/rf of the
   values recorded at r). ``grid`` visits the 12 points in a seeded random order, full length.
   BOHB is not measured: Ray's ``TuneBOHB`` cannot take define-by-run spaces (docs/search.md).

Anytime curve: best-so-far validation SI-SDR (at each trial's best epoch) against cumulative
trial-epochs; the median over seeds is compared with the goal: within 0.5 dB of the grid's best
with at most a third of the grid's trial-epochs. The table is trained once, so training noise
between repeated runs of one configuration is not in the replay (say so with the figure).

Prints, saves ``benchmarks/results/search_efficiency.json`` and draws
``docs/search_efficiency.png``. ``--table FILE`` replays a saved table (the JSON's ``table``)
without training.

    python benchmarks/search_efficiency.py [--cache DIR] [--epochs 4] [--trials 12]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

from avsep.search_spaces.base import experiment  # noqa: E402
from avsep.search_spaces.dims import Categorical, TrialLike  # noqa: E402

MODALITY = Categorical("modality", ("audio", "audio_visual"), "audio-only or AV MMDenseNet")
MASK_LAYER = Categorical("mask_layer", (True, False), "sigmoid mask layer")
LR = Categorical("lr", (3e-4, 1e-3, 3e-3), "Adam learning rate")
DIMS = (MODALITY, MASK_LAYER, LR)
TARGET_DB = 0.5
TRAIN_LENGTH = 256  # training mixtures per epoch: enough that configurations differ
PNG = Path(__file__).resolve().parents[1] / "docs" / "search_efficiency.png"


def grid_space(trial: TrialLike) -> dict[str, Any]:
    """The discrete sub-space (12 points); batch size and v+ share fixed."""
    modality = MODALITY.suggest(trial)
    model: dict[str, Any] = {"name": "mmdensenet" if modality == "audio" else "av_mmdensenet",
                             "mask_layer": MASK_LAYER.suggest(trial)}
    return experiment(model, {"extra_vocal_share": 0.5},
                      {"lr": LR.suggest(trial), "batch_size": 8})


def key(params: dict[str, Any]) -> str:
    return json.dumps([params[d.name] for d in DIMS])


# --------------------------------------------------------------------------- the table
def train_table(cache: Path, epochs: int, train_length: int, val_length: int, work: Path
                ) -> dict[str, dict[str, Any]]:
    """Every grid point trained with the bare loop: params, val/sdr per epoch, seconds."""
    import optuna
    import torch

    from avsep.config import merge, validate
    from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker

    base = {"model": {"preset": "tiny"},
            "data": {"cache": str(cache), "train_length": train_length,
                     "val_length": val_length},
            "train": {"epochs": epochs, "patience": epochs}, "eval": {"examples": 0}}
    table = {}
    points = list(itertools.product(*(d.choices for d in DIMS)))
    for i, values in enumerate(points):
        params = dict(zip((d.name for d in DIMS), values, strict=True))
        cfg = validate(merge(base, grid_space(optuna.trial.FixedTrial(params))["experiment"]))
        root = work / f"grid{i}"
        start = time.perf_counter()
        train_loop_per_worker(make_config(cfg, RunContext(local_root=str(root))))
        seconds = time.perf_counter() - start
        state = torch.load(root / "checkpoint" / "state.pt", weights_only=True)["state"]
        curve = [float(h["val/sdr"]) for h in state["history"]]
        table[key(params)] = {"params": params, "curve": curve, "seconds": seconds,
                              "root": str(root)}
        print(f"table {i + 1}/{len(points)} {params}: val/sdr per epoch "
              f"{[round(v, 2) for v in curve]} in {seconds:.1f} s", flush=True)
    return table


def check_spread(entry: dict[str, Any], cache: Path, val_length: int, seeds: int = 3
                 ) -> dict[str, Any]:
    """Re-score the table's best model (its final weights) on ``seeds`` fresh validation
    seeds of ``val_length`` items: per-seed val/sdr and the largest pairwise difference."""
    import optuna
    import torch
    from torch.utils.data import DataLoader

    from avsep.config import merge, validate
    from avsep.models import build
    from avsep.platform import checkpoint as ckpt
    from avsep.platform.data import build_dataset
    from avsep.platform.validation import validate as run_validation

    cfg = validate(merge({"model": {"preset": "tiny"},
                          "data": {"cache": str(cache), "val_length": val_length}},
                         grid_space(optuna.trial.FixedTrial(entry["params"]))["experiment"]))
    model = build(cfg.model.build_dict())
    ckpt.load(Path(entry["root"]) / "checkpoint", model, None)
    values = []
    for seed in range(1, seeds + 1):
        loader = DataLoader(build_dataset(cfg, model, "val", seed=seed),
                            batch_size=cfg.train.batch_size)
        values.append(run_validation(model, loader, torch.device("cpu"),
                                     cfg.eval.wiener_iterations)["val/sdr"])
    diffs = [abs(a - b) for a, b in itertools.combinations(values, 2)]
    return {"val_length": val_length, "per_seed_db": values, "pair_max_abs_db": max(diffs)}


# --------------------------------------------------------------------------- the replay
def asha_rungs(epochs: int, grace: int, rf: int) -> list[int]:
    """ASHA milestones below ``epochs``: grace, grace*rf, ..."""
    rungs, r = [], grace
    while r < epochs:
        rungs.append(r)
        r *= rf
    return rungs


def replay(sampler_name: str | None, table: dict[str, dict[str, Any]], trials: int, epochs: int,
           seed: int, grace: int = 1, rf: int = 2) -> list[tuple[int, float]]:
    """One search against ``table``: ``sampler_name`` (tpe | random) with ASHA, or ``None``
    for the grid in a seeded random order. Returns the anytime curve as (cumulative
    trial-epochs, best-so-far val/sdr) after each trial."""
    import random

    import numpy as np
    import optuna

    from avsep.platform.searcher import make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    curve, used, best = [], 0, float("-inf")
    if sampler_name is None:
        order = list(table.values())
        random.Random(seed).shuffle(order)
        for entry in order:
            used += epochs
            best = max(best, max(entry["curve"][:epochs]))
            curve.append((used, best))
        return curve
    study = optuna.create_study(direction="maximize",
                                sampler=make_sampler(sampler_name, seed, trials))
    recorded: dict[int, list[float]] = {r: [] for r in asha_rungs(epochs, grace, rf)}
    for _ in range(trials):
        trial = study.ask()
        grid_space(trial)
        history = table[key(trial.params)]["curve"][:epochs]
        ran = epochs
        for rung, values in recorded.items():
            value = history[rung - 1]  # what ASHA compares: the metric reported at the rung
            values.append(value)
            if value < float(np.nanpercentile(values, (1 - 1 / rf) * 100)):  # Ray's cutoff
                ran = rung
                break
        seen = max(history[:ran])  # the best epoch the trial ran: what Optuna is told
        study.tell(trial, seen)
        used += ran
        best = max(best, seen)
        curve.append((used, best))
    return curve


def reached(curve: list[tuple[int, float]], target: float) -> int | None:
    """Trial-epochs at which the best-so-far first came within TARGET_DB of ``target``."""
    return next((used for used, best in curve if best >= target - TARGET_DB), None)


def median_curve(curves: list[list[tuple[int, float]]], budget: int) -> list[tuple[int, float]]:
    """Median over seeds of best-so-far at every trial-epoch 1..``budget`` (NaN before the
    first trial ends)."""
    out = []
    for t in range(1, budget + 1):
        values = [max((b for u, b in c if u <= t), default=float("nan")) for c in curves]
        finite = [v for v in values if v == v]
        out.append((t, statistics.median(finite) if len(finite) == len(values) else
                    float("nan")))
    return out


def draw(curves: dict[str, list[list[tuple[int, float]]]], target: float, grid_epochs: int,
         out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, runs in curves.items():
        med = median_curve(runs, grid_epochs)
        ax.plot([t for t, _ in med], [v for _, v in med], label=f"{name} (median of "
                f"{len(runs)} seeds)")
    ax.axhline(target, color="k", lw=0.8, ls=":", label="grid best")
    ax.axhline(target - TARGET_DB, color="k", lw=0.8, ls="--", label="grid best - 0.5 dB")
    ax.axvline(grid_epochs / 3, color="grey", lw=0.8, ls="--", label="1/3 of grid trial-epochs")
    ax.set_xlabel("trial-epochs")
    ax.set_ylabel("best-so-far val SI-SDR (dB)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"saved {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help="prepared cache at the tiny MMDenseNet's rate (default: generate)")
    parser.add_argument("--table", type=Path, default=None,
                        help="a saved results JSON: replay its table instead of training")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--trials", type=int, default=12, help="trials per search")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--grace-period", type=int, default=1)
    parser.add_argument("--reduction-factor", type=int, default=2)
    parser.add_argument("--train-length", type=int, default=TRAIN_LENGTH)
    parser.add_argument("--val-length", type=int, default=192)
    parser.add_argument("--check-spread", action="store_true",
                        help="re-score the best configuration on 3 fresh validation seeds")
    parser.add_argument("--name", default="search_efficiency")
    parser.add_argument("--png", type=Path, default=PNG)
    args = parser.parse_args()
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    start = time.perf_counter()
    spread = None
    if args.table:
        table = json.loads(args.table.read_text())["figures"]["table"]
        cache = None
    else:
        work = Path(tempfile.mkdtemp(prefix="avsep-bench-"))
        cache = args.cache
        if cache is None:
            from avsep.data.datasets.synthetic_cache import make_demo_cache
            from avsep.models import build

            spec = build({"name": "av_mmdensenet", "preset": "tiny"}).spec
            cache = make_demo_cache(work / "cache", sample_rate=spec.stft.sample_rate,
                                    crop=tuple(spec.crop), fps=spec.fps, seconds=6.0,
                                    singers={"train": 4, "val": 2, "test": 1}, instruments=())
        table = train_table(cache, args.epochs, args.train_length, args.val_length, work)
        if args.check_spread:
            best_entry = max(table.values(), key=lambda e: max(e["curve"]))
            spread = check_spread(best_entry, cache, args.val_length)
            print(f"validation spread of the best model: {spread}", flush=True)
    epochs = min(args.epochs, min(len(e["curve"]) for e in table.values()))
    target = max(max(e["curve"][:epochs]) for e in table.values())
    grid_epochs = len(table) * epochs
    methods = {"grid": None, "random + ASHA": "random", "TPE + ASHA": "tpe"}
    curves = {name: [replay(sampler, table, args.trials if sampler else len(table), epochs,
                            seed, args.grace_period, args.reduction_factor)
                     for seed in range(args.seeds)]
              for name, sampler in methods.items()}
    summary = {}
    for name, runs in curves.items():
        hits = [reached(c, target) for c in runs]
        finite = [h if h is not None else float("inf") for h in hits]
        med = statistics.median(finite)
        summary[name] = {
            "trial_epochs_to_within_0.5dB_per_seed": hits,
            "median_trial_epochs_to_within_0.5dB": None if med == float("inf") else med,
            "median_fraction_of_grid": None if med == float("inf") else med / grid_epochs,
            "goal_met_(<=1/3)": med <= grid_epochs / 3,
            "median_final_best_db": statistics.median(c[-1][1] for c in runs),
            "median_trial_epochs_used": statistics.median(c[-1][0] for c in runs)}
        print(f"{name:14} to within {TARGET_DB} dB: per seed {hits}, median {summary[name]}")
    figures = {
        "subspace_points": len(table), "epochs_per_trial": epochs,
        "trials_per_search": args.trials, "seeds": args.seeds,
        "asha": {"grace_period": args.grace_period, "reduction_factor": args.reduction_factor},
        "train_items_per_epoch": args.train_length, "val_items": args.val_length,
        "cache": str(cache) if cache else None, "grid_best_sdr_db": target,
        "grid_trial_epochs": grid_epochs, "summary": summary, "validation_spread": spread,
        "wall_s": time.perf_counter() - start,
        "note": "tabular replay: each configuration trained once, the searchers replay its "
                "recorded curve; one trial at a time; 2-core box shared with other jobs",
        "table": table,
        "curves": {name: [[list(p) for p in c] for c in runs] for name, runs in curves.items()},
    }
    save(args.name, figures)
    draw(curves, target, grid_epochs, args.png)


if __name__ == "__main__":
    main()

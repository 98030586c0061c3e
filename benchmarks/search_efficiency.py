"""Search efficiency: anytime curves of grid, random + ASHA and TPE + ASHA over five seeds.

The discrete part of the ``av_singing`` space (modality, the visual front-end of the AV model
but resnet18, which costs ~3x the CPU per epoch; mask layer; learning rate from three values;
v+ share 0.5 and batch size 8 fixed at the paper's values) has 24 configurations: few enough
to train every one on the quick start's synthetic cache (a tabular benchmark):

1. **table**: every configuration is trained once for ``--epochs`` epochs of
   ``--train-length`` mixtures with the bare training loop (``train_loop_per_worker``: no Ray,
   no MLflow, one torch thread, ``--jobs`` configurations at a time) and its validation
   SI-SDR is recorded after every epoch, on ``--val-length`` items (default 192: the size at
   which one trained model re-scored on a differently seeded validation set moves by
   < 0.3 dB, ``benchmarks/val_spread.py``; ``--check-spread`` measures it again on the best
   configuration). The grid's best is the target. The table is written after every
   configuration (``<name>_table.partial.json``) and saved in the result JSON, so
   ``--table FILE`` replays it without training.
2. **replay**: each searcher runs ``--seeds`` times (seeds 0..4) against that table: a trial
   of configuration c that runs e epochs sees the first e epochs of c's recorded curve and
   costs e trial-epochs. Each search runs as ``avsep tune`` runs it, one trial at a time:

   - the Optuna sampler of ``avsep.platform.searcher.make_sampler`` (``tpe``: multivariate,
     grouped, constant liar, start-up trials scaled to the budget; ``random``), asked through
     the define-by-run space (``study.ask`` + the space function, as ``OptunaSearch`` does);
   - the space's paper points enqueued first (``avsep tune`` enqueues them; the
     ``(sampler only)`` variants leave them out to compare the samplers alone);
   - Ray's own ``ASHAScheduler`` built with the arguments of ``searcher.build``
     (``max_t = --epochs``, ``--grace-period``, ``--reduction-factor``, ``mode=max``), fed
     one result per epoch; a trial ends when it says STOP or at ``max_t``;
   - Optuna told the trial's *best* epoch among those it ran (``BestEpochOptunaSearch``).

   ``grid`` visits every configuration in a seeded random order, at full length.
   BOHB is not measured: Ray's ``TuneBOHB`` cannot take define-by-run spaces (docs/search.md).

Anytime curve: best-so-far validation SI-SDR (at each trial's best epoch) against cumulative
trial-epochs; the median over seeds is compared with the goal: within 0.5 dB of the grid's best
with at most a third of the grid's trial-epochs. The table is trained once, so the noise
between two trainings of one configuration is not in the replay.

Prints, saves ``benchmarks/results/<name>.json`` and draws ``docs/search_efficiency.png``.

    python benchmarks/search_efficiency.py [--cache DIR] [--epochs 4] [--jobs 2] [--check-spread]
    python benchmarks/search_efficiency.py --table benchmarks/results/search_efficiency.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save  # noqa: E402

from avsep.search_spaces.av_singing import FRONTEND, MASK_LAYER, MODALITY, PAPER_POINTS  # noqa: E402
from avsep.search_spaces.base import experiment  # noqa: E402
from avsep.search_spaces.dims import Categorical, TrialLike  # noqa: E402

# the space's front-ends but resnet18: ~3x the CPU time per epoch of the others on this box
GRID_FRONTEND = Categorical(FRONTEND.name, tuple(c for c in FRONTEND.choices if c != "resnet18"),
                            FRONTEND.help, FRONTEND.when)
LR = Categorical("lr", (3e-4, 1e-3, 3e-3), "Adam learning rate (three values of the space's "
                 "log range, so the grid is finite)")
FIXED = {"extra_vocal_share": 0.5, "batch_size": 8}  # the paper's values (Sec. V-A)
TARGET_DB = 0.5
TRAIN_LENGTH = 512  # training mixtures per epoch: the quick start's (configs/quickstart.yaml)
METRIC = "val/sdr"
PNG = Path(__file__).resolve().parents[1] / "docs" / "search_efficiency.png"

Curve = list[tuple[int, float]]  # (cumulative trial-epochs, best-so-far val/sdr) per trial


def grid_space(trial: TrialLike) -> dict[str, Any]:
    """The discrete sub-space of ``av_singing``: the space's own modality and mask-layer
    dimensions, its front-ends but resnet18 (AV only), lr from :data:`LR`; v+ share and batch
    size fixed."""
    modality = MODALITY.suggest(trial)
    model: dict[str, Any] = {"name": "mmdensenet" if modality == "audio" else "av_mmdensenet"}
    if modality == "audio_visual":
        model["frontend"] = GRID_FRONTEND.suggest(trial)
    model["mask_layer"] = MASK_LAYER.suggest(trial)
    return experiment(model, {"extra_vocal_share": FIXED["extra_vocal_share"]},
                      {"lr": LR.suggest(trial), "batch_size": FIXED["batch_size"]})


def enumerate_points(space: Callable[[TrialLike], Any]) -> list[dict[str, Any]]:
    """Every configuration of a define-by-run space of categorical dimensions, as flat Optuna
    parameter dicts (a conditional dimension appears only where it is sampled)."""

    class Walker:
        def __init__(self, prefix: list[int]) -> None:
            self.prefix, self.picks = prefix, []

        def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
            index = self.prefix[len(self.picks)] if len(self.picks) < len(self.prefix) else 0
            self.picks.append((name, list(choices), index))
            return choices[index]

        def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
            raise TypeError(f"{name}: a grid needs categorical dimensions only")

        suggest_int = suggest_float

    def walk(prefix: list[int]) -> Iterator[dict[str, Any]]:
        walker = Walker(prefix)
        space(walker)
        if len(walker.picks) == len(prefix):
            yield {name: choices[i] for name, choices, i in walker.picks}
            return
        for index in range(len(walker.picks[len(prefix)][1])):
            yield from walk([*prefix, index])

    return list(walk([]))


def paper_points() -> list[dict[str, Any]]:
    """The space's paper points, restricted to the grid's dimensions (``avsep tune`` enqueues
    them first); every one is a grid point."""
    grid = {key(p) for p in enumerate_points(grid_space)}
    out = []
    for point in PAPER_POINTS:
        params = {k: v for k, v in point.params.items() if k not in FIXED}
        if key(params) not in grid:
            raise ValueError(f"paper point {point.experiment_id} {params} is not a grid point")
        out.append(params)
    return out


def key(params: dict[str, Any]) -> str:
    """The table key of a configuration."""
    return json.dumps(params, sort_keys=True)


# --------------------------------------------------------------------------- the table
def default_cache(work: Path) -> Path:
    """The quick start's cache: ``avsep synth --minutes 2`` then ``avsep prepare --space
    av_singing --preset tiny`` (3200 Hz, 25 fps, 16x16 mouths); returns the cache folder."""
    avsep = [sys.executable, "-m", "avsep.cli"]
    subprocess.run([*avsep, "synth", "--out", str(work / "corpus"), "--minutes", "2",
                    "--quiet"], check=True)
    subprocess.run([*avsep, "prepare", "--layout", "avsep_synth", "--root",
                    str(work / "corpus" / "singing"), "--out", str(work / "cache"), "--space",
                    "av_singing", "--preset", "tiny"], check=True)
    return resolve_cache(work / "cache")


def resolve_cache(path: Path) -> Path:
    """``path`` itself when it holds an ``index.json``, else its one sub-folder that does."""
    if (path / "index.json").is_file():
        return path
    found = sorted(p.parent for p in path.glob("*/index.json"))
    if len(found) != 1:
        raise SystemExit(f"--cache {path}: expected a cache folder (with index.json) or a "
                         f"folder holding one; found {len(found)}. Make one with `avsep prepare "
                         f"--layout avsep_synth --root CORPUS/singing --out {path} --space "
                         f"av_singing --preset tiny`")
    return found[0]


def base_config(cache: Path, epochs: int, train_length: int, val_length: int) -> dict[str, Any]:
    return {"model": {"preset": "tiny"},
            "data": {"cache": str(cache), "train_length": train_length,
                     "val_length": val_length},
            "train": {"epochs": epochs, "patience": epochs}, "eval": {"examples": 0}}


def read_entry(params: dict[str, Any], root: str) -> dict[str, Any]:
    """A table entry from a finished run's checkpoint: ``val/sdr`` after every epoch."""
    import torch

    state = torch.load(Path(root) / "checkpoint" / "state.pt", weights_only=True)["state"]
    return {"params": params, "curve": [float(h[METRIC]) for h in state["history"]],
            "root": root}


def train_one(params: dict[str, Any], base: dict[str, Any], root: str) -> dict[str, Any]:
    """Train one configuration with the bare loop (one torch thread): its table entry, with
    wall and CPU seconds (a run interrupted in ``root`` resumes from its checkpoint)."""
    import optuna
    import torch

    from avsep.config import merge, validate
    from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker

    torch.set_num_threads(1)  # two threads on a loaded 2-core box cost ~8x the CPU time
    cfg = validate(merge(base, grid_space(optuna.trial.FixedTrial(params))["experiment"]))
    start, cpu = time.perf_counter(), time.process_time()
    train_loop_per_worker(make_config(cfg, RunContext(local_root=root)))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {**read_entry(params, root), "seconds": seconds, "cpu_s": cpu}


def finished(root: Path, epochs: int) -> bool:
    """Whether ``root`` holds a checkpoint with ``epochs`` recorded epochs."""
    if not (root / "checkpoint" / "state.pt").is_file():
        return False
    import torch

    state = torch.load(root / "checkpoint" / "state.pt", weights_only=True)["state"]
    return len(state["history"]) >= epochs


def train_table(cache: Path, epochs: int, train_length: int, val_length: int, work: Path,
                jobs: int, partial: Path) -> dict[str, dict[str, Any]]:
    """Every grid point trained (``jobs`` at a time) in ``work/grid<i>``; points already
    trained there (a reused ``--work``) are read back (no timing). The table so far is
    rewritten to ``partial`` after each point."""
    base = base_config(cache, epochs, train_length, val_length)
    points = enumerate_points(grid_space)
    roots = [work / f"grid{i}" for i in range(len(points))]
    table = {key(p): {**read_entry(p, str(r)), "seconds": None, "cpu_s": None}
             for p, r in zip(points, roots, strict=True) if finished(r, epochs)}
    partial.parent.mkdir(parents=True, exist_ok=True)
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(train_one, p, base, str(r))
                   for p, r in zip(points, roots, strict=True) if key(p) not in table]
        for future in as_completed(futures):
            entry = future.result()
            table[key(entry["params"])] = entry
            partial.write_text(json.dumps({"figures": {"table": table}}, indent=1))
            print(f"table {len(table)}/{len(points)} {entry['params']}: val/sdr per epoch "
                  f"{[round(v, 2) for v in entry['curve']]} in {entry['seconds']:.0f} s "
                  f"(cpu {entry['cpu_s']:.0f} s)", flush=True)
    return {key(p): table[key(p)] for p in points}


def check_spread(entry: dict[str, Any], cache: Path, val_length: int, seeds: int = 3
                 ) -> dict[str, Any]:
    """Re-score one table entry's final weights on ``seeds`` fresh validation seeds of
    ``val_length`` items: per-seed val/sdr and the largest pairwise difference."""
    import optuna
    import torch
    from torch.utils.data import DataLoader

    from avsep.config import merge, validate
    from avsep.models import build
    from avsep.platform import checkpoint as ckpt
    from avsep.platform.data import build_dataset
    from avsep.platform.validation import validate as run_validation

    torch.set_num_threads(1)
    cfg = validate(merge(base_config(cache, 1, 1, val_length),
                         grid_space(optuna.trial.FixedTrial(entry["params"]))["experiment"]))
    model = build(cfg.model.build_dict())
    ckpt.load(Path(entry["root"]) / "checkpoint", model, None)
    values = []
    for seed in range(1, seeds + 1):
        loader = DataLoader(build_dataset(cfg, model, "val", seed=seed),
                            batch_size=cfg.train.batch_size)
        values.append(run_validation(model, loader, torch.device("cpu"),
                                     cfg.eval.wiener_iterations)[METRIC])
    diffs = [abs(a - b) for a, b in itertools.combinations(values, 2)]
    return {"params": entry["params"], "val_length": val_length,
            "search_seed_db": entry["curve"][-1], "per_seed_db": values,
            "pair_max_abs_db": max(diffs)}


# --------------------------------------------------------------------------- the replay
def make_scheduler(epochs: int, grace: int, rf: int) -> Any:
    """Ray's ASHA with the arguments ``avsep.platform.searcher.build`` gives it."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", metric=METRIC, mode="max",
                         max_t=epochs, grace_period=min(grace, epochs), reduction_factor=rf)


def run_trial(scheduler: Any, trial_id: str, curve: list[float]) -> int:
    """Feed ``curve`` (val/sdr per epoch) to ``scheduler`` one epoch at a time, as Tune does;
    return the epochs the trial ran before ASHA (or ``max_t``) stopped it."""
    from ray.tune.schedulers import TrialScheduler

    trial = SimpleNamespace(trial_id=trial_id)
    scheduler.on_trial_add(None, trial)
    result: dict[str, Any] = {}
    for epoch, value in enumerate(curve, start=1):
        result = {"training_iteration": epoch, METRIC: value}
        if scheduler.on_trial_result(None, trial, result) == TrialScheduler.STOP:
            break
    scheduler.on_trial_complete(None, trial, result)
    return int(result["training_iteration"])


def anytime(records: list[dict[str, Any]]) -> Curve:
    """The anytime curve of a search's trial records (in trial order)."""
    curve, used, best = [], 0, float("-inf")
    for record in records:
        used += record["epochs"]
        best = max(best, record["value"])
        curve.append((used, best))
    return curve


def replay_grid(table: dict[str, dict[str, Any]], epochs: int, seed: int
                ) -> list[dict[str, Any]]:
    """The grid in a seeded random order, every configuration at full length: one record
    (``params``, ``epochs`` run, best ``value`` seen) per trial."""
    order = list(table.values())
    random.Random(seed).shuffle(order)
    return [{"params": e["params"], "epochs": epochs, "value": max(e["curve"][:epochs])}
            for e in order]


def replay(sampler_name: str, table: dict[str, dict[str, Any]], trials: int, epochs: int,
           seed: int, grace: int = 1, rf: int = 2, points: list[dict[str, Any]] | None = None
           ) -> list[dict[str, Any]]:
    """One search (``sampler_name``: tpe | random, with ASHA) against ``table``: ``points``
    enqueued first, ``trials`` trials in all. One record per trial: ``params``, ``epochs``
    run, ``value`` (the best epoch among those run: what Optuna is told)."""
    import optuna

    from avsep.platform.searcher import make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=make_sampler(sampler_name, seed, trials))
    for point in points or ():
        study.enqueue_trial(point)
    scheduler = make_scheduler(epochs, grace, rf)
    records = []
    for number in range(trials):
        trial = study.ask()
        grid_space(trial)
        history = table[key(trial.params)]["curve"][:epochs]
        ran = run_trial(scheduler, f"t{number}", history)
        value = max(history[:ran])
        study.tell(trial, value)
        records.append({"params": dict(trial.params), "epochs": ran, "value": value})
    return records


def reached(curve: Curve, target: float) -> int | None:
    """Trial-epochs at which the best-so-far first came within TARGET_DB of ``target``."""
    return next((used for used, best in curve if best >= target - TARGET_DB), None)


def best_at(curve: Curve, budget: float) -> float:
    """Best-so-far after at most ``budget`` trial-epochs (NaN before the first trial ends)."""
    return max((b for u, b in curve if u <= budget), default=float("nan"))


def median_curve(curves: list[Curve], budget: int) -> Curve:
    """Median over seeds of best-so-far at every trial-epoch 1..``budget`` (NaN until every
    seed has finished a trial)."""
    out = []
    for t in range(1, budget + 1):
        values = [best_at(c, t) for c in curves]
        out.append((t, statistics.median(values) if all(v == v for v in values)
                    else float("nan")))
    return out


def summarise(runs: list[Curve], target: float, grid_epochs: int) -> dict[str, Any]:
    """Per-seed and median trial-epochs to within TARGET_DB of ``target``, and the best-so-far
    at a third of the grid's trial-epochs."""
    hits = [reached(c, target) for c in runs]
    med = statistics.median(h if h is not None else float("inf") for h in hits)
    third = [best_at(c, grid_epochs / 3) for c in runs]
    return {
        "trial_epochs_to_within_0.5dB_per_seed": hits,
        "median_trial_epochs_to_within_0.5dB": None if med == float("inf") else med,
        "median_fraction_of_grid": None if med == float("inf") else med / grid_epochs,
        "goal_met_(<=1/3)": med <= grid_epochs / 3,
        "best_db_at_1/3_of_grid_per_seed": third,
        "median_best_db_at_1/3_of_grid": statistics.median(third),
        "median_final_best_db": statistics.median(c[-1][1] for c in runs),
        "median_trial_epochs_used": statistics.median(c[-1][0] for c in runs)}


def draw(curves: dict[str, list[Curve]], target: float, grid_epochs: int, out: Path,
         title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, runs in curves.items():
        med = median_curve(runs, grid_epochs)
        ax.plot([t for t, _ in med], [v for _, v in med], ls=":" if "only" in name else "-",
                label=f"{name} (median of {len(runs)} seeds)")
    ax.axhline(target, color="k", lw=0.8, ls=":", label=f"grid best {target:.2f} dB")
    ax.axhline(target - TARGET_DB, color="k", lw=0.8, ls="--", label="grid best - 0.5 dB")
    ax.axvline(grid_epochs / 3, color="grey", lw=0.8, ls="--", label="1/3 of grid trial-epochs")
    finite = [v for runs in curves.values() for _, v in median_curve(runs, grid_epochs)
              if v == v]
    ax.set_ylim(max(min(finite), target - 6) - 0.3, target + 0.5)
    ax.set_xlabel("trial-epochs")
    ax.set_ylabel("best-so-far val SI-SDR (dB)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"saved {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help="prepared av_singing tiny cache (default: synth + prepare one)")
    parser.add_argument("--table", type=Path, default=None,
                        help="a saved results JSON: replay its table instead of training")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per search (default: the grid's size)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--grace-period", type=int, default=1, help="as `avsep tune`")
    parser.add_argument("--reduction-factor", type=int, default=2, help="as `avsep tune`")
    parser.add_argument("--train-length", type=int, default=TRAIN_LENGTH)
    parser.add_argument("--val-length", type=int, default=192)
    parser.add_argument("--work", type=Path, default=None,
                        help="work folder (default: a new temporary one); configurations "
                             "already trained there are read back, unfinished ones resume")
    parser.add_argument("--jobs", type=int, default=2, help="configurations trained at a time")
    parser.add_argument("--check-spread", action="store_true",
                        help="re-score the best configuration on 3 fresh validation seeds")
    parser.add_argument("--name", default="search_efficiency")
    parser.add_argument("--png", type=Path, default=PNG)
    args = parser.parse_args()
    start = time.perf_counter()
    spread, setup = None, {}
    if args.table:
        saved = json.loads(args.table.read_text())["figures"]
        table = saved["table"]
        setup = {k: saved.get(k) for k in ("train_items_per_epoch", "val_items", "cache",
                                           "table_wall_s", "table_cpu_s",
                                           "table_points_reused", "validation_spread")}
        spread = setup.pop("validation_spread")
    else:
        work = args.work or Path(tempfile.mkdtemp(prefix="avsep-bench-"))
        cache = resolve_cache(args.cache) if args.cache else default_cache(work)
        partial = RESULTS / f"{args.name}_table.partial.json"
        table = train_table(cache, args.epochs, args.train_length, args.val_length, work,
                            args.jobs, partial)
        setup = {"train_items_per_epoch": args.train_length, "val_items": args.val_length,
                 "cache": str(cache), "table_wall_s": time.perf_counter() - start,
                 "table_cpu_s": sum(e["cpu_s"] or 0.0 for e in table.values()),
                 "table_points_reused": sum(e["cpu_s"] is None for e in table.values())}
        if args.check_spread:
            best_entry = max(table.values(), key=lambda e: max(e["curve"]))
            spread = check_spread(best_entry, cache, args.val_length)
            print(f"validation spread of the best model: {spread}", flush=True)
    epochs = min(args.epochs, min(len(e["curve"]) for e in table.values()))
    target = max(max(e["curve"][:epochs]) for e in table.values())
    grid_epochs = len(table) * epochs
    trials = args.trials or len(table)
    points = paper_points()
    searches: dict[str, tuple[str, list[dict[str, Any]]]] = {
        "random + ASHA": ("random", points), "TPE + ASHA": ("tpe", points),
        "random + ASHA (sampler only)": ("random", []),
        "TPE + ASHA (sampler only)": ("tpe", [])}
    records = {"grid": [replay_grid(table, epochs, seed) for seed in range(args.seeds)]}
    for name, (sampler, enqueued) in searches.items():
        records[name] = [replay(sampler, table, trials, epochs, seed, args.grace_period,
                                args.reduction_factor, enqueued) for seed in range(args.seeds)]
    curves = {name: [anytime(r) for r in runs] for name, runs in records.items()}
    summary = {name: {**summarise(runs, target, grid_epochs),
                      "median_distinct_configurations": statistics.median(
                          len({key(r["params"]) for r in run}) for run in records[name]),
                      "median_trials_stopped_early": statistics.median(
                          sum(r["epochs"] < epochs for r in run) for run in records[name])}
               for name, runs in curves.items()}
    for name, row in summary.items():
        print(f"{name:30} to within {TARGET_DB} dB: per seed "
              f"{row['trial_epochs_to_within_0.5dB_per_seed']}, median "
              f"{row['median_trial_epochs_to_within_0.5dB']} of {grid_epochs} "
              f"(goal met: {row['goal_met_(<=1/3)']}); best at 1/3 of the grid "
              f"{row['median_best_db_at_1/3_of_grid']:.2f} dB")
    figures = {
        "subspace_points": len(table), "epochs_per_trial": epochs,
        "trials_per_search": trials, "seeds": args.seeds, "paper_points_enqueued": points,
        "asha": {"grace_period": args.grace_period, "reduction_factor": args.reduction_factor},
        **setup, "grid_best_sdr_db": target, "grid_trial_epochs": grid_epochs,
        "summary": summary, "validation_spread": spread,
        "wall_s": time.perf_counter() - start,
        "note": "tabular replay: each configuration trained once, the searchers replay its "
                "recorded curve; one trial at a time; 2-core box shared with other jobs",
        "table": table,
        "curves": {name: [[list(p) for p in c] for c in runs] for name, runs in curves.items()},
        "trials": records,
    }
    save(args.name, figures)
    if not args.table:
        partial.unlink(missing_ok=True)  # the table is in the saved JSON now
    draw(curves, target, grid_epochs, args.png,
         f"{len(table)} av_singing configurations x {epochs} epochs; ASHA grace "
         f"{args.grace_period}, rf {args.reduction_factor}; {trials} trials per search")


if __name__ == "__main__":
    main()

"""Are the verdicts calibrated? Planted effects in rows with the hierarchy of a reproduction.

Issue 19 asks that a finding's 95 % interval cover the true effect 93–97 % of the time, and
that "holds" be said at most 2.5 % of the time when the true effect is 0. This script plants
an effect of known size in rows simulated with the same hierarchy as ``avsep reproduce``'s
(two paired arms, every seed's model scored on every excerpt, several windows per excerpt):

    y[arm, seed, excerpt, window] = shared[excerpt, window]       (cancels in the pair)
                                  + effect · [arm = a]
                                  + seed[arm, seed]                (a training run's level)
                                  + excerpt[arm, excerpt]          (arm × excerpt)
                                  + cell[arm, seed, excerpt]       (seed × excerpt)
                                  + window noise

and judges each replication on the rows as a finding is judged
(:func:`avsep.evaluation.stats.difference_cells`, then ``estimate``). The true effect is
``effect``: the mean over the population of seeds (training runs) and excerpts. With one seed
the spread between training runs cannot be estimated, so the verdict is "inconclusive" by rule
(``MIN_SEEDS``) and the interval is about the effect of that run's models: its coverage of that
conditional truth is reported beside the population coverage. Per grid cell (excerpts ×
seeds × effect) it reports, for each interval method of
:data:`avsep.evaluation.stats.INTERVALS`, the coverage of the 95 % interval and the share of
"holds"; for the papers' tests (Wilcoxon, paired t) the share of "holds" too. Under
effect 0 a "holds" is a false claim.

    .venv/bin/python benchmarks/verdict_calibration.py [--replications 4000] [--seed 0]

Prints a table and writes ``benchmarks/results/verdict_calibration.json``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from avsep.evaluation.stats import (  # noqa: E402
    INTERVALS,
    MIN_SEEDS,
    difference_cells,
    estimate,
    excerpt_values,
    paper_test,
)

GOAL_COVERAGE = (0.93, 0.97)
GOAL_FALSE_HOLDS = 0.025


@dataclass(frozen=True)
class Hierarchy:
    """Standard deviations (dB) of each level of the simulated rows (module docstring)."""

    seed: float = 0.3
    excerpt: float = 1.0
    cell: float = 0.3
    window: float = 1.5
    shared: float = 3.0
    windows: int = 4


def simulate(rng: np.random.Generator, seeds: int, excerpts: int, effect: float,
             hierarchy: Hierarchy = Hierarchy()) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Rows of arms a and b (columns seed, excerpt, window, sdr) with ``effect`` planted, and
    the effect of these seeds' models (``effect`` plus the mean seed difference)."""
    h = hierarchy
    shape = (seeds, excerpts, h.windows)
    shared = rng.normal(0, h.shared, (1, excerpts, h.windows))
    grid = np.stack(np.meshgrid(np.arange(seeds), np.arange(excerpts), np.arange(h.windows),
                                indexing="ij")).reshape(3, -1)
    arms, seed_levels = [], []
    for gain in (effect, 0.0):
        seed_levels.append(rng.normal(0, h.seed, (seeds, 1, 1)))
        y = (shared + gain + seed_levels[-1]
             + rng.normal(0, h.excerpt, (1, excerpts, 1))
             + rng.normal(0, h.cell, (seeds, excerpts, 1))
             + rng.normal(0, h.window, shape))
        arms.append(pd.DataFrame({"seed": grid[0], "excerpt": [f"track{e}" for e in grid[1]],
                                  "window": grid[2], "sdr": y.reshape(-1)}))
    return arms[0], arms[1], effect + float((seed_levels[0] - seed_levels[1]).mean())


@dataclass
class Cell:
    """One grid cell's outcome over its replications."""

    excerpts: int
    seeds: int
    effect: float
    replications: int
    coverage: dict[str, float]
    #: coverage of the effect of the seeds' own models (what one seed's interval is about)
    coverage_conditional: dict[str, float]
    holds: dict[str, float]
    width: dict[str, float]
    #: share of intervals entirely above 0, whatever the seed rule (under effect 0: what
    #: "holds" would say without ``MIN_SEEDS``)
    above: dict[str, float]


def difference_table(a: pd.DataFrame, b: pd.DataFrame, seeds: int, excerpts: int,
                     windows: int) -> np.ndarray:
    """(seeds, excerpts) mean over windows of ``a - b``: what
    :func:`avsep.evaluation.stats.difference_cells` returns for :func:`simulate`'s rows, in
    numpy (``run_cell`` checks the two agree on each cell's first replication, then uses this
    one: pandas' group-by is most of the time per replication)."""
    delta = a["sdr"].to_numpy() - b["sdr"].to_numpy()
    return delta.reshape(seeds, excerpts, windows).mean(axis=-1)


def run_cell(excerpts: int, seeds: int, effect: float, replications: int, seed: int,
             hierarchy: Hierarchy = Hierarchy(), resamples: int = 1000) -> Cell:
    """Coverage and "holds" share of every interval method and paper test on one cell."""
    rng = np.random.default_rng([seed, excerpts, seeds, int(round(effect * 1000))])
    covered = {m: 0 for m in INTERVALS}
    conditional = {m: 0 for m in INTERVALS}
    width = {m: 0.0 for m in INTERVALS}
    above = {m: 0 for m in INTERVALS}
    holds = {m: 0 for m in (*INTERVALS, "wilcoxon", "paired_t")}
    for replication in range(replications):
        a, b, truth = simulate(rng, seeds, excerpts, effect, hierarchy)
        cells = difference_table(a, b, seeds, excerpts, hierarchy.windows)
        if replication == 0:
            reference = difference_cells(a, b, "sdr")  # columns sorted as text: track10 < track2
            reference = reference[[f"track{e}" for e in range(excerpts)]].to_numpy()
            if not np.allclose(cells, reference, rtol=0, atol=1e-9):
                raise AssertionError("difference_table disagrees with difference_cells")
        for method in INTERVALS:
            est = estimate(cells, interval=method, resamples=resamples)
            covered[method] += int(est.low <= effect <= est.high)
            conditional[method] += int(est.low <= truth <= est.high)
            width[method] += float(est.high - est.low)
            above[method] += int(est.low > 0)
            holds[method] += int(est.verdict == "holds")
            if method == "t":  # a finding with a paper's test: the same interval, and its p
                for test in ("wilcoxon", "paired_t"):
                    judged = replace(est, test=test,
                                     p_value=paper_test(excerpt_values(cells), test))
                    holds[test] += int(judged.verdict == "holds")
    n = float(replications)
    return Cell(excerpts, seeds, effect, replications,
                {k: v / n for k, v in covered.items()},
                {k: v / n for k, v in conditional.items()},
                {k: v / n for k, v in holds.items()}, {k: v / n for k, v in width.items()},
                {k: v / n for k, v in above.items()})


def calibrate(excerpts: tuple[int, ...] = (5, 10, 30), seeds: tuple[int, ...] = (1, 2, 3),
              effects: tuple[float, ...] = (0.0, 0.5, 1.5), replications: int = 4000,
              seed: int = 0, hierarchy: Hierarchy = Hierarchy(),
              resamples: int = 1000) -> list[Cell]:
    """Every cell of the grid (see :func:`run_cell`)."""
    return [run_cell(e, s, d, replications, seed, hierarchy, resamples)
            for e, s, d in itertools.product(excerpts, seeds, effects)]


def goal_coverage(cell: Cell, method: str) -> float:
    """The coverage the goal is about: of the population effect where the spread between
    training runs can be estimated (2 seeds or more), of the one seed's models' effect with
    one seed."""
    return (cell.coverage if cell.seeds > 1 else cell.coverage_conditional)[method]


def summary(cells: list[Cell], method: str = "t") -> dict[str, Any]:
    """The goal's two figures for ``method``: coverage range over all cells
    (:func:`goal_coverage`), largest "holds" share under no effect, and whether both meet the
    goal."""
    coverage = [goal_coverage(c, method) for c in cells]
    false_holds = [c.holds[method] for c in cells if c.effect == 0]
    # what "holds" would say under no effect with fewer seeds than MIN_SEEDS (the reason for it)
    below_rule = [c.above[method] for c in cells
                  if c.effect == 0 and 1 < c.seeds < MIN_SEEDS]
    worst = max(false_holds) if false_holds else float("nan")
    replications = min(c.replications for c in cells)
    return {"method": method, "coverage_min": min(coverage), "coverage_max": max(coverage),
            "false_holds_max": worst,
            # Monte-Carlo standard error of a share near the worst one
            "false_holds_se": float(np.sqrt(worst * (1 - worst) / replications))
            if false_holds else float("nan"),
            "above_zero_below_min_seeds_max": max(below_rule) if below_rule else float("nan"),
            "met": (GOAL_COVERAGE[0] <= min(coverage) and max(coverage) <= GOAL_COVERAGE[1]
                    and (not false_holds or max(false_holds) <= GOAL_FALSE_HOLDS))}


def table(cells: list[Cell]) -> str:
    """A markdown table: one row per cell; coverage (%) of the population effect and of the
    seeds' own models' effect, "holds" (%) and mean width (dB) of each method and test."""
    head = ["excerpts", "seeds", "effect"]
    head += [f"cover {m}" for m in INTERVALS] + [f"cover {m} (seeds' models)" for m in INTERVALS]
    head += [f"holds {m}" for m in (*INTERVALS, "wilcoxon", "paired_t")]
    head += [f"above 0 {m}" for m in INTERVALS]
    head += [f"width {m}" for m in INTERVALS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for c in cells:
        values = [str(c.excerpts), str(c.seeds), f"{c.effect:g}"]
        values += [f"{100 * c.coverage[m]:.1f}" for m in INTERVALS]
        values += [f"{100 * c.coverage_conditional[m]:.1f}" for m in INTERVALS]
        values += [f"{100 * c.holds[m]:.1f}" for m in (*INTERVALS, "wilcoxon", "paired_t")]
        values += [f"{100 * c.above[m]:.1f}" for m in INTERVALS]
        values += [f"{c.width[m]:.2f}" for m in INTERVALS]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=4000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--excerpts", type=int, nargs="+", default=[5, 10, 30])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--effects", type=float, nargs="+", default=[0.0, 0.5, 1.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    hierarchy = Hierarchy()
    start = time.perf_counter()
    cells = calibrate(tuple(args.excerpts), tuple(args.seeds), tuple(args.effects),
                      args.replications, args.seed, hierarchy, args.resamples)
    seconds = time.perf_counter() - start
    print(table(cells))
    summaries = [summary(cells, m) for m in INTERVALS]
    for s in summaries:
        print(f"{s['method']}: coverage {100 * s['coverage_min']:.1f}-"
              f"{100 * s['coverage_max']:.1f} %, 'holds' under no effect at most "
              f"{100 * s['false_holds_max']:.2f} % (Monte-Carlo se "
              f"{100 * s['false_holds_se']:.2f}) -> goal {'met' if s['met'] else 'NOT met'}; "
              f"with fewer than {MIN_SEEDS} seeds the interval alone would say 'holds' "
              f"{100 * s['above_zero_below_min_seeds_max']:.2f} % of the time (why "
              f"MIN_SEEDS = {MIN_SEEDS})")
    from _common import save

    save("verdict_calibration" + (f"_{args.tag}" if args.tag else ""),
         {"hierarchy": asdict(hierarchy), "replications": args.replications,
          "resamples": args.resamples, "seed": args.seed, "seconds": seconds,
          "goal": {"coverage": GOAL_COVERAGE, "false_holds_max": GOAL_FALSE_HOLDS},
          "summary": summaries, "cells": [asdict(c) for c in cells]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

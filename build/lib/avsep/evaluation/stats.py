"""Verdict statistics whose unit is the independent excerpt.

Scoring rows (:mod:`avsep.evaluation.separation`, ``sync``, ``activity``) carry ``seed`` (the
training run) and ``excerpt`` (the track / URMP piece / clip an item comes from), plus, where
they apply, ``item``, ``condition``, ``source``, ``window``, ``context``. Rows that share an
excerpt are not independent: the windows, source slots, test conditions (plain and v+) and
segments of one excerpt stay together. Every statistic here therefore works on a **cell table**
``T`` of shape (seeds S, excerpts E): one number per (seed, excerpt), the rows inside the cell
aggregated first with the finding's ``statistic`` (``mean`` or ``median``):

* a **paired difference** (:func:`paired_difference`): ``sign * (a - b)`` per row, paired on
  the keys both arms share (``seed``, ``excerpt``, ``item``, ``condition``, ``source``, ...;
  a key whose values do not overlap, e.g. two models' different source layouts, is aggregated
  out of each side first), then aggregated per cell;
* a **trend** (:func:`trend`): per cell, Spearman's rho between the position (the arm order or
  the ``along`` column, e.g. the sync context) and the metric aggregated per position inside
  the cell; rho of a cell whose metric does not vary is 0.

The estimate is the mean over excerpts of the cell values averaged over seeds. Its 95 %
interval comes from a **hierarchical bootstrap** of that table, seeds and excerpts each
resampled as their own level (crossed: one excerpt draw applies to every seed, since a seed's
model is scored on every excerpt). :data:`INTERVALS`:

* ``"t"`` (default): the bootstrap variance of each level (excerpts resampled with seeds fixed,
  seeds resampled with excerpts fixed), each corrected by ``n / (n - 1)``, summed; the interval
  is ``value ± t(0.975, df) · se`` with Welch–Satterthwaite degrees of freedom from the two
  levels (``E - 1`` excerpt, ``S - 1`` seed). On few excerpts this is what holds the 95 %
  coverage (``benchmarks/verdict_calibration.py``);
* ``"percentile"``: the 2.5–97.5 percentiles of the crossed resamples (both levels at once).
  It under-covers on few excerpts; kept for the calibration benchmark's comparison.

Next to the interval, a finding may name its paper's own test (:data:`TESTS`) on the
per-excerpt values (cell values averaged over seeds): ``wilcoxon`` (Wilcoxon signed-rank,
Li et al.) or ``paired_t`` (paired t-test, Swaminathan & Lerch), two-sided, with its p-value
(``scipy.stats``). The verdict (:attr:`Estimate.verdict`) is ``holds`` / ``does not hold`` when
the interval lies above / below 0 and, for a finding with a paper's test, that test also gives
p < 0.05 (the test sees the per-excerpt values of these seeds' models only, so alone it would
say "holds" too often when seeds differ: ``benchmarks/verdict_calibration.py``);
``inconclusive`` otherwise, and whenever fewer than :data:`MIN_EXCERPTS` excerpts or
:data:`MIN_SEEDS` seeds were scored; ``no data`` without rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

#: columns that identify a row of one arm; the shared ones pair two arms' rows
PAIR_KEYS = ("seed", "excerpt", "item", "condition", "source", "window", "context")
#: the two levels of the hierarchy, always required
UNIT_KEYS = ("seed", "excerpt")
STATISTICS = ("mean", "median")
TESTS = ("bootstrap", "wilcoxon", "paired_t")
INTERVALS = ("t", "percentile")
#: fewer independent excerpts or seeds than these: the verdict is "inconclusive" whatever the
#: interval. One seed cannot show how much a second training run would move the difference;
#: two estimate that spread from one degree of freedom, and the t-interval then says "holds"
#: under no effect 3.2 % of the time at 30 excerpts, above the 2.5 % it promises
#: (``benchmarks/verdict_calibration.py``, 2-seed rows); from 3 seeds on it keeps its promise
MIN_EXCERPTS = 5
MIN_SEEDS = 3
ALPHA = 0.05
RESAMPLES = 2000

Statistic = Literal["mean", "median"]
Test = Literal["bootstrap", "wilcoxon", "paired_t"]
Interval = Literal["t", "percentile"]


@dataclass(frozen=True)
class Estimate:
    """A statistic, its 95 % interval, the paper's test p-value (NaN for ``bootstrap``), and
    the number of independent excerpts and of seeds it stands on."""

    value: float
    low: float
    high: float
    n_excerpts: int
    n_seeds: int
    test: str = "bootstrap"
    p_value: float = float("nan")

    @property
    def n(self) -> int:
        """The number of independent excerpts (the unit)."""
        return self.n_excerpts

    @property
    def sample(self) -> str:
        """``"5 excerpts x 3 seeds"``: the sample size as the report prints it."""
        return f"{self.n_excerpts} excerpts x {self.n_seeds} seeds"

    @property
    def reason(self) -> str:
        """Why the verdict is "inconclusive" whatever the interval says ("" when it is not)."""
        if self.n_excerpts == 0 or np.isnan(self.value):
            return ""
        if self.n_excerpts < MIN_EXCERPTS:
            return f"fewer than {MIN_EXCERPTS} independent excerpts"
        if self.n_seeds == 1:
            return "one seed: the spread between training runs is unknown"
        if self.n_seeds < MIN_SEEDS:
            return (f"{self.n_seeds} seeds: the spread between training runs needs "
                    f"{MIN_SEEDS} to be judged")
        return ""

    @property
    def verdict(self) -> str:
        """``holds``, ``does not hold``, ``inconclusive`` or ``no data`` (module docstring)."""
        if self.n_excerpts == 0 or np.isnan(self.value):
            return "no data"
        if self.reason:
            return "inconclusive"
        positive, negative = self.low > 0, self.high < 0
        if self.test != "bootstrap":  # the paper's test must agree too (it ignores seeds)
            significant = bool(self.p_value < ALPHA)
            positive, negative = positive and significant, negative and significant
        return "holds" if positive else "does not hold" if negative else "inconclusive"


def no_data(test: str = "bootstrap") -> Estimate:
    nan = float("nan")
    return Estimate(nan, nan, nan, 0, 0, test)


def _check_choice(value: str, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid choices: {', '.join(choices)}")


def check_units(rows: pd.DataFrame, what: str = "rows") -> None:
    """Raise unless ``rows`` name their seed and excerpt (the hierarchy's two levels)."""
    missing = [k for k in UNIT_KEYS if k not in rows.columns]
    if missing:
        raise ValueError(f"{what} lack the column(s) {missing}: every scored row needs 'seed' "
                         "(added by reproduce.score_arm) and 'excerpt' (the independent "
                         "excerpt: avsep.evaluation scorers write it from "
                         "dataset.excerpt_of(index)); rescore with the current avsep")


def cell_table(rows: pd.DataFrame, column: str, statistic: Statistic = "mean") -> pd.DataFrame:
    """(seeds, excerpts) table of ``column`` aggregated inside each (seed, excerpt) with
    ``statistic``; NaN rows are skipped, a cell without rows is NaN."""
    _check_choice(statistic, STATISTICS, "statistic")
    check_units(rows)
    values = rows[[*UNIT_KEYS, column]].copy()
    values[column] = pd.to_numeric(values[column], errors="coerce")
    values = values[np.isfinite(values[column].to_numpy(dtype=float))]
    if values.empty:
        return pd.DataFrame(dtype=float)
    return values.groupby(list(UNIT_KEYS))[column].agg(statistic).unstack("excerpt")


def excerpt_values(tables: np.ndarray) -> np.ndarray:
    """(..., E) mean over seeds of each excerpt's cells (NaN cells skipped; NaN for an
    excerpt without cells); tables (..., S, E)."""
    present = np.isfinite(tables)
    counts = present.sum(axis=-2)
    sums = np.where(present, tables, 0.0).sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def mean_of_cells(tables: np.ndarray) -> np.ndarray:
    """(...,) the estimate of each table (..., S, E): the mean over excerpts of the seed
    means (excerpts without cells skipped)."""
    per_excerpt = excerpt_values(tables)
    present = np.isfinite(per_excerpt)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, per_excerpt, 0.0).sum(axis=-1) / present.sum(axis=-1)


def _t_interval(table: np.ndarray, resamples: int, rng: np.random.Generator
                ) -> tuple[float, float]:
    """``value ± t · se`` with each level's bootstrap variance (module docstring)."""
    from scipy import stats

    seeds, excerpts = table.shape
    value = float(mean_of_cells(table))
    per_excerpt = excerpt_values(table)
    index = rng.integers(0, excerpts, (resamples, excerpts))
    var_excerpt = float(np.var(per_excerpt[index].mean(axis=1))) * excerpts / (excerpts - 1)
    parts = [(var_excerpt, excerpts - 1)]
    if seeds > 1:
        index = rng.integers(0, seeds, (resamples, seeds))
        replicates = mean_of_cells(table[index])
        replicates = replicates[np.isfinite(replicates)]
        parts.append((float(np.var(replicates)) * seeds / (seeds - 1), seeds - 1))
    variance = sum(v for v, _ in parts)
    if variance <= 0:
        return value, value
    df = variance ** 2 / sum(v ** 2 / d for v, d in parts if v > 0)
    half = float(stats.t.ppf(0.975, df)) * np.sqrt(variance)
    return value - half, value + half


def _percentile_interval(table: np.ndarray, resamples: int, rng: np.random.Generator
                         ) -> tuple[float, float]:
    """The 2.5–97.5 percentiles of crossed (seeds × excerpts) resamples."""
    seeds, excerpts = table.shape
    rows = rng.integers(0, seeds, (resamples, seeds))
    columns = rng.integers(0, excerpts, (resamples, excerpts))
    replicates = mean_of_cells(table[rows[:, :, None], columns[:, None, :]])
    replicates = replicates[np.isfinite(replicates)]
    low, high = np.percentile(replicates, [2.5, 97.5])
    return float(low), float(high)


def estimate(table: pd.DataFrame | np.ndarray, test: Test = "bootstrap",
             interval: Interval = "t", resamples: int = RESAMPLES, seed: int = 0) -> Estimate:
    """The :class:`Estimate` of a (seeds, excerpts) cell table (NaN: a missing cell).

    Seeds or excerpts whose cells are all NaN do not count. With one excerpt there is no
    interval (NaN bounds).
    """
    _check_choice(test, TESTS, "test")
    _check_choice(interval, INTERVALS, "interval")
    values = np.asarray(table, dtype=float)
    if values.ndim != 2 or values.size == 0:
        return no_data(test)
    values = values[np.isfinite(values).any(axis=1)][:, np.isfinite(values).any(axis=0)]
    seeds, excerpts = values.shape
    if excerpts == 0:
        return no_data(test)
    value = float(mean_of_cells(values))
    nan = float("nan")
    low = high = nan
    if excerpts > 1:
        rng = np.random.default_rng(seed)
        low, high = (_t_interval if interval == "t" else _percentile_interval)(
            values, resamples, rng)
    p_value = paper_test(excerpt_values(values), test) if test != "bootstrap" else nan
    return Estimate(value, low, high, excerpts, seeds, test, p_value)


def paper_test(per_excerpt: np.ndarray, test: Test) -> float:
    """Two-sided p-value of ``test`` on per-excerpt values (differences or rho) against 0:
    Wilcoxon signed-rank (zero differences dropped, exact for small samples) or the paired
    t-test (``ttest_rel`` of the two arms = one-sample t of their differences). NaN when the
    test is undefined (fewer than 2 values, all equal to 0)."""
    from scipy import stats

    _check_choice(test, TESTS[1:], "paper test")
    values = np.asarray(per_excerpt, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2 or not np.any(values != 0):
        return float("nan")
    if test == "wilcoxon":
        return float(stats.wilcoxon(values).pvalue)
    if np.all(values == values[0]):  # no spread: the t statistic is infinite
        return 0.0
    return float(stats.ttest_1samp(values, 0.0).pvalue)


def _pair_keys(a: pd.DataFrame, b: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(keys to pair on, keys to aggregate out): shared :data:`PAIR_KEYS` whose values overlap
    pair; the others (e.g. disjoint source layouts) are aggregated out of each side."""
    shared = [k for k in PAIR_KEYS if k in a.columns and k in b.columns]
    pair = [k for k in shared
            if k in UNIT_KEYS or set(a[k].dropna()) & set(b[k].dropna())]
    return pair, [k for k in shared if k not in pair]


def difference_cells(a: pd.DataFrame, b: pd.DataFrame, metric: str, sign: float = 1.0,
                     statistic: Statistic = "mean") -> pd.DataFrame:
    """(seeds, excerpts) table of ``sign * (a - b)`` on ``metric``, paired row by row on the
    shared keys (module docstring) and aggregated per (seed, excerpt) with ``statistic``."""
    _check_choice(statistic, STATISTICS, "statistic")
    check_units(a, "rows of the first arm")
    check_units(b, "rows of the second arm")
    if a.empty or b.empty:
        return pd.DataFrame(dtype=float)
    pair, _ = _pair_keys(a, b)
    sides = []
    for side in (a, b):
        values = pd.Series(pd.to_numeric(side[metric], errors="coerce").to_numpy(dtype=float),
                           index=pd.MultiIndex.from_frame(side[pair]))
        if not values.index.is_unique:  # keys aggregated out (e.g. disjoint source layouts)
            values = values.groupby(level=pair, dropna=False).agg(statistic)
        sides.append(values)
    difference = (sign * (sides[0] - sides[1])).dropna()  # aligned on the pair keys
    if difference.empty:
        return pd.DataFrame(dtype=float)
    return difference.groupby(level=list(UNIT_KEYS)).agg(statistic).unstack("excerpt")


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str, sign: float = 1.0,
                      statistic: Statistic = "mean", test: Test = "bootstrap",
                      interval: Interval = "t", resamples: int = RESAMPLES) -> Estimate:
    """The :class:`Estimate` of :func:`difference_cells`: mean paired difference over
    excerpts and seeds, its interval, the paper's ``test``."""
    return estimate(difference_cells(a, b, metric, sign, statistic), test, interval, resamples)


def trend_cells(rows: pd.DataFrame, x: str, y: str, sign: float = 1.0,
                statistic: Statistic = "mean") -> pd.DataFrame:
    """(seeds, excerpts) table of Spearman's rho between ``x`` and ``sign * y`` inside each
    cell, ``y`` aggregated per ``x`` value first with ``statistic``. A cell with fewer than 2
    ``x`` values is NaN; one whose ``y`` does not vary is 0."""
    check_units(rows)
    values = rows[[*UNIT_KEYS, x, y]].copy()
    values[y] = sign * pd.to_numeric(values[y], errors="coerce")
    values = values[np.isfinite(values[y].to_numpy(dtype=float))]
    points = values.groupby([*UNIT_KEYS, x])[y].agg(statistic).reset_index()
    cells = []
    for (seed, excerpt), part in points.groupby(list(UNIT_KEYS)):
        rho = float("nan")
        if part[x].nunique() >= 2:
            rho = 0.0 if part[y].nunique() < 2 else spearman(part[x].to_numpy(float),
                                                              part[y].to_numpy(float))
        cells.append({"seed": seed, "excerpt": excerpt, "rho": rho})
    if not cells:
        return pd.DataFrame(dtype=float)
    return pd.DataFrame(cells).set_index(list(UNIT_KEYS))["rho"].unstack("excerpt")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def trend(rows: pd.DataFrame, x: str, y: str, sign: float = 1.0, statistic: Statistic = "mean",
          test: Test = "bootstrap", interval: Interval = "t",
          resamples: int = RESAMPLES) -> Estimate:
    """Mean over excerpts (and seeds) of the per-cell Spearman rho of :func:`trend_cells`:
    a trend paired on the excerpt, not pooled rows."""
    return estimate(trend_cells(rows, x, y, sign, statistic), test, interval, resamples)

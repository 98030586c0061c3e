"""Finding statistics: paired differences and trends with bootstrap 95 % intervals.

Rows are one score per (seed, item, source[, x]) of one arm; a ``better`` finding pairs the
rows of two arms on their shared keys and bootstraps the mean of the signed difference; a trend
bootstraps Spearman's rank correlation between position (arm order or the ``along`` column)
and the metric. The interval is the 2.5–97.5 percentile of 2000 resamples, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PAIR_KEYS = ("seed", "item", "source", "condition")


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap interval and the number of paired observations."""

    value: float
    low: float
    high: float
    n: int

    @property
    def verdict(self) -> str:
        """``holds`` (interval above 0), ``does not hold`` (below 0), or ``inconclusive``."""
        if self.n == 0 or np.isnan(self.value):
            return "no data"
        if self.low > 0:
            return "holds"
        if self.high < 0:
            return "does not hold"
        return "inconclusive"


def _bootstrap(values: np.ndarray, statistic, resamples: int = 2000, seed: int = 0
               ) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = len(values)
    stats = np.array([statistic(values[rng.integers(0, n, n)]) for _ in range(resamples)])
    stats = stats[np.isfinite(stats)]
    if not len(stats):
        return float("nan"), float("nan")
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str, sign: float = 1.0,
                      resamples: int = 2000) -> Estimate:
    """Mean of ``sign * (a - b)`` over rows paired on :data:`PAIR_KEYS` (those both have).

    Rows that share no key (two models with different source layouts) are compared unpaired:
    the difference of the two means, each side resampled on its own.
    """
    keys = [k for k in PAIR_KEYS if k in a.columns and k in b.columns]
    merged = a[keys + [metric]].merge(b[keys + [metric]], on=keys, suffixes=("_a", "_b"))
    diff = sign * (merged[f"{metric}_a"] - merged[f"{metric}_b"]).to_numpy(dtype=float)
    diff = diff[np.isfinite(diff)]
    if len(diff):
        low, high = _bootstrap(diff, np.mean, resamples)
        return Estimate(float(diff.mean()), low, high, len(diff))
    return unpaired_difference(a[metric].to_numpy(float), b[metric].to_numpy(float), sign,
                               resamples)


def unpaired_difference(a: np.ndarray, b: np.ndarray, sign: float = 1.0, resamples: int = 2000,
                        seed: int = 0) -> Estimate:
    """``sign * (mean(a) - mean(b))`` with each side bootstrapped independently."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    stats = [sign * (a[rng.integers(0, len(a), len(a))].mean()
                     - b[rng.integers(0, len(b), len(b))].mean()) for _ in range(resamples)]
    low, high = np.percentile(stats, [2.5, 97.5])
    return Estimate(float(sign * (a.mean() - b.mean())), float(low), float(high),
                    min(len(a), len(b)))


def _spearman(pairs: np.ndarray) -> float:
    x, y = pairs[:, 0], pairs[:, 1]
    if np.unique(x).size < 2 or np.unique(y).size < 2:
        return float("nan")
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    return float(np.corrcoef(rx, ry)[0, 1])


def trend(x: np.ndarray, y: np.ndarray, sign: float = 1.0, resamples: int = 2000) -> Estimate:
    """Spearman's rho between ``x`` and ``sign * y`` with its bootstrap interval."""
    pairs = np.column_stack([np.asarray(x, float), sign * np.asarray(y, float)])
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    if len(pairs) < 3:
        return Estimate(float("nan"), float("nan"), float("nan"), len(pairs))
    low, high = _bootstrap(pairs, _spearman, resamples)
    return Estimate(_spearman(pairs), low, high, len(pairs))

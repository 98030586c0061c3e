"""Seeded plans of the fixed evaluation sets, computed from the index alone (no array is read).

* Singing test set: one excerpt of up to 30 s per test song with its own accompaniment (a real
  mixture), or, where the vocals have no accompaniment of their own or with
  ``real_mixtures=False`` (Li et al., "Audition-RandMix"), per pair of a seeded bijection between
  the test vocals and the test accompaniments; each once plain and once "v+" (an extra vocal
  from another test singer at the target's RMS).
* Instrument test set (Solos paper, URMP evaluation): every test ensemble with 2+ instruments,
  split sequentially into clip-length segments of its real mixture.

Validation sets need no plan: their item ``i`` is drawn from ``(seed, kind, "val", 0, i)`` (see
:mod:`avsep.data.datasets.base`), the same in every process and run: a window of a real mixture
at a seeded offset where the split has them, else a seeded random mix.
"""

from __future__ import annotations

import numpy as np

CONDITIONS = ("plain", "v+")
TEST_SALT = 7_919


def parse_condition(condition: str) -> tuple[str, ...]:
    """``"plain"``, ``"v+"`` or ``"both"`` -> the conditions of a test set, in order."""
    if condition == "both":
        return CONDITIONS
    if condition in CONDITIONS:
        return (condition,)
    raise ValueError(f"condition must be 'plain', 'v+' or 'both', got {condition!r}")


def fixed_rng(seed: int, *key: int) -> np.random.Generator:
    """The generator of a test-set decision identified by ``key``."""
    return np.random.default_rng([int(seed), TEST_SALT, *key])


def pairing(num_targets: int, num_others: int, seed: int) -> np.ndarray:
    """int64 (num_targets,): a seeded random assignment of others to targets.

    A bijection when the counts are equal; otherwise each other is used ``ceil`` or ``floor``
    of ``num_targets / num_others`` times.
    """
    if num_others < 1:
        raise ValueError("pairing needs at least one candidate")
    order = fixed_rng(seed, 0).permutation(num_others)
    return order[np.arange(num_targets) % num_others]


def sequential_starts(samples: int, clip: int) -> list[int]:
    """Starts of the consecutive, non-overlapping ``clip``-sample segments of a track."""
    return list(range(0, samples - clip + 1, clip))

"""Finding statistics: paired and unpaired differences, trends, verdicts."""

import numpy as np
import pandas as pd

from avsep.evaluation.stats import paired_difference, trend, unpaired_difference


def _rows(values, source="vocals"):
    return pd.DataFrame({"seed": [0] * len(values), "item": range(len(values)),
                         "source": source, "sdr": values})


def test_paired_difference_recovers_a_planted_gain():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 3, 200)  # large item-to-item spread that pairing removes
    estimate = paired_difference(_rows(base + 1.0 + rng.normal(0, 0.1, 200)), _rows(base), "sdr")
    assert abs(estimate.value - 1.0) < 0.05
    assert estimate.low > 0.9 and estimate.high < 1.1
    assert estimate.n == 200 and estimate.verdict == "holds"


def test_sign_turns_a_lower_is_better_metric_around():
    a, b = _rows(np.full(20, -30.0)), _rows(np.full(20, -20.0))
    a = a.rename(columns={"sdr": "pes"})
    b = b.rename(columns={"sdr": "pes"})
    estimate = paired_difference(a, b, "pes", sign=-1.0)
    assert estimate.value == 10.0 and estimate.verdict == "holds"


def test_rows_without_shared_keys_are_compared_unpaired():
    a = _rows(np.arange(10.0) + 5, source="cello")
    b = _rows(np.arange(10.0), source="source0")
    estimate = paired_difference(a, b, "sdr")
    assert estimate.value == 5.0
    assert estimate.low < 5.0 < estimate.high


def test_no_difference_is_inconclusive_and_empty_is_no_data():
    rng = np.random.default_rng(1)
    noise = unpaired_difference(rng.normal(0, 1, 50), rng.normal(0, 1, 50))
    assert noise.low < 0 < noise.high and noise.verdict == "inconclusive"
    assert unpaired_difference(np.array([]), np.array([1.0])).verdict == "no data"


def test_trend_detects_rising_and_falling_series():
    x = np.repeat(np.arange(5), 10)
    y = x * 2.0 + np.random.default_rng(2).normal(0, 0.5, x.size)
    up = trend(x, y)
    assert up.value > 0.9 and up.verdict == "holds"
    down = trend(x, y, sign=-1.0)
    assert down.value < -0.9 and down.verdict == "does not hold"

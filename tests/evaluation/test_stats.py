"""Verdict statistics on planted tables: the unit is the excerpt, seeds are their own level."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from avsep.evaluation.stats import (
    cell_table,
    difference_cells,
    estimate,
    paired_difference,
    paper_test,
    trend,
)


def arm_rows(values: np.ndarray, windows: int = 1, source: str = "vocals") -> pd.DataFrame:
    """Rows of one arm from ``values`` (seeds, excerpts[, windows])."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = np.repeat(values[:, :, None], windows, axis=2)
    seeds, excerpts, count = values.shape
    rows = [{"seed": s, "excerpt": f"song{e}", "window": w, "source": source,
             "sdr": values[s, e, w]}
            for s in range(seeds) for e in range(excerpts) for w in range(count)]
    return pd.DataFrame(rows)


def noisy(rng: np.random.Generator, seeds: int, excerpts: int, windows: int = 4,
          spread: float = 3.0) -> np.ndarray:
    """(seeds, excerpts, windows) scores with a large excerpt-to-excerpt spread."""
    return (rng.normal(0, spread, (1, excerpts, 1)) + rng.normal(0, 0.2, (seeds, 1, 1))
            + rng.normal(0, 0.5, (seeds, excerpts, windows)))


def test_an_effect_present_in_one_excerpt_only_does_not_hold():
    rng = np.random.default_rng(0)
    base = noisy(rng, 3, 10)
    gain = np.zeros_like(base)
    gain[:, 0] = 8.0  # a large gain, all of it on song0 (its 3 seeds x 4 windows = 12 rows)
    estimate_ = paired_difference(arm_rows(base + gain), arm_rows(base), "sdr")
    assert estimate_.value == pytest.approx(0.8, abs=0.1)  # 8 dB / 10 excerpts
    assert estimate_.low < 0 < estimate_.high and estimate_.verdict == "inconclusive"
    assert (estimate_.n_excerpts, estimate_.n_seeds) == (10, 3)
    # the paper's tests on the per-excerpt differences agree
    for test in ("wilcoxon", "paired_t"):
        assert paired_difference(arm_rows(base + gain), arm_rows(base), "sdr",
                                 test=test).verdict == "inconclusive"


def test_a_consistent_effect_across_ten_excerpts_holds():
    rng = np.random.default_rng(1)
    base = noisy(rng, 3, 10)
    better = base + 1.0 + rng.normal(0, 0.3, base.shape)
    estimate_ = paired_difference(arm_rows(better), arm_rows(base), "sdr")
    assert estimate_.value == pytest.approx(1.0, abs=0.15)
    assert 0.5 < estimate_.low < 1.0 < estimate_.high < 1.5
    assert estimate_.verdict == "holds" and estimate_.sample == "10 excerpts x 3 seeds"
    worse = paired_difference(arm_rows(base), arm_rows(better), "sdr")
    assert worse.verdict == "does not hold"


def test_duplicating_an_excerpts_windows_does_not_narrow_the_interval():
    rng = np.random.default_rng(2)
    a, b = noisy(rng, 3, 8) + 0.5, noisy(rng, 3, 8)
    once = paired_difference(arm_rows(a), arm_rows(b), "sdr")
    # every window of every excerpt five times over: five times the rows, the same excerpts
    tiled = paired_difference(arm_rows(np.tile(a, 5)), arm_rows(np.tile(b, 5)), "sdr")
    assert tiled.n_excerpts == once.n_excerpts == 8
    assert tiled.high - tiled.low == pytest.approx(once.high - once.low, rel=1e-9)
    assert tiled.value == pytest.approx(once.value)


def test_fewer_than_five_excerpts_or_one_seed_is_inconclusive():
    rng = np.random.default_rng(3)
    base = noisy(rng, 3, 4)
    estimate_ = paired_difference(arm_rows(base + 5.0), arm_rows(base), "sdr")
    assert estimate_.low > 0 and estimate_.verdict == "inconclusive"
    assert "fewer than 5" in estimate_.reason
    base = noisy(rng, 1, 30)
    one_seed = paired_difference(arm_rows(base + 5.0), arm_rows(base), "sdr")
    assert one_seed.low > 0 and one_seed.verdict == "inconclusive"
    assert "one seed" in one_seed.reason
    base = noisy(rng, 2, 30)  # two seeds: their spread rests on one degree of freedom
    two_seeds = paired_difference(arm_rows(base + 5.0), arm_rows(base), "sdr")
    assert two_seeds.low > 0 and two_seeds.verdict == "inconclusive"
    assert "2 seeds" in two_seeds.reason and "needs 3" in two_seeds.reason


def test_cells_aggregate_inside_the_excerpt_with_the_findings_statistic():
    rows = arm_rows(np.array([[[0.0, 1.0, 8.0], [2.0, 2.0, 2.0]]]))  # 1 seed, 2 excerpts
    assert cell_table(rows, "sdr", "mean").to_numpy().tolist() == [[3.0, 2.0]]
    assert cell_table(rows, "sdr", "median").to_numpy().tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="valid choices: mean, median"):
        cell_table(rows, "sdr", "mode")


def test_lower_is_better_metrics_turn_around_and_constant_gains_hold():
    a, b = arm_rows(np.full((3, 6), -30.0)), arm_rows(np.full((3, 6), -20.0))
    estimate_ = paired_difference(a, b, "sdr", sign=-1.0)
    assert estimate_.value == 10.0 and estimate_.verdict == "holds"


def test_disjoint_source_layouts_pair_on_the_excerpt():
    """A 13-slot U-Net against an N-stream model: slots averaged inside each excerpt, then
    paired on (seed, excerpt)."""
    rng = np.random.default_rng(4)
    base = noisy(rng, 3, 6)
    a = pd.concat([arm_rows(base + 2.0, source="cello"), arm_rows(base + 4.0, source="flute")])
    b = arm_rows(base, source="source1")
    estimate_ = paired_difference(a, b, "sdr")
    assert estimate_.value == pytest.approx(3.0)
    assert estimate_.n_excerpts == 6 and estimate_.verdict == "holds"


def test_rows_without_their_excerpt_are_refused_with_the_fix():
    rows = pd.DataFrame({"seed": [0], "item": [0], "sdr": [1.0]})
    with pytest.raises(ValueError, match="'excerpt'.*rescore"):
        paired_difference(rows, rows, "sdr")


def test_paper_tests_match_scipy_on_hand_tables():
    # 6 excerpts x 3 seeds of differences: the tests see the 6 per-excerpt means
    table = np.array([[0.5, 1.2, -0.3, 2.0, 0.9, 1.1],
                      [0.7, 0.8, 0.1, 1.6, 1.3, 0.5],
                      [0.6, 1.0, -0.1, 1.8, 1.1, 0.8]])
    per_excerpt = table.mean(axis=0)
    wilcoxon = estimate(table, test="wilcoxon")
    assert wilcoxon.p_value == pytest.approx(scipy_stats.wilcoxon(per_excerpt).pvalue)
    # exact: one negative excerpt (-0.1) with the smallest rank, P(W- <= 1) = 2/64, two-sided
    assert wilcoxon.p_value == pytest.approx(0.0625)
    paired_t = estimate(table, test="paired_t")
    a = per_excerpt + 10.0
    assert paired_t.p_value == pytest.approx(scipy_stats.ttest_rel(a, a - per_excerpt).pvalue)
    assert paired_t.p_value == pytest.approx(scipy_stats.ttest_1samp(per_excerpt, 0).pvalue)
    assert paired_t.p_value < 0.05 and paired_t.verdict == "holds"
    assert wilcoxon.verdict == "inconclusive"  # Wilcoxon on 6 excerpts: p >= 1/32 at best
    # the same through rows: two arms, windows inside the excerpts
    a_rows, b_rows = arm_rows(np.tile(table[:, :, None], 3) + 5.0), arm_rows(np.full((3, 6), 5.0))
    cells = difference_cells(a_rows, b_rows, "sdr")
    assert cells.to_numpy() == pytest.approx(table)
    assert paper_test(per_excerpt, "paired_t") == pytest.approx(paired_t.p_value)
    assert np.isnan(paper_test(np.zeros(6), "wilcoxon"))  # undefined: no non-zero difference


def test_a_trend_is_paired_on_the_excerpt():
    """Each excerpt rises along the context while the excerpts' levels differ widely: pooled
    rows would show a weak rank correlation; per excerpt it is 1."""
    rng = np.random.default_rng(5)
    rows = []
    for seed in range(3):
        for e in range(8):
            level = rng.normal(0, 20)
            for context in (5, 10, 15, 20):
                rows.append({"seed": seed, "excerpt": f"s{e}", "context": context,
                             "acc": level + context + rng.normal(0, 0.1)})
    frame = pd.DataFrame(rows)
    pooled = scipy_stats.spearmanr(frame["context"], frame["acc"]).statistic
    up = trend(frame, "context", "acc")
    assert pooled < 0.5 and up.value == pytest.approx(1.0)
    assert up.verdict == "holds" and up.sample == "8 excerpts x 3 seeds"
    assert trend(frame, "context", "acc", sign=-1.0).verdict == "does not hold"
    flat = frame.assign(acc=1.0)  # no variation inside any excerpt: rho 0 each
    assert trend(flat, "context", "acc").value == 0.0

"""GNSDR / GSIR / GSAR: length-weighted means of per-clip scores (MIR-1K protocol)."""

from __future__ import annotations

import numpy as np
import pytest

from avsep.metrics import clip_scores, global_scores, weighted_mean
from avsep.metrics.synthetic import degraded_estimates, structured_sources


def test_weighted_mean_hand_case() -> None:
    # clips of 1 s, 3 s and 4 s; NSDR 2, 4, 10 dB -> (2 + 12 + 40) / 8 = 6.75
    nsdr = np.array([2.0, 4.0, 10.0])
    lengths = np.array([1.0, 3.0, 4.0])
    scores = global_scores(nsdr, sir=np.array([1.0, 1.0, 5.0]), sar=np.array([0.0, 8.0, 0.0]),
                           lengths=lengths)
    assert scores["gnsdr"] == pytest.approx(6.75)
    assert scores["gsir"] == pytest.approx((1 + 3 + 20) / 8)
    assert scores["gsar"] == pytest.approx(24 / 8)
    assert nsdr.mean() != pytest.approx(6.75)  # the weighting matters


def test_weighted_mean_skips_nan_clips_per_column() -> None:
    values = np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, np.nan]])
    out = weighted_mean(values, np.array([1.0, 3.0, 100.0]))
    assert out[0] == pytest.approx(2.5)
    assert np.isnan(out[1])


def test_weighted_mean_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="one per clip"):
        weighted_mean(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        weighted_mean(np.ones(2), np.array([1.0, -1.0]))


def test_clip_scores_nsdr_is_gain_over_the_mixture() -> None:
    sr = 8000
    refs = structured_sources(2, 2.0, sr, channels=1, seed=3)
    mixture = refs.sum(axis=0)
    as_mixture = clip_scores(refs, np.stack([mixture, mixture]), mixture, sr)
    np.testing.assert_allclose(as_mixture["nsdr"], 0.0, atol=1e-9)
    better = clip_scores(refs, degraded_estimates(refs, seed=4, leak=0.05), mixture, sr)
    assert (better["nsdr"] > 3.0).all()
    assert better["sdr"].shape == (2,)
    with pytest.raises(ValueError, match="mixture"):
        clip_scores(refs, refs, mixture[:-1], sr)

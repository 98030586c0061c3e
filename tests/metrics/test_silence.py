"""PES / EPS on silent windows (Schulze-Forster et al. 2019; conditioned U-Net sec. 4.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avsep.metrics import eps, nanmean_frames, pes, silence_scores

SR = 100


def test_pes_of_an_exactly_silent_target() -> None:
    target = torch.zeros(2 * SR, dtype=torch.float64)
    estimate = torch.full((2 * SR,), 0.1, dtype=torch.float64)
    estimate[SR:] = 0.0
    values = pes(target, estimate, SR)
    # window 0: 100 samples of 0.1 -> energy 1.0 -> 10 log10(1 + 1e-8); window 1: the floor.
    assert values.shape == (2,)
    assert float(values[0]) == pytest.approx(10 * math.log10(1.0 + 1e-8), abs=1e-12)
    assert float(values[1]) == pytest.approx(-80.0, abs=1e-12)
    whole = pes(target, estimate, SR, window=None, epsilon=1e-12)
    assert float(whole[0]) == pytest.approx(0.0 + 10 * math.log10(1 + 1e-12), abs=1e-12)


def test_pes_is_nan_where_target_sounds_and_eps_where_estimate_does() -> None:
    target = np.zeros((2, 3 * SR))
    target[0, SR:2 * SR] = 0.5  # source 0 sounds in window 1 only
    estimate = np.full((2, 3 * SR), 0.01)
    estimate[0, SR:2 * SR] = 0.0  # ... and the estimate is silent right there
    p = pes(target, estimate, SR)
    e = eps(target, estimate, SR)
    assert isinstance(p, np.ndarray) and p.shape == (2, 3)
    np.testing.assert_array_equal(np.isnan(p), [[False, True, False], [False, False, False]])
    np.testing.assert_allclose(p[1], 10 * np.log10(SR * 1e-4 + 1e-8))
    np.testing.assert_array_equal(np.isnan(e), [[True, False, True], [True, True, True]])
    assert e[0, 1] == pytest.approx(10 * math.log10(SR * 0.25 + 1e-8))


def test_silence_scores_average_defined_windows() -> None:
    target = np.zeros((1, 4 * SR))
    target[0, :SR] = 1.0
    estimate = np.zeros((1, 4 * SR))
    estimate[0, SR:2 * SR] = 0.1  # window 1: energy 1 -> ~0 dB; windows 2, 3: floor
    scores = silence_scores(target, estimate, SR)
    assert scores["pes"][0] == pytest.approx((0.0 - 80.0 - 80.0) / 3, abs=1e-6)
    assert scores["eps"][0] == pytest.approx(10 * math.log10(SR + 1e-8))
    assert np.isnan(nanmean_frames(np.array([[np.nan, np.nan]])))[0]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same shape"):
        pes(np.zeros(10), np.zeros(11), SR)
    with pytest.raises(ValueError, match="window"):
        pes(np.zeros(10), np.zeros(10), SR, window=0.0)

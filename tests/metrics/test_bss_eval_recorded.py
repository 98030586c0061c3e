"""BSS Eval v4 against museval on recorded-like stems (issue #21, item 1).

Instrument stems as a recording gives them (notes at -1 dBFS peak over a white noise floor,
:func:`avsep.metrics.synthetic.recorded_sources`) at both music rates and at both ends of
real noise floors: all four metrics within 0.01 dB of museval's in every frame, computed by
the fast path (the Levinson solution is trusted: its smallest pivot clears the tolerance).
Noiseless notes leave the Gram matrix singular; they go through the fallback that repeats
museval's arithmetic and must agree as well. 2 stereo sources, 2-2.5 s (2048-square
systems in museval), so each case takes a few seconds.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from avsep.metrics.synthetic import degraded_estimates, recorded_sources, structured_sources
from avsep.metrics.toeplitz import block_toeplitz_solve_ex
from tests.metrics.test_bss_eval import assert_matches_museval

bss_eval_module = importlib.import_module("avsep.metrics.bss_eval")


def smallest_pivot_ratio(refs: np.ndarray) -> float:
    """Smallest Levinson pivot of the full Gram system over ``λ_max(R[0])``.

    refs (sources, samples, channels). Above ``_PIVOT_TOL`` the fast path's solution is
    trusted (when its residual is small too); below it the item goes to the fallback.
    """
    basis = torch.from_numpy(np.ascontiguousarray(refs.transpose(0, 2, 1)))
    basis = basis.reshape(1, -1, refs.shape[1])
    taps = bss_eval_module.FILTERS_LEN
    lags = bss_eval_module.lagged_correlations(basis, basis, taps).permute(0, 3, 1, 2)
    lags = lags.contiguous()
    lags[:, taps - 1].diagonal(dim1=-2, dim2=-1).add_(bss_eval_module._EPS)
    rhs = torch.zeros(1, taps, basis.shape[1], 1, dtype=torch.float64)
    _, pivot = block_toeplitz_solve_ex(lags, rhs)
    top = torch.linalg.eigvalsh(lags[:, taps - 1])[:, -1]
    return float(pivot / top)


@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("floor_db", [-90.0, -60.0])
def test_recorded_like_stems_match_museval(sample_rate: int, floor_db: float) -> None:
    refs = recorded_sources(2, 2.5, sample_rate, seed=3, floor_db=floor_db)
    ests = degraded_estimates(refs, seed=4)
    assert smallest_pivot_ratio(refs) > bss_eval_module._PIVOT_TOL  # the fast path
    got = assert_matches_museval(refs, ests, 1.0, 1.0, sample_rate=sample_rate)
    assert got["sdr"].shape == (2, 2)
    assert np.isfinite(got["sir"]).all() and np.isfinite(got["sar"]).all()


def test_noiseless_stems_go_through_the_fallback_and_match_museval() -> None:
    sample_rate = 8000
    refs = structured_sources(2, 2.0, sample_rate, channels=2, seed=5, noise=0.0)
    ests = degraded_estimates(refs, seed=6)
    assert not smallest_pivot_ratio(refs) > bss_eval_module._PIVOT_TOL  # singular: fallback
    assert_matches_museval(refs, ests, 1.0, 1.0, sample_rate=sample_rate)


def test_recorded_sources_rejects_a_floor_above_full_scale() -> None:
    with pytest.raises(ValueError, match="floor_db"):
        recorded_sources(2, 1.0, 8000, floor_db=6.0)

"""Block Levinson solver against a dense solve, its pivots, and when its filters are trusted."""

from __future__ import annotations

import importlib

import pytest
import torch

from avsep.metrics.bss_eval import lagged_correlations
from avsep.metrics.toeplitz import (
    block_toeplitz_matmul,
    block_toeplitz_solve,
    block_toeplitz_solve_ex,
    dense_block_toeplitz,
)

bss_eval_module = importlib.import_module("avsep.metrics.bss_eval")


def _lags(batch: int, size: int, blocks: int, length: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, size, length, generator=gen, dtype=torch.float64)
    corr = lagged_correlations(x, x, blocks)  # (B, P, P, 2F-1)
    return corr.permute(0, 3, 1, 2).contiguous()


@pytest.mark.parametrize(("size", "blocks"), [(1, 9), (3, 20), (4, 33)])
def test_levinson_matches_dense_solve(size: int, blocks: int) -> None:
    lags = _lags(2, size, blocks, 400, seed=size)
    rhs = torch.randn(2, blocks, size, 5, dtype=torch.float64)
    got = block_toeplitz_solve(lags, rhs)
    dense = dense_block_toeplitz(lags)
    expected = torch.linalg.solve(dense, rhs.reshape(2, -1, 5)).reshape(rhs.shape)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(block_toeplitz_matmul(lags, got), rhs, rtol=1e-9, atol=1e-9)


def test_dense_layout_is_the_gram_of_delayed_signals() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 50, generator=gen, dtype=torch.float64)
    lags = lagged_correlations(x, x, 4).permute(0, 3, 1, 2)
    dense = dense_block_toeplitz(lags)[0]
    padded = torch.nn.functional.pad(x[0], (0, 3))
    basis = torch.stack([torch.roll(padded[p], a) for a in range(4) for p in range(2)])
    torch.testing.assert_close(dense, basis @ basis.T, rtol=1e-12, atol=1e-10)


def _identical_channel_system(taps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two identical channels (mono stored as stereo): the lag-0 block is singular."""
    gen = torch.Generator().manual_seed(2)
    mono = torch.randn(1, 1, 2000, generator=gen, dtype=torch.float64).repeat(1, 2, 1)
    est = mono + 0.1 * torch.randn(mono.shape, generator=gen, dtype=torch.float64)
    corr = lagged_correlations(mono, torch.cat([mono, est], dim=1), taps)
    lags = corr[:, :, :2].permute(0, 3, 1, 2).contiguous()
    return lags, corr[:, :, 2:, :taps].flip(-1).permute(0, 3, 1, 2)


def test_min_pivot_bounds_the_smallest_eigenvalue() -> None:
    # Each prediction-error matrix is the inverse of a diagonal block of T_n^-1, so its
    # eigenvalues are at least lambda_min(T); R[0] is the first of them.
    lags = _lags(batch=3, size=2, blocks=6, length=40, seed=5)
    rhs = torch.randn(3, 6, 2, 1, generator=torch.Generator().manual_seed(6),
                      dtype=torch.float64)
    _, pivot = block_toeplitz_solve_ex(lags, rhs)
    smallest = torch.linalg.eigvalsh(dense_block_toeplitz(lags))[:, 0]
    assert (pivot >= smallest * (1 - 1e-9)).all()
    assert (pivot <= torch.linalg.eigvalsh(lags[:, 5])[:, 0] * (1 + 1e-9)).all()


def test_singular_system_is_not_trusted_and_regular_one_is() -> None:
    lags, rhs = _identical_channel_system(64)
    _, trusted = bss_eval_module._levinson_filters(lags, rhs)
    assert trusted.tolist() == [False]
    regular = _lags(batch=2, size=2, blocks=64, length=3000, seed=7)
    d = torch.randn(2, 64, 2, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    x, trusted = bss_eval_module._levinson_filters(regular, d)
    assert trusted.tolist() == [True, True]
    torch.testing.assert_close(block_toeplitz_matmul(regular, x), d, rtol=1e-9, atol=1e-9)


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(ValueError, match="disagree"):
        block_toeplitz_solve(torch.zeros(1, 5, 2, 2), torch.zeros(1, 4, 2, 1))

"""The numpy/scipy kernels of BSS Eval against torch's own, and the Levinson solver on a batch
that holds an exactly singular system."""

from __future__ import annotations

import torch

from avsep.audio.threads import one_torch_thread
from avsep.metrics import kernels
from avsep.metrics.bss_eval import lagged_correlations
from avsep.metrics.toeplitz import block_toeplitz_solve_ex, dense_block_toeplitz


def test_cpu_kernels_match_torch() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 100, generator=gen, dtype=torch.float64)
    strided = x.unfold(-1, 40, 30)  # (3, 5, 3, 40), overlapping windows: a strided view
    torch.testing.assert_close(kernels.rfft(strided, 90), torch.fft.rfft(strided, n=90),
                               rtol=1e-12, atol=1e-12)
    spec = torch.fft.rfft(x, n=128)
    torch.testing.assert_close(kernels.irfft(spec.conj(), 128),
                               torch.fft.irfft(spec.conj(), n=128), rtol=1e-12, atol=1e-12)
    a = torch.randn(7, 4, 3, generator=gen, dtype=torch.complex128)
    b = torch.randn(7, 3, 2, generator=gen, dtype=torch.complex128)
    torch.testing.assert_close(kernels.matmul(a, b.conj()), a @ b.conj(), rtol=1e-12,
                               atol=1e-12)


def test_levinson_batch_with_a_singular_item() -> None:
    # item 0: a silent channel makes every lag block singular; item 1 is regular. The
    # singular item must not spoil the other one, and must show a non-positive pivot.
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 500, generator=gen, dtype=torch.float64)
    x[0, 1] = 0.0
    lags = lagged_correlations(x, x, 8).permute(0, 3, 1, 2).contiguous()
    rhs = torch.randn(2, 8, 2, 3, generator=gen, dtype=torch.float64)
    solution, pivot = block_toeplitz_solve_ex(lags, rhs)
    dense = dense_block_toeplitz(lags[1:])
    expected = torch.linalg.solve(dense, rhs[1:].reshape(1, -1, 3)).reshape(rhs[1:].shape)
    torch.testing.assert_close(solution[1:], expected, rtol=1e-9, atol=1e-12)
    assert pivot[1] > 0
    assert pivot[0] == float("-inf")  # exactly singular: NaN solves, never trusted


def test_one_torch_thread_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the test process runs 1 thread (tests/conftest.py)
    try:
        with one_torch_thread(torch.device("cpu")):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)

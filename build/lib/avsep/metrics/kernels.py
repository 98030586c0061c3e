"""The few heavy array kernels of BSS Eval: the FFTs run by scipy when the tensors are on the CPU.

On the CPU, scipy's pocketfft beats torch's own FFTs at BSS Eval's shapes (one core,
measured on the 2-core test box: 64 real FFTs of 45000 points 9 ms against 17 ms; 1200 of
8192 points 37 ms against 107 ms). Matrix products are torch's own (see :func:`matmul`).
The helpers take and return tensors (zero-copy views of the numpy results) so that
:mod:`avsep.metrics.bss_eval` is written once for every device; on other devices they are
torch's own calls.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch


def _cpu(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and not x.requires_grad


def _array(x: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor (a conjugate view is resolved first)."""
    return x.resolve_conj().numpy()


def rfft(x: torch.Tensor, n: int, dim: int = -1, workers: int = 1, reverse: bool = False
         ) -> torch.Tensor:
    """Real FFT along ``dim``, zero-padded or cut to ``n``: L -> n // 2 + 1 entries there.

    ``reverse``: transform ``x`` reversed along ``dim`` (read backwards on the CPU, no copy
    beyond the zero-padding one). On the CPU the result is C-contiguous whatever the input's
    strides, and the transforms are shared among ``workers`` threads (scipy's own; ignored on
    other devices).
    """
    if _cpu(x):
        array = _array(x)
        if reverse:
            array = np.flip(array, axis=dim)
        return torch.from_numpy(scipy.fft.rfft(array, n=n, axis=dim, workers=workers))
    return torch.fft.rfft(x.flip(dim) if reverse else x, n=n, dim=dim)


def irfft(x: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`rfft` on the last axis: (..., n // 2 + 1) -> (..., n) real."""
    if _cpu(x):
        return torch.from_numpy(scipy.fft.irfft(_array(x), n=n, axis=-1))
    return torch.fft.irfft(x, n=n)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched matrix product with broadcasting, ``a @ b``: (..., M, K) x (..., K, N).

    torch's own on every device: on the CPU, numpy's stacked products of small complex
    matrices do not run side by side on two threads (two threads took 2x the serial time on
    22501 (8, 8) x (8, 2) products, 2026-12-06), torch's do, and one thread is as fast.
    """
    return a @ b

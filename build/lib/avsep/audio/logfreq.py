"""Log-frequency warp of spectrograms to N bins and back (the Sound of Pixels grid).

Sound of Pixels resamples the linear-frequency axis (F bins) onto ``n_log`` log-spaced bins
with ``grid_sample`` (bilinear, corners aligned) and maps predicted masks back with the
inverse grid. Along frequency that grid is, for output row ``i`` of ``n_log`` rows,
``u = i / (n_log - 1)`` and source position ``(21**u - 1) / 20 * (F - 1)`` (rows crowd the
low frequencies); the inverse maps linear row ``j`` to position
``log(1 + 20 j / (F - 1)) / log(21) * (n_log - 1)`` on the warped axis.

Here each direction is a fixed (out, in) linear-interpolation matrix applied along the
frequency axis -2. A matrix (rather than ``grid_sample``) works for any leading shape, real
or complex input, on any device, with autograd; it is dense because at these sizes
(256 x 512) a dense matmul is faster than a sparse one with two non-zeros per row.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn

from avsep.audio._checks import describe, require_tensor

SOP_LOG_BINS = 256
"""Warped bins in Sound of Pixels (512 linear bins -> 256)."""
_BASE = 21.0  # Sound of Pixels' grid: 21**u - 1 spans 0..20


def _interpolation_matrix(positions: torch.Tensor, size: int) -> torch.Tensor:
    """(len(positions), size) weights of linear interpolation at fractional ``positions``."""
    positions = positions.clamp(0.0, size - 1.0)
    low = positions.floor().long().clamp(max=size - 1)
    high = (low + 1).clamp(max=size - 1)
    frac = positions - low.to(positions.dtype)
    rows = torch.arange(positions.numel())
    matrix = torch.zeros(positions.numel(), size, dtype=torch.float64)
    matrix.index_put_((rows, low), 1.0 - frac, accumulate=True)
    matrix.index_put_((rows, high), frac, accumulate=True)
    return matrix


def _check_sizes(fn: str, n_linear: int, n_log: int) -> None:
    for name, value in (("n_linear", n_linear), ("n_log", n_log)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{fn}: {name} must be an integer >= 2, got {value!r}")


@lru_cache(maxsize=16)
def _warp_matrix(n_linear: int, n_log: int) -> torch.Tensor:
    with torch.device("cpu"):  # cached: never on a default device such as "meta"
        u = torch.linspace(0.0, 1.0, n_log, dtype=torch.float64)
        positions = (torch.pow(_BASE, u) - 1.0) / (_BASE - 1.0) * (n_linear - 1)
        return _interpolation_matrix(positions, n_linear)


@lru_cache(maxsize=16)
def _unwarp_matrix(n_linear: int, n_log: int) -> torch.Tensor:
    with torch.device("cpu"):  # cached: never on a default device such as "meta"
        v = torch.linspace(0.0, 1.0, n_linear, dtype=torch.float64)
        positions = torch.log1p((_BASE - 1.0) * v) / math.log(_BASE) * (n_log - 1)
        return _interpolation_matrix(positions, n_log)


def log_warp_matrix(n_linear: int, n_log: int = SOP_LOG_BINS) -> torch.Tensor:
    """Float64 matrix (n_log, n_linear): linear bins -> log-spaced bins."""
    _check_sizes("log_warp_matrix", n_linear, n_log)
    return _warp_matrix(n_linear, n_log).clone()


def log_unwarp_matrix(n_linear: int, n_log: int = SOP_LOG_BINS) -> torch.Tensor:
    """Float64 matrix (n_linear, n_log): log-spaced bins -> linear bins."""
    _check_sizes("log_unwarp_matrix", n_linear, n_log)
    return _unwarp_matrix(n_linear, n_log).clone()


def _apply(fn: str, matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    require_tensor(fn, "x", x, kind="any", layout="(..., bins, frames)", min_ndim=2)
    if x.shape[-2] != matrix.shape[1]:
        raise ValueError(f"{fn}: x must have {matrix.shape[1]} bins on axis -2, got {describe(x)}")
    dtype = x.real.dtype
    weights = matrix.to(device=x.device, dtype=dtype)
    if x.is_complex():
        weights = weights.to(x.dtype)
    return torch.matmul(weights, x)


def log_warp(x: torch.Tensor, n_log: int = SOP_LOG_BINS) -> torch.Tensor:
    """Warp (..., F, N) linear-frequency data to (..., n_log, N) log-spaced bins."""
    require_tensor("log_warp", "x", x, kind="any", layout="(..., bins, frames)", min_ndim=2)
    _check_sizes("log_warp", x.shape[-2], n_log)
    return _apply("log_warp", _warp_matrix(x.shape[-2], n_log), x)


def log_unwarp(x: torch.Tensor, n_linear: int) -> torch.Tensor:
    """Map (..., n_log, N) log-spaced data (e.g. masks) back to (..., n_linear, N)."""
    require_tensor("log_unwarp", "x", x, kind="any", layout="(..., bins, frames)", min_ndim=2)
    _check_sizes("log_unwarp", n_linear, x.shape[-2])
    return _apply("log_unwarp", _unwarp_matrix(n_linear, x.shape[-2]), x)


class LogFrequencyWarp(nn.Module):
    """Module form: ``forward`` warps (..., n_linear, N) -> (..., n_log, N), ``inverse`` back.

    The two matrices are non-persistent buffers, so they follow ``.to(device)``.
    """

    warp: torch.Tensor
    unwarp: torch.Tensor

    def __init__(self, n_linear: int, n_log: int = SOP_LOG_BINS) -> None:
        super().__init__()
        _check_sizes("LogFrequencyWarp", n_linear, n_log)
        self.n_linear, self.n_log = n_linear, n_log
        self.register_buffer("warp", log_warp_matrix(n_linear, n_log).float(), persistent=False)
        self.register_buffer("unwarp", log_unwarp_matrix(n_linear, n_log).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply("LogFrequencyWarp.forward", self.warp, x)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return _apply("LogFrequencyWarp.inverse", self.unwarp, x)

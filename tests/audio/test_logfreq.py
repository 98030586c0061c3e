"""Log-frequency warp (Sound of Pixels grid): reference agreement, shapes, round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avsep.audio import (
    SOP_LOG_BINS,
    LogFrequencyWarp,
    log_unwarp,
    log_unwarp_matrix,
    log_warp,
    log_warp_matrix,
)


def _sop_grid(rows: int, cols: int, warp: bool) -> torch.Tensor:
    """Sound of Pixels' ``warpgrid``: the sampling grid it feeds to ``grid_sample``."""
    xv, yv = np.meshgrid(np.linspace(-1, 1, cols), np.linspace(-1, 1, rows))
    grid = np.zeros((1, rows, cols, 2))
    grid[..., 0] = xv
    if warp:
        grid[..., 1] = (np.power(21, (yv + 1) / 2) - 11) / 10
    else:
        grid[..., 1] = np.log(yv * 10 + 11) / np.log(21) * 2 - 1
    return torch.from_numpy(grid)


def test_warp_and_unwarp_match_sound_of_pixels_grid_sample() -> None:
    spec = torch.rand(3, 1, 512, 11, dtype=torch.float64)
    grid = _sop_grid(SOP_LOG_BINS, 11, warp=True).expand(3, -1, -1, -1)
    expected = F.grid_sample(spec, grid, align_corners=True)
    assert torch.allclose(log_warp(spec), expected, atol=1e-12)
    masks = torch.rand(3, 1, SOP_LOG_BINS, 11, dtype=torch.float64)
    grid = _sop_grid(512, 11, warp=False).expand(3, -1, -1, -1)
    expected = F.grid_sample(masks, grid, align_corners=True)
    assert torch.allclose(log_unwarp(masks, 512), expected, atol=1e-12)


@pytest.mark.parametrize("lead", [(), (4,), (2, 3, 2)])
def test_shapes_for_any_batch(lead: tuple[int, ...]) -> None:
    x = torch.rand(*lead, 512, 7)
    warped = log_warp(x)
    assert warped.shape == (*lead, 256, 7)
    assert log_unwarp(warped, 512).shape == x.shape
    assert log_warp(x, 64).shape == (*lead, 64, 7)


@pytest.mark.parametrize("cycles", [1, 2, 4])
def test_round_trip_on_smooth_data(cycles: int) -> None:
    freq = torch.linspace(0, 1, 512, dtype=torch.float64)[:, None]
    x = (0.5 + 0.4 * torch.sin(2 * math.pi * cycles * freq)).expand(512, 9)
    back = log_unwarp(log_warp(x), 512)
    assert (back - x).abs().max().item() < 0.01  # 4 cycles: ~0.004; rough data is far worse


def test_rows_are_interpolation_weights_on_a_log_grid() -> None:
    warp = log_warp_matrix(512, 256)
    assert warp.shape == (256, 512) and log_unwarp_matrix(512, 256).shape == (512, 256)
    assert torch.allclose(warp.sum(dim=1), torch.ones(256, dtype=torch.float64))
    assert int((warp > 0).sum(dim=1).max()) <= 2
    centres = warp @ torch.arange(512, dtype=torch.float64)  # linear bin each row reads
    steps = centres.diff()
    assert centres[0] == 0 and centres[-1] == 511
    assert torch.all(steps > 0) and steps[-1] / steps[0] == pytest.approx(21, rel=0.02)


def test_complex_input_and_module_form() -> None:
    spec = torch.randn(2, 512, 5, dtype=torch.complex64)
    warped = log_warp(spec)
    assert warped.dtype == torch.complex64
    assert torch.allclose(warped.real, log_warp(spec.real), atol=1e-6)
    module = LogFrequencyWarp(512)
    assert torch.allclose(module(spec.real), log_warp(spec.real), atol=1e-6)
    assert torch.allclose(module.inverse(warped.real), log_unwarp(warped.real, 512), atol=1e-6)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"log_warp: x must be .* got float32 \(512,\)"):
        log_warp(torch.rand(512))
    with pytest.raises(TypeError, match="int64"):
        log_warp(torch.ones(512, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="n_log must be an integer >= 2"):
        log_warp(torch.rand(512, 3), 1)
    with pytest.raises(ValueError, match=r"512 bins on axis -2, got float32 \(256, 3\)"):
        LogFrequencyWarp(512)(torch.rand(256, 3))

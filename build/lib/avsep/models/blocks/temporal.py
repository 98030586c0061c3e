"""Time-varying conditioning: per-frame features resampled to a feature map's time axis.

:class:`TemporalFiLM` is Y-Net's fusion (Montesinos et al., Acappella): visual features per
video frame are average-pooled to the width (time axis) of the audio bottleneck and two linear
layers give a scale and a bias per channel and time step, broadcast over frequency. As in
:mod:`avsep.models.blocks.film`, the scale is predicted as ``1 + delta`` so a fresh layer is
close to the identity.

Shapes: ``x (B, C, H, W)`` (H frequency, W time), ``context (B, T, D)`` -> ``(B, C, H, W)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def resample_time(features: torch.Tensor, steps: int) -> torch.Tensor:
    """Average-pool (or repeat) per-frame features (B, T, D) to (B, steps, D)."""
    if features.ndim != 3:
        raise ValueError(f"expected per-frame features (B, T, D); got {tuple(features.shape)}")
    return F.adaptive_avg_pool1d(features.transpose(1, 2), steps).transpose(1, 2)


class TemporalFiLM(nn.Module):
    """FiLM whose scale/bias vary along the last (time) axis of the modulated map."""

    def __init__(self, context_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(context_dim, 2 * channels)
        self.channels = channels

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"TemporalFiLM modulates (B, {self.channels}, H, W); "
                             f"got {tuple(x.shape)}")
        params = self.proj(resample_time(context, x.shape[-1]))  # (B, W, 2C)
        delta, beta = params.transpose(1, 2).unsqueeze(2).chunk(2, dim=1)  # (B, C, 1, W) each
        return (1.0 + delta) * x + beta

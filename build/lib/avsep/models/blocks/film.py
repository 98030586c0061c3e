"""Feature-wise linear modulation (FiLM, Perez et al. 2018): ``gamma * x + beta`` per channel.

The generator is one fully connected layer per conditioned layer (Slizovskaia et al., eq. 8).
It predicts ``gamma - 1`` so that a freshly initialised FiLM is close to the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def apply_film(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``gamma * x + beta`` with ``x (B, C, *spatial)`` and ``gamma``/``beta`` (B, C)."""
    if gamma.shape != x.shape[:2] or beta.shape != x.shape[:2]:
        raise ValueError(
            f"FiLM parameters must be (B, C) = {tuple(x.shape[:2])}; "
            f"got gamma {tuple(gamma.shape)}, beta {tuple(beta.shape)}"
        )
    view = (*x.shape[:2], *([1] * (x.ndim - 2)))
    return gamma.reshape(view) * x + beta.reshape(view)


class FiLMGenerator(nn.Module):
    """Context vector (B, D) -> one ``(gamma, beta)`` pair (each (B, C_j)) per channel count.

    ``channels`` lists C_j of the layers to modulate (one entry for bottleneck/final FiLM,
    one per encoder block for encoder FiLM).
    """

    def __init__(self, context_dim: int, channels: Sequence[int]) -> None:
        super().__init__()
        if context_dim <= 0 or not channels:
            raise ValueError(
                f"FiLMGenerator needs context_dim > 0 and at least one layer; got "
                f"context_dim={context_dim}, channels={list(channels)}"
            )
        self.channels = tuple(int(c) for c in channels)
        self.layers = nn.ModuleList(nn.Linear(context_dim, 2 * c) for c in self.channels)

    def forward(self, context: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        params = []
        for layer in self.layers:
            delta_gamma, beta = layer(context).chunk(2, dim=-1)
            params.append((1.0 + delta_gamma, beta))
        return params


class FiLM(nn.Module):
    """A single FiLM layer: ``forward(x (B, C, *S), context (B, D)) -> (B, C, *S)``."""

    def __init__(self, context_dim: int, channels: int) -> None:
        super().__init__()
        self.generator = FiLMGenerator(context_dim, [channels])

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        (gamma, beta), = self.generator(context)
        return apply_film(x, gamma, beta)

"""Mask activations for separation outputs with the source axis at dim 1.

``sigmoid`` (ratio/binary masks in [0, 1]), ``softmax`` (masks summing to one over sources),
``relu`` (unbounded non-negative masks or magnitudes), ``none`` (raw), ``tanh`` (bounded:
``bound * tanh(x)``, used for the real and imaginary parts of a complex ratio mask).
"""

from __future__ import annotations

import torch
from torch import nn

MASK_ACTIVATIONS = ("sigmoid", "softmax", "relu", "none", "tanh")
DEFAULT_ACTIVATION = {"ratio": "sigmoid", "binary": "sigmoid", "complex": "tanh",
                      "direct": "relu"}


class MaskActivation(nn.Module):
    """Elementwise mask activation; ``softmax`` normalises over dim 1 (sources).

    Shapes: ``(B, S, ...) -> (B, S, ...)``.
    """

    def __init__(self, name: str = "sigmoid", bound: float = 1.0) -> None:
        super().__init__()
        if name not in MASK_ACTIVATIONS:
            raise ValueError(
                f"unknown mask activation {name!r}; valid choices: {', '.join(MASK_ACTIVATIONS)}"
            )
        if bound <= 0:
            raise ValueError(f"mask bound must be > 0; got {bound}")
        self.name = name
        self.bound = float(bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name == "sigmoid":
            return torch.sigmoid(x)
        if self.name == "softmax":
            return torch.softmax(x, dim=1)
        if self.name == "relu":
            return torch.relu(x)
        if self.name == "tanh":
            return self.bound * torch.tanh(x)
        return x

    def extra_repr(self) -> str:
        return f"{self.name}" + (f", bound={self.bound}" if self.name == "tanh" else "")


def complex_mask(x: torch.Tensor) -> torch.Tensor:
    """Complex ratio mask from real/imag outputs: ``x (B, S, 2, ...)`` -> complex ``(B, S, ...)``.

    The mask is left unbounded: it multiplies the mixture STFT as it is, and the ``complex``
    loss (:mod:`avsep.models.losses`) compares ``K tanh`` of its parts with Y-Net's bounded
    target ``K tanh(S / X)``, so training happens in the bounded domain.
    """
    if x.shape[2] != 2:
        raise ValueError(f"complex mask logits need a size-2 axis at dim 2; got {tuple(x.shape)}")
    y = x.float()
    return torch.complex(y[:, :, 0], y[:, :, 1])

"""DenseNet parts (Huang et al. 2017) as used by MMDenseNet (Takahashi & Mitsufuji 2017).

Every convolution is pre-activation ``BN -> ReLU -> Conv`` (Li et al., footnote 4).
Shapes: ``(B, C, *spatial) -> (B, C', *spatial)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from avsep.models.blocks.conv import ConvBlock


class DenseBlock(nn.Module):
    """``num_layers`` pre-activation convs, each seeing all earlier feature maps.

    Convs have no bias: every consumer of their maps starts with a BatchNorm.
    Output: the concatenation of the input and every layer's ``growth`` maps, so
    ``out_channels = in_channels + num_layers * growth`` (``include_input=True``) or
    ``num_layers * growth`` (``include_input=False``, MMDenseNet's variant).
    """

    def __init__(
        self,
        in_channels: int,
        growth: int,
        num_layers: int,
        kernel_size: int | Sequence[int] = 3,
        dims: int = 2,
        include_input: bool = True,
    ) -> None:
        super().__init__()
        if growth <= 0 or num_layers <= 0:
            raise ValueError(f"DenseBlock needs growth > 0 and num_layers > 0; got "
                             f"growth={growth}, num_layers={num_layers}")
        self.include_input = include_input
        self.layers = nn.ModuleList(
            ConvBlock(in_channels + i * growth, growth, kernel_size, dims=dims, preact=True,
                      bias=False)
            for i in range(num_layers)
        )
        self.out_channels = num_layers * growth + (in_channels if include_input else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features if self.include_input else features[1:], dim=1)


class Compression(nn.Module):
    """1×1 pre-activation conv keeping ``max(1, floor(ratio * C))`` channels (DenseNet-BC).

    No bias by default: its output normally feeds another pre-activation BatchNorm.
    """

    def __init__(self, in_channels: int, ratio: float, dims: int = 2, bias: bool = False) -> None:
        super().__init__()
        if not 0 < ratio <= 1:
            raise ValueError(f"compression ratio must be in (0, 1]; got {ratio}")
        self.out_channels = max(1, int(in_channels * ratio))
        self.conv = ConvBlock(in_channels, self.out_channels, 1, dims=dims, preact=True,
                              bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

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

    def forward(self, x: torch.Tensor, *more: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C_in, *S), or several parts concatenated along channels (``x, *more``:
        channels summing to ``in_channels``) -> (B, out_channels, *S)."""
        if not torch.is_grad_enabled() and x.shape[0] == 1 and not torch.jit.is_tracing():
            return self._forward_inference((x, *more))  # (ONNX export traces the cat path)
        features = [torch.cat((x, *more), dim=1) if more else x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features if self.include_input else features[1:], dim=1)

    def _forward_inference(self, parts: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The same numbers as the training path without a ``torch.cat`` per layer (inference,
        batch of 1): every layer writes its maps into one preallocated buffer (B, out, *S)
        and reads the buffer's channel prefix, contiguous for one item. Serving paper-size
        MMDenseNet in bf16 spent a quarter of its time allocating and filling those
        concatenations (docs/serve.md); for B > 1 the prefix would be strided, which costs
        more than the ``cat`` saves, so batches take the path above. The buffer takes the dtype
        ``torch.cat`` would give (promotion of the inputs and the layers' outputs), so the
        values equal the training path's exactly."""
        first = parts[0]
        c_in = sum(p.shape[1] for p in parts)
        growth = self.layers[0].conv.out_channels
        dtype = parts[0].dtype
        for part in parts[1:]:
            dtype = torch.promote_types(dtype, part.dtype)
        buffer = first.new_empty((first.shape[0], c_in + len(self.layers) * growth,
                                  *first.shape[2:]), dtype=dtype)
        filled = 0
        for part in parts:
            buffer[:, filled:filled + part.shape[1]] = part
            filled += part.shape[1]
        for layer in self.layers:
            out = layer(buffer[:, :filled])
            if torch.promote_types(buffer.dtype, out.dtype) != buffer.dtype:
                buffer = buffer.to(torch.promote_types(buffer.dtype, out.dtype))
            buffer[:, filled:filled + growth] = out
            filled += growth
        return buffer if self.include_input else buffer[:, c_in:]


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

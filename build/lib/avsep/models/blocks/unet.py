"""A configurable U-Net (Ronneberger et al. 2015; Jansson et al. 2017) for spectrograms.

Encoder: ``depth`` strided conv blocks (default 4×4, stride 2, padding 1, BN, LeakyReLU 0.2),
each halving every spatial axis (``floor(n / 2)``). Decoder: per level, interpolate to the
matching encoder feature's size, concatenate that skip, conv 3×3 + BN + ReLU + dropout; a last
level interpolates to the input size and convolves to ``out_channels`` (no norm/activation:
the model's head decides). Interpolating to the skip's exact size lets any input size of at
least ``2**depth`` along each axis through without padding.

Hooks for conditioning:
* ``films``: one ``(gamma, beta)`` pair (each (B, C_j)) per encoder block, applied after its
  norm (FiLM-encoder);
* ``bottleneck``: a callable ``z (B, C_last, h, w) -> (B, C_last + bottleneck_extra, h, w)``
  applied to the deepest features before decoding (FiLM-bottleneck, visual concatenation).

Shapes (2-D): ``x (B, C_in, H, W) -> (B, out_channels, H, W)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from avsep.models.blocks.conv import ConvBlock, conv_layer

UPSAMPLING = ("bilinear", "nearest")
_LINEAR_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}

Films = Sequence[tuple[torch.Tensor, torch.Tensor] | None]


class UNetEncoder(nn.Module):
    """Strided conv blocks; ``forward`` returns every block's output, deepest last."""

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128, 256, 512),
        kernel_size: int = 4,
        stride: int = 2,
        padding: int = 1,
        norm: str = "batch",
        act: str = "leaky_relu",
        dims: int = 2,
    ) -> None:
        super().__init__()
        if not channels:
            raise ValueError("UNetEncoder needs at least one block (channels is empty)")
        self.channels = tuple(int(c) for c in channels)
        ins = (in_channels, *self.channels[:-1])
        self.blocks = nn.ModuleList(
            ConvBlock(i, o, kernel_size, stride, padding, dims=dims, norm=norm, act=act)
            for i, o in zip(ins, self.channels, strict=True)
        )

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def forward(self, x: torch.Tensor, films: Films | None = None) -> list[torch.Tensor]:
        small = [n for n in x.shape[2:] if n < 2 ** self.depth]
        if small:
            raise ValueError(
                f"U-Net input {tuple(x.shape[2:])} is too small for {self.depth} levels; every "
                f"axis needs >= {2 ** self.depth}"
            )
        if films is not None and len(films) != self.depth:
            raise ValueError(f"need {self.depth} FiLM pairs for the encoder; got {len(films)}")
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x, films[i] if films is not None else None)
            feats.append(x)
        return feats


class UNetDecoder(nn.Module):
    """Upsample + skip-concat + conv blocks back to the input size; see module docstring."""

    def __init__(
        self,
        channels: Sequence[int],
        out_channels: int,
        bottleneck_channels: int | None = None,
        kernel_size: int = 3,
        norm: str = "batch",
        act: str = "relu",
        dropout: float = 0.2,
        upsampling: str = "bilinear",
        dims: int = 2,
    ) -> None:
        super().__init__()
        if upsampling not in UPSAMPLING:
            raise ValueError(
                f"unknown upsampling {upsampling!r}; valid choices: {', '.join(UPSAMPLING)}"
            )
        self.mode = _LINEAR_MODE[dims] if upsampling == "bilinear" else "nearest"
        channels = tuple(int(c) for c in channels)
        prev = bottleneck_channels or channels[-1]
        blocks = []
        for skip in reversed(channels[:-1]):
            blocks.append(ConvBlock(prev + skip, skip, kernel_size, dims=dims, norm=norm,
                                    act=act, dropout=dropout))
            prev = skip
        self.blocks = nn.ModuleList(blocks)
        self.final = conv_layer(prev, out_channels, kernel_size, dims=dims)

    def _up(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        kwargs = {"align_corners": False} if self.mode != "nearest" else {}
        return F.interpolate(x, size=tuple(size), mode=self.mode, **kwargs)

    def forward(
        self, z: torch.Tensor, skips: Sequence[torch.Tensor], size: Sequence[int]
    ) -> torch.Tensor:
        """``z`` deepest features, ``skips`` encoder outputs shallow-first (without the last),
        ``size`` the input's spatial size -> (B, out_channels, *size)."""
        return self.final(self.features(z, skips, size))

    def features(
        self, z: torch.Tensor, skips: Sequence[torch.Tensor], size: Sequence[int]
    ) -> torch.Tensor:
        """Like ``forward`` but returns the last hidden features at the input size
        (B, channels[0], *size), before the final conv (for FiLM-final conditioning)."""
        if len(skips) != len(self.blocks):
            raise ValueError(f"decoder expects {len(self.blocks)} skips; got {len(skips)}")
        x = z
        for block, skip in zip(self.blocks, reversed(skips), strict=True):
            x = block(torch.cat([self._up(x, skip.shape[2:]), skip], dim=1))
        return self._up(x, size)


class UNet(nn.Module):
    """Encoder + decoder with the conditioning hooks described in the module docstring."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128, 256, 512),
        bottleneck_extra: int = 0,
        encoder_kernel: int = 4,
        decoder_kernel: int = 3,
        encoder_act: str = "leaky_relu",
        decoder_act: str = "relu",
        norm: str = "batch",
        dropout: float = 0.2,
        upsampling: str = "bilinear",
        dims: int = 2,
    ) -> None:
        super().__init__()
        self.encoder = UNetEncoder(in_channels, channels, encoder_kernel, norm=norm,
                                   act=encoder_act, dims=dims)
        self.bottleneck_channels = self.encoder.channels[-1] + bottleneck_extra
        self.decoder = UNetDecoder(channels, out_channels, self.bottleneck_channels,
                                   decoder_kernel, norm, decoder_act, dropout, upsampling, dims)

    def forward(
        self,
        x: torch.Tensor,
        bottleneck: Callable[[torch.Tensor], torch.Tensor] | None = None,
        films: Films | None = None,
    ) -> torch.Tensor:
        feats = self.encoder(x, films)
        z = feats[-1] if bottleneck is None else bottleneck(feats[-1])
        if z.shape[1] != self.bottleneck_channels:
            raise ValueError(
                f"bottleneck hook must return {self.bottleneck_channels} channels; "
                f"got {z.shape[1]}"
            )
        return self.decoder(z, feats[:-1], x.shape[2:])

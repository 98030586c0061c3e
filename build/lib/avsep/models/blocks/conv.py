"""Convolution + normalisation + activation blocks for 1-D, 2-D and 3-D inputs.

Shapes: ``(B, C_in, *spatial) -> (B, C_out, *spatial')`` with ``len(spatial) == dims``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from avsep.models.blocks.film import apply_film

ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "none")
NORMS = ("batch", "instance", "none")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_BATCH = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INSTANCE = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_DROPOUT = {1: nn.Dropout, 2: nn.Dropout2d, 3: nn.Dropout3d}


def _check_dims(dims: int) -> None:
    if dims not in _CONV:
        raise ValueError(f"dims must be 1, 2 or 3; got {dims!r}")


def activation(name: str, negative_slope: float = 0.2) -> nn.Module:
    """An activation module by name (one of :data:`ACTIVATIONS`)."""
    makers = {
        "relu": lambda: nn.ReLU(inplace=False),
        "leaky_relu": lambda: nn.LeakyReLU(negative_slope),
        "elu": nn.ELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "none": nn.Identity,
    }
    if name not in makers:
        raise ValueError(f"unknown activation {name!r}; valid choices: {', '.join(ACTIVATIONS)}")
    return makers[name]()


def norm_layer(name: str, channels: int, dims: int = 2) -> nn.Module:
    """A normalisation layer over ``channels`` (one of :data:`NORMS`)."""
    _check_dims(dims)
    if name == "batch":
        return _BATCH[dims](channels)
    if name == "instance":
        return _INSTANCE[dims](channels, affine=True)
    if name == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {name!r}; valid choices: {', '.join(NORMS)}")


def conv_layer(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str | None = None,
    dims: int = 2,
    transposed: bool = False,
    bias: bool = True,
) -> nn.Module:
    """A plain ``Conv{dims}d`` (or transposed); ``padding=None`` keeps size for odd kernels."""
    _check_dims(dims)
    if padding is None:
        ks = (kernel_size,) * dims if isinstance(kernel_size, int) else tuple(kernel_size)
        padding = tuple(k // 2 for k in ks)
    cls = _CONV_T[dims] if transposed else _CONV[dims]
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)


class ConvBlock(nn.Module):
    """``conv -> norm -> [FiLM] -> act -> dropout`` (or pre-activation ``norm -> act -> conv``).

    Args:
        preact: pre-activation order (BN+ReLU+Conv, as in DenseNet / Li et al.); FiLM is not
            available in that order.
        bias: conv bias; default: only when no norm follows (``norm="none"`` or ``preact``).
            Pass ``False`` for pre-activation convs whose output feeds another BatchNorm.
    Shapes: ``x (B, C_in, *S) -> (B, C_out, *S')``; ``film`` = ``(gamma, beta)`` each (B, C_out).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str | None = None,
        dims: int = 2,
        norm: str = "batch",
        act: str = "relu",
        dropout: float = 0.0,
        preact: bool = False,
        transposed: bool = False,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        self.preact = preact
        if bias is None:  # a bias right before a BatchNorm is redundant
            bias = norm == "none" or preact
        self.conv = conv_layer(in_channels, out_channels, kernel_size, stride, padding, dims,
                               transposed, bias)
        self.norm = norm_layer(norm, in_channels if preact else out_channels, dims)
        self.act = activation(act)
        self.drop = _DROPOUT[dims](dropout) if dropout > 0 else nn.Identity()

    def forward(
        self, x: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        if self.preact:
            if film is not None:
                raise ValueError("FiLM is not supported by a pre-activation ConvBlock")
            if not torch.is_grad_enabled() and isinstance(self.act, nn.ReLU) \
                    and isinstance(self.norm, nn.modules.batchnorm._BatchNorm):
                # inference: ReLU in place on the BatchNorm's fresh output (the same values,
                # one activation map less to allocate and write; MMDenseNet serving)
                return self.drop(self.conv(self.norm(x).relu_()))
            return self.drop(self.conv(self.act(self.norm(x))))
        x = self.norm(self.conv(x))
        if film is not None:
            x = apply_film(x, *film)
        return self.drop(self.act(x))

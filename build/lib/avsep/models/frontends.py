"""Visual front-ends: interchangeable modules with one contract.

    frames (B, V, T, Cv, H, W) uint8 in [0, 255] or float in [0, 1]  ->  features (B, V, T, D)

V video streams (one per singer or instrument), T frames; every front-end keeps T (no temporal
pooling) and exposes its output size as ``.dim``. Build one with :func:`build_frontend`:

=================  ===========================================================================
``conv2d_lstm``    Li et al.: per frame Conv2D@16, 16, 32, 32 (3×3, BN, ReLU, 2×2 max-pool),
                   FC@256, then LSTM@128 over time and FC@``dim``
``conv3d``         Li et al.'s Conv3D variant: Conv3D@64 (5×7×7, stride 1×2×2) over the clip,
                   Conv2D@128, @256 per frame, global average pool, FC@``dim``
``dense_lstm``     Li et al.'s Dense+LSTM variant: four dense blocks (2 layers, growth 12) with
                   2×2 pooling, 1×1 compression to 32, FC@256, LSTM@128, FC@``dim``
``resnet18/50``    torchvision ResNet (random init; ``weights=PATH`` loads a local ``.pth`` /
                   ``.pt`` state dict with ``torch.load(weights_only=True)`` or a
                   ``.safetensors`` file: the models' ``frontend_weights`` option), features
                   per frame (512 / 2048), projected to ``dim`` when ``dim`` is given
``vocalist``       VocaLiST's 3-D conv visual encoder (``avsep.models.vocalist``), loaded from a
                   VocaLiST checkpoint (``weights``) when given, frozen unless ``trainable``
``none``           no visual input: :func:`build_frontend` returns ``None``
=================  ===========================================================================

``trainable=False`` freezes any front-end: no gradients and BatchNorm kept in eval mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avsep.models.blocks.conv import ConvBlock
from avsep.models.blocks.dense import Compression, DenseBlock

FRONTENDS = ("conv2d_lstm", "conv3d", "dense_lstm", "resnet18", "resnet50", "vocalist", "none")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VisualFrontend(nn.Module):
    """Base class: turns frames into per-frame features; subclasses implement ``encode``.

    ``encode(x (N, T, Cv, H, W) float, standardised) -> (N, T, D)`` with N = B * V.
    """

    dim: int

    def __init__(self, in_channels: int, trainable: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.trainable = trainable

    def finish(self) -> None:
        """Call at the end of a subclass ``__init__``: applies ``trainable``."""
        self.requires_grad_(self.trainable)
        if not self.trainable:
            self.eval()

    def train(self, mode: bool = True) -> VisualFrontend:
        return super().train(mode and self.trainable)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Zero mean, unit variance per clip and channel (Li et al.): (N, T, Cv, H, W)."""
        mean = x.mean(dim=(1, 3, 4), keepdim=True)
        std = x.std(dim=(1, 3, 4), keepdim=True).clamp_min(1e-3)
        return (x - mean) / std

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 6 or frames.shape[3] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects frames (B, V, T, Cv={self.in_channels}, H, W); "
                f"got {tuple(frames.shape)}"
            )
        b, v, t = frames.shape[:3]
        x = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()
        feats = self.encode(self.standardise(x.reshape(b * v, *x.shape[2:])))
        return feats.reshape(b, v, t, self.dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class RecurrentHead(nn.Module):
    """Li et al.'s temporal tail: FC@256 + ReLU, LSTM@128 over time, FC@``dim``.

    Shapes: ``(N, T, in_features) -> (N, T, dim)``.
    """

    def __init__(self, in_features: int, dim: int, fc: int = 256, hidden: int = 128) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(in_features, fc), nn.ReLU())
        self.lstm = nn.LSTM(fc, hidden, batch_first=True)
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.lstm(self.fc(x))[0])


def _per_frame(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D ``net`` to every frame: (N, T, C, H, W) -> (N, T, features)."""
    n, t = x.shape[:2]
    return net(x.reshape(n * t, *x.shape[2:])).reshape(n, t, -1)


class Conv2dLSTM(VisualFrontend):
    """Li et al.'s front-end (see module table); spatial size reduced to 4×4 before FC."""

    def __init__(self, in_channels: int = 3, dim: int = 128,
                 channels: Sequence[int] = (16, 16, 32, 32), trainable: bool = True) -> None:
        super().__init__(in_channels, trainable)
        layers: list[nn.Module] = []
        prev = in_channels
        for c in channels:
            layers += [ConvBlock(prev, c, 3), nn.MaxPool2d(2, ceil_mode=True)]
            prev = c
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten()]
        self.cnn = nn.Sequential(*layers)
        self.head = RecurrentHead(prev * 16, dim)
        self.dim = dim
        self.finish()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(_per_frame(self.cnn, x))


class DenseLSTM(VisualFrontend):
    """Li et al.'s Dense+LSTM variant (see module table)."""

    def __init__(self, in_channels: int = 3, dim: int = 128, blocks: int = 4, growth: int = 12,
                 layers: int = 2, trainable: bool = True) -> None:
        super().__init__(in_channels, trainable)
        mods: list[nn.Module] = []
        prev = in_channels
        for _ in range(blocks):
            block = DenseBlock(prev, growth, layers)
            mods += [block, nn.MaxPool2d(2, ceil_mode=True)]
            prev = block.out_channels
        squeeze = Compression(prev, 32 / prev) if prev > 32 else nn.Identity()
        mods += [squeeze, nn.AdaptiveAvgPool2d(4), nn.Flatten()]
        self.cnn = nn.Sequential(*mods)
        self.head = RecurrentHead(min(prev, 32) * 16, dim)
        self.dim = dim
        self.finish()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(_per_frame(self.cnn, x))


class Conv3dFrontend(VisualFrontend):
    """Li et al.'s Conv3D variant (see module table); no recurrence."""

    def __init__(self, in_channels: int = 3, dim: int = 128, trainable: bool = True) -> None:
        super().__init__(in_channels, trainable)
        self.conv3d = ConvBlock(in_channels, 64, (5, 7, 7), (1, 2, 2), (2, 3, 3), dims=3)
        self.cnn = nn.Sequential(ConvBlock(64, 128, 3, 2), ConvBlock(128, 256, 3, 2),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out = nn.Linear(256, dim)
        self.dim = dim
        self.finish()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3d(x.transpose(1, 2))  # (N, 64, T, H/2, W/2)
        return self.out(_per_frame(self.cnn, y.transpose(1, 2)))


class ResNetFrontend(VisualFrontend):
    """torchvision ResNet-18/50 per frame, ImageNet normalisation, optional projection.

    Grey frames (Cv = 1) are repeated to three channels. ``weights`` is a local file holding a
    torchvision ResNet state dict (the ``fc`` entries are ignored).
    """

    def __init__(self, depth: int = 18, in_channels: int = 3, dim: int | None = None,
                 weights: str | Path | None = None, trainable: bool = True) -> None:
        super().__init__(in_channels, trainable)
        import torchvision

        if in_channels not in (1, 3):
            raise ValueError(f"resnet front-ends take 1 or 3 video channels; got {in_channels}")
        net = {18: torchvision.models.resnet18, 50: torchvision.models.resnet50}[depth](
            weights=None)
        features = net.fc.in_features
        net.fc = nn.Identity()
        if weights is not None:
            load_resnet_weights(net, weights)
        self.net = net
        self.proj = nn.Linear(features, dim) if dim else nn.Identity()
        self.dim = dim or features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1), False)
        self.finish()

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] == 1:
            x = x.expand(-1, -1, 3, -1, -1)
        return (x - self.mean) / self.std

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(_per_frame(self.net, x))


WEIGHTS_OPTION = "frontend_weights"


def read_state_dict(path: str | Path, what: str = "resnet weights") -> dict[str, torch.Tensor]:
    """Tensors of a local ``.safetensors`` file or a torch state dict (``.pth``/``.pt``, read with
    ``weights_only=True``); every error names the model option that gave the path."""
    path = Path(path)
    hint = (f"model option {WEIGHTS_OPTION}: give the absolute path of a local "
            ".pth/.safetensors state dict (nothing is downloaded)")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: no such file ({hint})")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's input error
        raise ValueError(f"{what} {path}: not a readable state dict ({err}; {hint})") from err
    if not isinstance(state, dict):
        raise ValueError(f"{what} {path}: expected a state dict, got {type(state)} ({hint})")
    return state


def load_resnet_weights(net: nn.Module, path: str | Path) -> None:
    """Load a torchvision ResNet state dict from a local ``path`` (``.pth``, ``.pt`` or
    ``.safetensors``; ``fc.*`` entries are ignored, everything else must fit exactly)."""
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("fc.")}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise ValueError(f"resnet weights {path}: do not fit this ResNet ({err}); model "
                         f"option {WEIGHTS_OPTION} needs a torchvision ResNet of the "
                         "front-end's depth") from err
    if missing or unexpected:
        raise ValueError(f"resnet weights {path}: do not fit this ResNet "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]}); model option "
                         f"{WEIGHTS_OPTION} needs a torchvision ResNet of the front-end's depth")


def build_frontend(name: str, *, in_channels: int = 3, dim: int | None = 128,
                   weights: str | Path | None = None, trainable: bool = True,
                   **options: Any) -> VisualFrontend | nn.Module | None:
    """Build the front-end ``name`` (one of :data:`FRONTENDS`); ``none`` gives ``None``.

    ``dim`` is the output size (``None`` keeps a ResNet's 512 / 2048 features; the VocaLiST
    encoder has its own fixed size). ``weights`` is a local file for ``resnet*`` (state dict)
    and ``vocalist`` (VocaLiST checkpoint). ``options`` go to the front-end class.
    """
    if name not in FRONTENDS:
        raise ValueError(
            f"unknown visual front-end {name!r}; valid choices: {', '.join(FRONTENDS)}"
        )
    if weights is not None and name not in ("resnet18", "resnet50", "vocalist"):
        raise ValueError(f"front-end {name!r} takes no weights file; only resnet18, resnet50 "
                         "and vocalist do")
    if name == "none":
        return None
    if name == "vocalist":
        from avsep.models.vocalist import build_visual_encoder

        return build_visual_encoder(weights, trainable, **options)
    if name.startswith("resnet"):
        return ResNetFrontend(int(name[6:]), in_channels, dim, weights, trainable, **options)
    cls = {"conv2d_lstm": Conv2dLSTM, "conv3d": Conv3dFrontend, "dense_lstm": DenseLSTM}[name]
    return cls(in_channels=in_channels, dim=dim or 128, trainable=trainable, **options)

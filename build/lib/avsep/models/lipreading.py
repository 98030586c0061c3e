"""Lip-reading visual front-end (Petridis et al. 2018), the "Lip-reading" row of Li et al.'s
Fig. 9: a visual feature extractor pre-trained on word lip reading (LRW), frozen, whose per-frame
features replace the Conv2D+LSTM front-end of the AV MMDenseNet.

Architecture (the visual stream of Petridis et al., "End-to-end audiovisual speech
recognition", ICASSP 2018), on grey mouth crops:

* ``stem``  Conv3D@64, kernel 5×7×7 (time × height × width), stride 1×2×2, padding 2×3×3,
  BatchNorm3d, ReLU, max-pool 1×3×3 with stride 1×2×2 (time untouched);
* ``trunk`` ResNet-34 (torchvision's ``layer1``–``layer4``, basic blocks 3-4-6-3, 64→512
  channels) applied to every frame, global average pool: 512 features per frame;
* ``gru``   2-layer bidirectional GRU, 1024 units per direction: 2048 features per frame;
* ``proj``  a linear layer to ``dim`` (trainable; not in the original model, it sizes the
  features for the separator's fusion as the other front-ends' last FC does).

Nothing is downloaded: without ``weights`` the extractor is randomly initialised (and then
best left trainable). ``weights`` is a local ``.pth``/``.pt``/``.safetensors`` state dict **in
this module's layout** (keys ``stem.*``, ``trunk.*``, ``gru.*``, as ``LipReadingFrontend.
state_dict()`` names them, ``proj.*`` optional); a checkpoint of the original release must
be renamed to these keys first. With weights the extractor is frozen by default
(``trainable=False``, the paper's use) while ``proj`` keeps training.

Input: frames (B, V, T, Cv, H, W), uint8 or float in [0, 1]; colour is reduced to luma
(ITU-R BT.601) and each clip standardised (zero mean, unit variance). Output: (B, V, T, dim).
Time is never pooled, so the features stay at the video frame rate.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from avsep.models.frontends import VisualFrontend, read_state_dict

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
GRU_UNITS = 1024
TRUNK_FEATURES = 512
OPTION = "frontend_weights"


class LipReadingFrontend(VisualFrontend):
    """Conv3D + ResNet-34 + 2-layer BGRU lip-reading features; see the module docstring.

    ``encode(x (N, T, 1, H, W)) -> (N, T, dim)``; H and W of at least 8 pixels.
    """

    def __init__(self, in_channels: int = 3, dim: int = 128,
                 weights: str | Path | None = None, trainable: bool | None = None) -> None:
        if in_channels not in (1, 3):
            raise ValueError(f"the lipreading front-end takes 1 or 3 video channels (reduced to "
                             f"grey); got {in_channels}")
        frozen = weights is not None if trainable is None else not trainable
        super().__init__(in_channels, trainable=True)
        import torchvision

        self.stem = nn.Sequential(
            nn.Conv3d(1, 64, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False),
            nn.BatchNorm3d(64), nn.ReLU(),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        resnet = torchvision.models.resnet34(weights=None)
        self.trunk = nn.Sequential(resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4,
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.gru = nn.GRU(TRUNK_FEATURES, GRU_UNITS, num_layers=2, batch_first=True,
                          bidirectional=True)
        self.proj = nn.Linear(2 * GRU_UNITS, dim)
        self.dim = dim
        self.register_buffer("luma", torch.tensor(LUMA_WEIGHTS).view(1, 1, 3, 1, 1), False)
        if weights is not None:
            self.load_weights(weights)
        self.frozen = frozen
        if frozen:  # the extractor stays as loaded; the projection trains
            for part in (self.stem, self.trunk, self.gru):
                part.requires_grad_(False)

    def train(self, mode: bool = True) -> LipReadingFrontend:
        super().train(mode)
        if getattr(self, "frozen", False):
            for part in (self.stem, self.trunk, self.gru):
                part.eval()
        return self

    def load_weights(self, path: str | Path) -> None:
        """Load a local state dict in this module's layout (``proj.*`` optional)."""
        state = read_state_dict(path, "lipreading weights")
        hint = (f"model option {OPTION} needs a state dict with this front-end's keys (stem.*, "
                "trunk.*, gru.*, as LipReadingFrontend().state_dict() names them)")
        try:
            missing, unexpected = self.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise ValueError(f"lipreading weights {path}: do not fit ({err}); {hint}") from err
        missing = [k for k in missing if not k.startswith("proj.")]
        if missing or unexpected:
            raise ValueError(f"lipreading weights {path}: do not fit (missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}); {hint}")

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Luma, then zero mean and unit variance per clip: (N, T, Cv, H, W) -> (N, T, 1, H, W)."""
        if x.shape[2] == 3:
            x = (x * self.luma).sum(dim=2, keepdim=True)
        return super().standardise(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        y = self.stem(x.transpose(1, 2))  # (N, 64, T, H/4, W/4)
        y = y.transpose(1, 2).reshape(n * t, *y.shape[1:2], *y.shape[3:])
        y = self.trunk(y).reshape(n, t, TRUNK_FEATURES)
        return self.proj(self.gru(y)[0])

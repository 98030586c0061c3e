"""Sound of Pixels (Zhao et al. 2018) as the Solos paper trains it (Montesinos et al. 2020).

* audio: magnitude STFT (11025 Hz, Hann 1022, hop 256: 512 bins × 256 frames for 6 s),
  warped to 256 log-spaced bins (:class:`avsep.audio.logfreq.LogFrequencyWarp`), in dB
  normalised to [-1, 1] per spectrogram (:func:`avsep.audio.scales.db_normalize`);
* audio net: U-Net (:class:`avsep.models.blocks.unet.UNet`) with 7 blocks of 32, 64, 128,
  256, 512, 512, 512 channels and a static latent space, giving K = 32 spectral components
  S_k (same size as the input);
* visual net: a front-end from :mod:`avsep.models.frontends` (paper: ResNet-18) projected to
  K, max-pooled over the clip's frames and squashed with a sigmoid: one K-vector v per
  visual stream, one stream per source;
* synthesizer: mask_s = σ(Σ_k α_k v_{s,k} S_k + β) with K learnable α and one β; binary
  masks trained with BCE weighted by log1p|X| (the zoo's ``binary`` loss);
* masks are predicted on the log-frequency grid and warped back to the linear STFT grid;
* learning rates (Solos §IV-A): 1e-3 for the U-Net and synthesizer, 1e-4 for the pre-trained
  visual net: :meth:`SoundOfPixels.param_groups` gives the optimizer groups, the visual net at
  ``visual_lr_scale`` (0.1) times the base rate. Pre-trained ResNet weights come from a local
  file (``frontend_weights: /abs/resnet18.pth|.safetensors``); nothing is downloaded.

Departures (see docs/models_extra.md): the zoo's U-Net decodes with bilinear upsampling +
3×3 conv instead of transposed convolutions; the ResNet is torchvision's (global average
pool + linear projection) instead of a dilated ResNet with spatial max pooling; the BCE is
computed on the linear-frequency grid against the zoo's ideal binary mask.

Batch: ``mixture`` (B, 1, L), ``video`` (B, S, T, 3, H, W) one stream per source slot.
Output: ``mask`` (B, S, 1, F, N) in [0, 1], ``visual`` (B, S, K), ``components``
(B, K, n_log, N).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from avsep.audio.logfreq import SOP_LOG_BINS, LogFrequencyWarp
from avsep.audio.presets import get_stft_preset
from avsep.audio.scales import db_normalize
from avsep.audio.stft import STFTConfig
from avsep.models.base import ModelSpec, SeparationModel
from avsep.models.blocks.unet import UNet
from avsep.models.frontends import FRONTENDS, build_frontend
from avsep.models.registry import ModelInfo, check_choice, check_options, register

SOP_FRONTENDS = tuple(f for f in FRONTENDS if f not in ("none", "vocalist"))


@dataclasses.dataclass(frozen=True)
class SopConfig:
    stft: STFTConfig
    clip_samples: int
    log_bins: int
    channels: tuple[int, ...]
    components: int
    frontend: str
    crop: tuple[int, int]
    frames: int  # video frames per clip (Sound of Pixels samples 3)


PRESETS = {
    "paper": SopConfig(get_stft_preset("sop"), 65535, SOP_LOG_BINS,
                       (32, 64, 128, 256, 512, 512, 512), 32, "resnet18", (224, 224), 3),
    # CPU-scale: 4 kHz, 64 bins -> 32 log bins x 128 frames (1.02 s), 4 levels of 8 -> 64
    "tiny": SopConfig(STFTConfig(4000, 126, 32), 4095, 32, (8, 16, 32, 64), 16, "conv3d",
                      (16, 16), 2),
}

# Source slots when ``num_sources`` is not given. The paper trains mix-of-2. The tiny preset
# takes 3: trained on 2-part mixes only, it met the synthetic test ensembles (2–4 parts) at
# +2.86 dB median SI-SDRi in 10 CPU-min; on mixes of 2–3 parts, +3.73 dB, duets included
# (+3.36 against +1.97). See docs/models_extra.md.
DEFAULT_NUM_SOURCES = {"paper": 2, "tiny": 3}


def sop_spec(config: SopConfig = PRESETS["paper"], num_sources: int = 2) -> ModelSpec:
    """Mono audio clip of ``clip_samples`` and ``frames`` RGB frames per source stream."""
    seconds = config.clip_samples / config.stft.sample_rate
    return ModelSpec(stft=config.stft, clip_seconds=seconds, fps=config.frames / seconds,
                     frames_per_clip=config.frames, crop=config.crop, video_channels=3,
                     channels=1, extra={"video_streams": num_sources})


class SoundOfPixels(SeparationModel):
    """Sound of Pixels separator; see the module docstring for shapes."""

    data_kind = "instruments"
    inputs = ("mixture", "video")
    mask_type = "binary"
    loss_name = "bce"

    def __init__(self, config: SopConfig, num_sources: int = 2, *, preset: str = "custom",
                 frontend_weights: str | None = None, frontend_trainable: bool = True,
                 visual_lr_scale: float = 0.1) -> None:
        super().__init__()
        if not visual_lr_scale > 0:
            raise ValueError(f"sop: model option visual_lr_scale must be > 0; "
                             f"got {visual_lr_scale}")
        self.config, self.preset = config, preset
        self.visual_lr_scale = float(visual_lr_scale)
        self.source_names = tuple(f"source{i + 1}" for i in range(num_sources))
        self.spec = sop_spec(config, num_sources)
        # Solos paper IV-C: complementary targets, M_n = 1 where source n is the loudest
        self.loss_options = {"weighting": "log1p", "binary_mode": "largest"}
        self.warp = LogFrequencyWarp(config.stft.n_bins, config.log_bins)
        self.unet = UNet(1, config.components, config.channels, dropout=0.0)
        resnet = config.frontend.startswith("resnet")
        self.frontend = build_frontend(config.frontend, in_channels=3, dim=config.components,
                                       weights=frontend_weights if resnet else None,
                                       trainable=frontend_trainable)
        self.alpha = nn.Parameter(torch.ones(config.components))
        self.beta = nn.Parameter(torch.zeros(1))

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimizer groups: audio U-Net + synthesizer (α, β) at ``lr``, the visual net at
        ``lr * visual_lr_scale`` (Solos: 1e-3 and 1e-4). Frozen parameters are left out."""
        visual = [p for p in self.frontend.parameters() if p.requires_grad]
        seen = {id(p) for p in self.frontend.parameters()}
        audio = [p for p in self.parameters() if id(p) not in seen and p.requires_grad]
        groups = [{"name": "audio", "params": audio, "lr": lr}]
        if visual:
            groups.append({"name": "visual", "params": visual,
                           "lr": lr * self.visual_lr_scale})
        return groups

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_batch(batch)
        video = batch["video"]
        if video.shape[1] != len(self.source_names):
            raise ValueError(f"sop: batch['video'] needs one stream per source slot "
                             f"(V={len(self.source_names)}); got {tuple(video.shape)}")
        mag = self.mixture_stft(batch).abs()  # (B, 1, F, N)
        scaled, _ = db_normalize(self.warp(mag).float())  # (B, 1, n_log, N)
        components = self.unet(scaled)  # (B, K, n_log, N)
        visual = torch.sigmoid(self.frontend(video).amax(dim=2))  # (B, S, K)
        logits = torch.einsum("bsk,k,bkfn->bsfn", visual, self.alpha, components) + self.beta
        mask = self.warp.inverse(torch.sigmoid(logits)).clamp(0.0, 1.0)  # (B, S, F, N)
        return {"mask": mask.unsqueeze(2), "visual": visual, "components": components}


INFO = ModelInfo(
    paper="Montesinos, Slizovskaia, Haro 2020 (Solos) / Zhao et al. 2018 (Sound of Pixels)",
    summary="U-Net with 32 spectral components selected by a visual 32-vector per source, "
            "log-frequency input, binary masks",
    inputs=("mixture", "video"),
    spec=sop_spec,
    masks=("binary",),
    frontends=SOP_FRONTENDS,
    notes="one video stream per source slot (V = num_sources)",
)

OPTIONS = ("num_sources", "frontend", "frontend_weights", "frontend_trainable", "components",
           "visual_lr_scale")


@register("sop", info=INFO)
def build_sop(options: Mapping[str, Any]) -> SoundOfPixels:
    """``{"name": "sop", "preset", "num_sources" (paper 2, tiny 3), "frontend", "frontend_weights",
    "frontend_trainable", "components", "visual_lr_scale" (0.1)}``."""
    check_options("sop", options, OPTIONS)
    preset = check_choice("preset", options.get("preset", "paper"), tuple(PRESETS))
    config = PRESETS[preset]
    changes: dict[str, Any] = {}
    if "frontend" in options:
        changes["frontend"] = check_choice("visual front-end", options["frontend"], SOP_FRONTENDS)
    if "components" in options:
        changes["components"] = int(options["components"])
        if changes["components"] < 1:
            raise ValueError(f"sop: components must be >= 1; got {options['components']}")
    config = dataclasses.replace(config, **changes)
    num_sources = int(options.get("num_sources", DEFAULT_NUM_SOURCES[preset]))
    if not 1 <= num_sources <= 13:
        raise ValueError(f"sop: num_sources must be 1..13 (one visual stream each); "
                         f"got {num_sources}")
    weights = options.get("frontend_weights")
    if weights is not None and not config.frontend.startswith("resnet"):
        raise ValueError(f"sop: frontend_weights needs a resnet front-end "
                         f"(resnet18, resnet50); got {config.frontend!r}")
    return SoundOfPixels(config, num_sources, preset=preset, frontend_weights=weights,
                         frontend_trainable=bool(options.get("frontend_trainable", True)),
                         visual_lr_scale=float(options.get("visual_lr_scale", 0.1)))

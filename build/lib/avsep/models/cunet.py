"""Conditioned U-Net (``cunet``) and Multi-Head U-Net (``mhunet``).

After Slizovskaia, Haro & Gómez, "Conditioned source separation for musical instrument
performances" (2021):

* input: the mixture magnitude (mono, 11025 Hz, n_fft 1022, hop 256: 512 bins × 256 frames for
  a 65535-sample clip), dB-normalised (``magnitude_scale="db_norm"``: dB w.r.t. the minimum of
  each spectrogram scaled to [-1, 1], :func:`avsep.audio.scales.db_normalize`, the Solos /
  Sound of Pixels pre-processing the paper takes its STFT from), ``db_zscore`` (dB with zero
  mean / unit variance per example, an option) or ``log`` (log1p, exp. 5); on a linear or
  log-spaced frequency axis
  (``frequency_scale``; ``avsep.audio.LogFrequencyWarp`` with as many log bins as linear
  ones, the masks are interpolated back);
* U-Net: 6 encoder blocks (4×4 conv, stride 2, padding 1, BN, LeakyReLU 0.2; 16 → 512
  filters) and 6 decoder blocks (bilinear ×2 upsampling, 3×3 conv, BN, ReLU, dropout 0.2),
  skip connections; ``cunet`` predicts K = 13 masks with one decoder, ``mhunet`` has one
  decoder per instrument (13 decoders sharing the encoder);
* conditioning on a context vector c: ``film_bottleneck`` / ``film_encoder`` (every encoder
  block, after BN) / ``film_final`` (the last decoder features, before the output conv), each
  with one fully connected FiLM generator per modulated layer; ``label_multiply``:
  ``mask_i = labels_i * mask_i`` (absent instruments get exactly zero masks);
  ``final_multiply``: masks times class probabilities ``softmax(FC(c))`` of the visual context;
* context: ``labels`` (K-dim presence vector), ``visual`` (front-end features of the first
  frame of each source video, adaptive-max-pooled to ``context_dim``: ResNet-50 2048 → 1024),
  ``visual_motion`` (a uni-directional LSTM with ``context_dim`` hidden units over the
  front-end features of each source's frames, last hidden state: the LSTM reads the 2048-d
  ResNet features, as in the paper), ``visual_maxpool`` (max over frames, then pooled to
  ``context_dim``). Streams that are all zero (absent sources) give zero vectors; the
  per-source vectors are max-pooled into one context vector (B, context_dim). The front-end
  is fine-tuned for the single-frame context and frozen for the multi-frame ones (paper
  §5.3; ``frontend_trainable`` overrides). Pre-trained weights come from a local file
  (``frontend_weights: /abs/resnet50.pth|.safetensors``); nothing is downloaded.
* targets and losses (``avsep.models.losses``): ratio masks ``|S_i| / |Y|`` (eq. 2,
  ``mask_denominator="mixture"``; ``"sources"``: ``|S_i| / Σ_j|S_j|``) with L2 (eq. 7) or L1;
  binary masks of eq. 3 (against ``|Y|``) with the BCE of eq. 6: λ = ``pos_weight``
  (default 1), unweighted bins (``bce_weighting="none"``; ``"log1p"`` weights bins by
  ``log1p|Y|``, which the paper names as future work).

Batch: ``mixture`` (B, 1, L); ``labels`` (B, 13) for label context; ``video``
(B, V, T, Cv, H, W) for visual contexts with V = ``spec.extra["video_streams"]`` (7: the most
sources in a mixture) and T = 1 (``visual``) or 5 frames per clip (Table IV).
Output: ``mask`` (B, 13, 1, F, N) — real, or complex for ``mask_type="complex"`` — or
``magnitude`` for ``mask_type="direct"``; plus ``probabilities`` (B, 13) for final_multiply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from avsep.audio.logfreq import LogFrequencyWarp
from avsep.audio.scales import db_normalize, db_zscore
from avsep.audio.stft import STFTConfig
from avsep.data.records import URMP_INSTRUMENTS
from avsep.models.base import ModelSpec, SeparationModel
from avsep.models.blocks.film import FiLMGenerator, apply_film
from avsep.models.blocks.heads import (
    DEFAULT_ACTIVATION,
    MASK_ACTIVATIONS,
    MaskActivation,
    complex_mask,
)
from avsep.models.blocks.unet import UNetDecoder, UNetEncoder
from avsep.models.frontends import FRONTENDS, build_frontend
from avsep.models.losses import LOSSES
from avsep.models.registry import ModelInfo, check_choice, check_options, register

CONDITIONING = ("none", "film_bottleneck", "film_encoder", "film_final", "label_multiply",
                "final_multiply")
CONTEXTS = ("none", "labels", "visual", "visual_motion", "visual_maxpool")
VISUAL_CONTEXTS = ("visual", "visual_motion", "visual_maxpool")
COMPATIBLE = {
    "none": ("none",),
    "film_bottleneck": CONTEXTS[1:],
    "film_encoder": CONTEXTS[1:],
    "film_final": CONTEXTS[1:],
    "label_multiply": ("labels",),
    "final_multiply": VISUAL_CONTEXTS,
}
MASK_TYPES = ("ratio", "binary", "complex", "direct")
FREQUENCY_SCALES = ("linear", "log")
MAGNITUDE_SCALES = ("db_norm", "db_zscore", "log")
DENOMINATORS = ("mixture", "sources")
BCE_WEIGHTINGS = ("none", "log1p")


@dataclass(frozen=True)
class CUNetConfig:
    stft: STFTConfig
    clip_samples: int
    channels: tuple[int, ...]
    dropout: float
    frontend: str
    context_dim: int
    video_streams: int
    crop: tuple[int, int]
    motion_frames: int
    video_channels: int = 3


PRESETS = {
    "paper": CUNetConfig(STFTConfig(11025, 1022, 256), 65535, (16, 32, 64, 128, 256, 512), 0.2,
                         frontend="resnet50", context_dim=1024, video_streams=7,
                         crop=(224, 224), motion_frames=5),
    # CPU-scale: 4 kHz, 64 bins x 129 frames (1.02 s), 4 levels of 8 -> 64 filters
    "tiny": CUNetConfig(STFTConfig(4000, 126, 32), 4096, (8, 16, 32, 64), 0.2,
                        frontend="conv2d_lstm", context_dim=16, video_streams=3, crop=(16, 16),
                        motion_frames=3),
}
# The C-U-Net (one decoder for all 13 masks) at CPU scale: twice the tiny widths, 16 -> 128
# filters, and no dropout. At 8 -> 64 with dropout 0.2 (80,725 parameters) it underfit: train
# and validation losses level off together after ~40 epochs and its test median stayed at
# +2.46 dB SI-SDRi (docs/models_extra.md, "Tiny presets on the synthetic corpus"). The MHU-Net
# keeps ``PRESETS["tiny"]``: its 13 decoders already give it 517 k parameters.
SINGLE_HEAD_PRESETS = {
    **PRESETS,
    "tiny": replace(PRESETS["tiny"], channels=(16, 32, 64, 128), dropout=0.0),
}


# ------------------------------------------------------------------ context encoders
class VisualContext(nn.Module):
    """Video (B, V, T, Cv, H, W) -> context (B, dim): front-end features (B, V, T, D), temporal
    reduction per source (first frame / max over frames / LSTM over the D-wide features),
    pooling to ``context_dim`` (``visual``, ``visual_maxpool``), zeroing of absent (all-zero)
    streams, max over sources."""

    def __init__(self, kind: str, frontend: nn.Module, context_dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.frontend = frontend
        width = frontend.dim
        if kind == "visual_motion":  # paper: LSTM (1024 hidden) on the 2048-d ResNet features
            self.lstm: nn.LSTM | None = nn.LSTM(width, context_dim, batch_first=True)
            self.pool: nn.Module = nn.Identity()
            self.dim = context_dim
        else:
            self.lstm = None
            self.pool = nn.AdaptiveMaxPool1d(context_dim) if width > context_dim \
                else nn.Identity()
            self.dim = min(width, context_dim)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        present = video.flatten(2).amax(dim=-1) > 0  # (B, V)
        frames = video[:, :, :1] if self.kind == "visual" else video
        feats = self.frontend(frames)  # (B, V, T, D)
        b, v, t, d = feats.shape
        if self.kind == "visual":
            per_source = feats[:, :, 0]  # (B, V, D)
        elif self.kind == "visual_maxpool":
            per_source = feats.amax(dim=2)
        else:
            _, (hidden, _) = self.lstm(feats.reshape(b * v, t, d))
            per_source = hidden[-1].reshape(b, v, -1)  # (B, V, context_dim)
        per_source = self.pool(per_source.reshape(b * v, 1, -1)).reshape(b, v, -1)
        per_source = per_source * present.unsqueeze(-1).to(per_source.dtype)
        return per_source.amax(dim=1)


# ------------------------------------------------------------------ the model
class ConditionedUNet(SeparationModel):
    """``cunet`` / ``mhunet``; see the module docstring for inputs and outputs."""

    data_kind = "instruments"
    source_names = URMP_INSTRUMENTS

    def __init__(
        self,
        config: CUNetConfig,
        multi_head: bool = False,
        conditioning: str = "none",
        context: str = "none",
        mask_type: str = "ratio",
        loss: str | None = None,
        frequency_scale: str = "linear",
        magnitude_scale: str = "db_norm",
        mask_activation: str | None = None,
        mask_bound: float = 1.0,
        pos_weight: float = 1.0,
        frontend_weights: str | None = None,
        frontend_trainable: bool | None = None,
        mask_denominator: str = "mixture",
        bce_weighting: str = "none",
    ) -> None:
        super().__init__()
        k = len(self.source_names)
        self.config = config
        self.conditioning, self.context_kind = conditioning, context
        self.mask_type, self.loss_name = mask_type, loss
        self.loss_options = _loss_options(mask_type, loss, mask_bound, pos_weight,
                                          mask_denominator, bce_weighting)
        self.magnitude_scale = magnitude_scale
        self.mask_bound = mask_bound
        visual = context in VISUAL_CONTEXTS
        frames = 1 if context == "visual" else config.motion_frames
        clip_seconds = config.clip_samples / config.stft.sample_rate
        self.inputs = ("mixture", *(("labels",) if context == "labels" else ()),
                       *(("video",) if visual else ()))
        self.spec = ModelSpec(
            stft=config.stft, clip_seconds=clip_seconds, channels=1,
            fps=frames / clip_seconds if visual else None,
            frames_per_clip=frames if visual else None, crop=config.crop if visual else None,
            video_channels=config.video_channels,
            extra={"video_streams": config.video_streams, "num_classes": k} if visual else {},
        )
        # context
        self.visual: VisualContext | None = None
        context_dim = k
        if visual:
            resnet = config.frontend.startswith("resnet")
            if frontend_trainable is None:  # paper §5.3: fine-tuned for one frame, else frozen
                frontend_trainable = context == "visual"
            frontend = build_frontend(config.frontend, in_channels=config.video_channels,
                                      dim=None if resnet else config.context_dim,
                                      weights=frontend_weights, trainable=frontend_trainable)
            self.visual = VisualContext(context, frontend, config.context_dim)
            context_dim = self.visual.dim
        # U-Net
        self.per_source = 2 if mask_type == "complex" else 1
        heads = k if multi_head else 1
        out = self.per_source * (1 if multi_head else k)
        self.encoder = UNetEncoder(1, config.channels)
        self.decoders = nn.ModuleList(
            UNetDecoder(config.channels, out, dropout=config.dropout) for _ in range(heads)
        )
        # conditioning
        film_channels = {"film_bottleneck": [config.channels[-1]],
                         "film_encoder": list(config.channels),
                         "film_final": [config.channels[0]] * heads}.get(conditioning)
        self.film = FiLMGenerator(context_dim, film_channels) if film_channels else None
        self.classifier = nn.Linear(context_dim, k) if conditioning == "final_multiply" else None
        # output
        activation = mask_activation or DEFAULT_ACTIVATION[mask_type]
        self.activation = MaskActivation(activation, mask_bound)
        bins = config.stft.n_bins
        self.log_frequency = LogFrequencyWarp(bins, bins) if frequency_scale == "log" else None

    # -------------------------------------------------------------- pieces
    def features(self, mix: torch.Tensor) -> torch.Tensor:
        """Scaled (and optionally log-frequency) magnitudes (B, 1, F, N) of mix (B, 1, F, N)."""
        mag = mix.abs()
        if self.magnitude_scale == "db_norm":
            x, _ = db_normalize(mag)
        elif self.magnitude_scale == "db_zscore":
            x = db_zscore(mag)
        else:
            x = torch.log1p(mag)
        if self.log_frequency is not None:
            x = self.log_frequency(x)
        return x

    def context(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Context vector (B, D): labels, a visual summary, or ``None``."""
        if self.context_kind == "labels":
            return batch["labels"].float()
        if self.visual is not None:
            return self.visual(batch["video"])
        return None

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_batch(batch)
        k = len(self.source_names)
        if "labels" in self.inputs and batch["labels"].shape[1] != k:
            raise ValueError(f"batch['labels'] must be (B, {k}) in URMP order; "
                             f"got {tuple(batch['labels'].shape)}")
        mix = self.mixture_stft(batch)
        x = self.features(mix)
        context = self.context(batch)
        films = self.film(context) if self.film is not None else None
        feats = self.encoder(x, films if self.conditioning == "film_encoder" else None)
        z = feats[-1]
        if self.conditioning == "film_bottleneck":
            z = apply_film(z, *films[0])
        maps = []
        for i, decoder in enumerate(self.decoders):
            h = decoder.features(z, feats[:-1], x.shape[2:])
            if self.conditioning == "film_final":
                h = apply_film(h, *films[i])
            maps.append(decoder.final(h))
        y = torch.cat(maps, dim=1)  # (B, K * per_source, F, N)
        if self.log_frequency is not None:
            y = self.log_frequency.inverse(y)
        b, _, f, n = y.shape
        y = y.reshape(b, k, self.per_source, f, n)
        if self.mask_type == "complex":
            mask = complex_mask(y).unsqueeze(2)  # (B, K, 1, F, N)
        else:
            mask = self.activation(y)  # (B, K, 1, F, N)
        out: dict[str, torch.Tensor] = {}
        gate = None
        if self.conditioning == "label_multiply":
            gate = batch["labels"].float()
        elif self.conditioning == "final_multiply":
            gate = torch.softmax(self.classifier(context), dim=-1)
            out["probabilities"] = gate
        if gate is not None:
            mask = mask * gate[:, :, None, None, None]
        out["magnitude" if self.mask_type == "direct" else "mask"] = mask
        return out


def _loss_options(mask_type: str, loss: str | None, mask_bound: float, pos_weight: float,
                  denominator: str, bce_weighting: str) -> dict[str, Any]:
    """``loss_for`` options of the mask-based losses (the ``si_sdr`` loss takes none)."""
    if loss == "si_sdr":
        return {}
    if mask_type == "complex":
        return {"bound": mask_bound}
    if mask_type == "binary":
        return {"pos_weight": pos_weight, "weighting": bce_weighting,
                "denominator": denominator}
    if mask_type == "ratio":
        return {"denominator": denominator}
    return {}


# ------------------------------------------------------------------ building
OPTIONS = ("conditioning", "context", "mask_type", "loss", "frequency_scale", "magnitude_scale",
           "mask_activation", "mask_bound", "pos_weight", "frontend", "frontend_weights",
           "frontend_trainable", "context_dim", "channels", "dropout", "mask_denominator",
           "bce_weighting")


def _build(config: Mapping[str, Any], multi_head: bool) -> ConditionedUNet:
    name = config["name"]
    check_options(name, config, OPTIONS)
    base = (PRESETS if multi_head else SINGLE_HEAD_PRESETS)[config.get("preset", "paper")]
    conditioning = check_choice("conditioning", config.get("conditioning", "none"), CONDITIONING)
    default_context = {"none": "none", "final_multiply": "visual"}.get(conditioning, "labels")
    context = check_choice("context", config.get("context", default_context), CONTEXTS)
    if context not in COMPATIBLE[conditioning]:
        raise ValueError(
            f"{name}: conditioning {conditioning!r} cannot use context {context!r} "
            f"(e.g. label conditioning needs the 'labels' input); valid contexts for "
            f"{conditioning!r}: {', '.join(COMPATIBLE[conditioning])}"
        )
    mask_type = check_choice("mask_type", config.get("mask_type", "ratio"), MASK_TYPES)
    loss = config.get("loss")
    if loss is not None:
        check_choice(f"loss for {mask_type} masks", loss, LOSSES[mask_type])
    activation = config.get("mask_activation")
    if activation is not None:
        allowed = {"ratio": MASK_ACTIVATIONS, "binary": ("sigmoid", "softmax"),
                   "complex": ("tanh",), "direct": ("relu", "none")}[mask_type]
        check_choice(f"mask_activation for {mask_type} masks", activation, allowed)
    changes: dict[str, Any] = {}
    if "frontend" in config:
        if context not in VISUAL_CONTEXTS:
            raise ValueError(f"{name}: a visual front-end needs a visual context; valid "
                             f"contexts: {', '.join(VISUAL_CONTEXTS)} (got {context!r})")
        frontend = check_choice("visual front-end", config["frontend"], FRONTENDS)
        if frontend == "none":
            raise ValueError(f"{name}: context {context!r} needs a visual front-end; valid "
                             f"choices: {', '.join(f for f in FRONTENDS if f != 'none')}")
        changes["frontend"] = frontend
        if frontend == "vocalist":
            changes.update(crop=(48, 96), video_channels=3)
    if "channels" in config:
        changes["channels"] = tuple(int(c) for c in config["channels"])
    for key in ("context_dim", "dropout"):
        if key in config:
            changes[key] = type(getattr(base, key))(config[key])
    return ConditionedUNet(
        replace(base, **changes), multi_head, conditioning, context, mask_type, loss,
        check_choice("frequency_scale", config.get("frequency_scale", "linear"),
                     FREQUENCY_SCALES),
        check_choice("magnitude_scale", config.get("magnitude_scale", "db_norm"),
                     MAGNITUDE_SCALES),
        activation, float(config.get("mask_bound", 1.0)), _positive(name, config),
        config.get("frontend_weights"), _trainable(config),
        check_choice("mask_denominator", config.get("mask_denominator", "mixture"),
                     DENOMINATORS),
        check_choice("bce_weighting", config.get("bce_weighting", "none"), BCE_WEIGHTINGS),
    )


def _positive(name: str, config: Mapping[str, Any]) -> float:
    value = float(config.get("pos_weight", 1.0))
    if not value > 0:
        raise ValueError(f"{name}: model option pos_weight (λ of the BCE, eq. 6) must be > 0; "
                         f"got {value}")
    return value


def _trainable(config: Mapping[str, Any]) -> bool | None:
    value = config.get("frontend_trainable")
    return None if value is None else bool(value)


def _spec() -> ModelSpec:
    c = PRESETS["paper"]
    return ModelSpec(c.stft, c.clip_samples / c.stft.sample_rate, channels=1)


_PAPER = "Slizovskaia, Haro, Gómez 2021 (conditioned source separation)"
_INFO = dict(paper=_PAPER, inputs=("mixture", "labels|video"), spec=_spec,
             conditioning=CONDITIONING[1:], masks=MASK_TYPES,
             frontends=tuple(f for f in FRONTENDS if f != "none"),
             notes="contexts: " + ", ".join(CONTEXTS[1:]))


@register("cunet", info=ModelInfo(summary="6-block U-Net, 13 masks, FiLM/multiply conditioning",
                                  **_INFO))
def build_cunet(config: Mapping[str, Any]) -> ConditionedUNet:
    return _build(config, multi_head=False)


@register("mhunet", info=ModelInfo(summary="U-Net with one decoder per instrument (13)",
                                   **_INFO))
def build_mhunet(config: Mapping[str, Any]) -> ConditionedUNet:
    return _build(config, multi_head=True)

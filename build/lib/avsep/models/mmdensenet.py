"""Multi-band MMDenseNet: audio-only ``mmdensenet`` and audio-visual ``av_mmdensenet``.

After Li, Wang & Duan, "Audiovisual singing voice separation" (the audio branch follows
MMDenseLSTM without its LSTMs, multi-band as in Takahashi & Mitsufuji's MMDenseNet):

* input: log-magnitude mixture spectrogram ``log(1 + |X|)`` (B, C, T, F) (C = 2, T = frames,
  F = 513), normalised per frequency bin as the paper says ("normalization along each
  frequency axis"): ``input_norm="per_frequency"`` (default) subtracts each bin's mean and
  divides by its standard deviation over the *training data*. The statistics are buffers of a
  :class:`~avsep.audio.scales.PerFrequencyNormalizer` (``normalizer.mean`` / ``.std`` (F, 1),
  ``.count`` frames): every forward pass in training mode merges the batch's frames into them
  (exact streaming mean/variance, so after one epoch they are the training set's statistics
  and later epochs only refine them), evaluation mode uses them frozen, and they are saved
  with the weights (``state_dict``, model package, checkpoint). A model that has not seen a
  training batch yet normalises each batch by its own per-bin statistics.
  ``input_norm="per_example"`` (the former default) uses each example's own per-bin mean and
  standard deviation over its channels and frames instead. A learnable per-bin affine
  (open-unmix style) follows either;
* the spectrogram is split into a low and a high half-band; each band runs its own
  encoder-decoder: a 3×3 stem conv, then per level a dense block (pre-activation
  BN-ReLU-Conv), a 1×1 compression to 20 % of the channels and average pooling — 2×2 (time and
  frequency) after the first level, 1×2 (frequency only) after the others, so the bottleneck
  runs at hop/2 = 25 frames/s, the video rate. The decoder mirrors it with transposed convs of
  the same strides, concatenating the encoder's compressed maps (skip connections);
* ``av_mmdensenet``: the visual front-end gives (B, 1, T_v, N) per-frame features; they are
  aligned frame by frame with the bottleneck (see ``_align_frames``), inflated
  (repeated) along frequency and concatenated to each band's bottleneck input. Front-ends:
  the zoo's (:mod:`avsep.models.frontends`; ``conv2d_lstm`` is the paper's) plus
  ``lipreading`` (:mod:`avsep.models.lipreading`, Fig. 9's pre-trained lip reader: local
  ``frontend_weights`` only, nothing is downloaded);
* the bands are re-joined along frequency and a 1×1 conv gives one map per source and channel;
  with the mask layer (default) ``magnitude = sigmoid(maps) * |X|``, without it
  ``magnitude = relu(maps)``. ``mask_type="ratio"`` instead outputs ``mask = sigmoid(maps)``.

Outputs: ``magnitude`` (or ``mask``) (B, S, C, F, N) with S = 2 sources (vocals,
accompaniment). The paper predicts the vocal only; the accompaniment output costs one extra
output channel per audio channel and lets the same model serve the two-stem datasets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from avsep.audio.scales import PerFrequencyNormalizer
from avsep.audio.stft import STFTConfig
from avsep.models.base import ModelSpec, SeparationModel
from avsep.models.blocks.conv import ConvBlock, conv_layer
from avsep.models.blocks.dense import Compression, DenseBlock
from avsep.models.frontends import FRONTENDS, build_frontend
from avsep.models.lipreading import LipReadingFrontend
from avsep.models.losses import LOSSES
from avsep.models.registry import ModelInfo, check_choice, check_options, register

MASK_TYPES = ("direct", "ratio")
# the zoo's front-ends, plus Li et al.'s lip-reading variant (Fig. 9), which only this model uses
AV_FRONTENDS = (*(f for f in FRONTENDS if f != "none"), "lipreading")
INPUT_NORMS = ("per_frequency", "per_example")
SOURCES = ("vocals", "accompaniment")


@dataclass(frozen=True)
class BandConfig:
    """One band's encoder-decoder: stem channels, growth rate, dense layers per level.

    ``layers`` lists the dense-block depths of the encoder levels, then the bottleneck, then
    the decoder levels (deepest first): ``2 * depth + 1`` entries.
    """

    stem: int
    growth: int
    layers: tuple[int, ...]

    @property
    def depth(self) -> int:
        return (len(self.layers) - 1) // 2


@dataclass(frozen=True)
class MMDenseNetConfig:
    stft: STFTConfig
    clip_seconds: float
    channels: int
    bands: tuple[BandConfig, ...]
    compression: float = 0.2
    visual_dim: int = 0  # N; 0 = audio only
    frontend: str = "none"
    fps: float | None = None
    frames_per_clip: int | None = None
    crop: tuple[int, int] | None = None
    video_channels: int = 3


PAPER_BANDS = (
    BandConfig(stem=32, growth=28, layers=(5, 5, 5, 5, 5, 5, 5)),  # low band: more channels
    BandConfig(stem=32, growth=14, layers=(5, 5, 5, 5, 5, 5, 5)),
)
PRESETS: dict[str, MMDenseNetConfig] = {
    "paper": MMDenseNetConfig(
        stft=STFTConfig(32000, 1024, 640), clip_seconds=2.56, channels=2, bands=PAPER_BANDS,
        fps=25.0, frames_per_clip=64, crop=(64, 64), video_channels=3,
    ),
    # ~42 k parameters: small enough for CPU tests, large enough to reach ~6 dB SI-SDR on the
    # synthetic corpus in a minute of CPU training (the quick-start search relies on that)
    "tiny": MMDenseNetConfig(
        stft=STFTConfig(3200, 128, 64), clip_seconds=0.64, channels=1,
        bands=(BandConfig(16, 12, (2, 2, 2, 2, 2)), BandConfig(16, 12, (2, 2, 2, 2, 2))),
        fps=25.0, frames_per_clip=16, crop=(16, 16), video_channels=3,
    ),
}
PAPER_VISUAL_DIM = 128
TINY_VISUAL_DIM = 8


def _fit(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Crop or zero-pad the last two axes of ``x`` to ``size``."""
    x = x[..., : size[0], : size[1]]
    # contiguous: strided views send convolutions to PyTorch's slow (non-oneDNN) CPU path
    return F.pad(x, (0, size[1] - x.shape[-1], 0, size[0] - x.shape[-2])).contiguous()


def _align_frames(visual: torch.Tensor, steps: int) -> torch.Tensor:
    """Visual features (B, N, T_v) on ``steps`` bottleneck steps: (B, N, steps).

    The bottleneck runs at the video rate up to the STFT's extra edge frame, so frame k stays
    step k: crop, or repeat the last frame; only a real rate mismatch (more than one frame
    apart) is resampled linearly.
    """
    if abs(visual.shape[-1] - steps) > 1:
        return F.interpolate(visual, size=steps, mode="linear", align_corners=False)
    visual = visual[..., :steps]
    return F.pad(visual, (0, steps - visual.shape[-1]), mode="replicate")


class DenseBand(nn.Module):
    """One band's dense encoder-decoder; ``forward(x (B, C_in, T, F), visual (B, N, T_b))``."""

    def __init__(self, in_channels: int, band: BandConfig, compression: float,
                 visual_dim: int = 0) -> None:
        super().__init__()
        depth = band.depth
        if len(band.layers) != 2 * depth + 1 or depth < 1:
            raise ValueError(f"band layers need 2 * depth + 1 >= 3 entries; got {band.layers}")
        self.strides = [(2, 2)] + [(1, 2)] * (depth - 1)
        self.stem = conv_layer(in_channels, band.stem, 3, bias=False)  # BatchNorms follow
        self.down = nn.ModuleList()
        skips = []
        ch = band.stem
        for i in range(depth):
            dense = DenseBlock(ch, band.growth, band.layers[i])
            comp = Compression(dense.out_channels, compression)
            self.down.append(nn.Sequential(dense, comp))
            ch = comp.out_channels
            skips.append(ch)
        self.pools = nn.ModuleList(nn.AvgPool2d(s, s) for s in self.strides)
        dense = DenseBlock(ch + visual_dim, band.growth, band.layers[depth])
        comp = Compression(dense.out_channels, compression)
        self.bottleneck = nn.Sequential(dense, comp)
        ch = comp.out_channels
        self.ups = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for level, i in enumerate(reversed(range(depth))):
            self.ups.append(nn.ConvTranspose2d(ch, ch, self.strides[i], self.strides[i],
                                               bias=False))
            dense = DenseBlock(ch + skips[i], band.growth, band.layers[depth + 1 + level])
            comp = Compression(dense.out_channels, compression)
            self.up_blocks.append(nn.Sequential(dense, comp))
            ch = comp.out_channels
        self.out_channels = ch
        self.visual_dim = visual_dim

    @property
    def multiple(self) -> tuple[int, int]:
        """Input (T, F) must be multiples of these."""
        return 2, 2 ** len(self.strides)

    def forward(self, x: torch.Tensor, visual: torch.Tensor | None = None) -> torch.Tensor:
        x = self.stem(x)
        skips = []
        for block, pool in zip(self.down, self.pools, strict=True):
            x = block(x)
            skips.append(x)
            x = pool(x)
        if self.visual_dim:
            if visual is None:
                raise ValueError("this band fuses visual features; none were given")
            v = _align_frames(visual, x.shape[2])
            # the dense block concatenates its parts itself (into its buffer when inferring)
            x = self.bottleneck[1](self.bottleneck[0](
                x, v.unsqueeze(-1).expand(-1, -1, -1, x.shape[3])))
        else:
            x = self.bottleneck(x)
        for up, block, skip in zip(self.ups, self.up_blocks, reversed(skips), strict=True):
            dense, compression = block
            x = compression(dense(_fit(up(x), skip.shape[2:]), skip))
        return x


class MMDenseNet(SeparationModel):
    """Multi-band MMDenseNet separator (audio-only or audio-visual); see the module docstring.

    Batch: ``mixture`` (B, C, L); ``video`` (B, 1, T_v, Cv, H, W) for the AV variant.
    """

    data_kind = "singing"
    source_names = SOURCES

    def __init__(self, config: MMDenseNetConfig, mask_type: str = "direct",
                 mask_layer: bool = True, loss: str | None = None,
                 frontend_weights: str | None = None, frontend_trainable: bool | None = True,
                 input_norm: str = "per_frequency") -> None:
        super().__init__()
        self.config = config
        self.input_norm = input_norm
        self.mask_type = mask_type
        self.mask_layer = mask_layer
        self.loss_name = loss
        self.loss_options = {}
        visual = config.frontend != "none"
        self.inputs = ("mixture", "video") if visual else ("mixture",)
        self.spec = ModelSpec(
            stft=config.stft, clip_seconds=config.clip_seconds, channels=config.channels,
            fps=config.fps if visual else None,
            frames_per_clip=config.frames_per_clip if visual else None,
            crop=config.crop if visual else None, video_channels=config.video_channels,
            extra={"video_streams": 1} if visual else {},
        )
        bins = config.stft.n_bins
        self.split = bins // 2
        self.input_scale = nn.Parameter(torch.ones(bins))
        self.input_shift = nn.Parameter(torch.zeros(bins))
        self.normalizer = PerFrequencyNormalizer(bins, eps=1e-5)
        if config.frontend == "lipreading":
            self.frontend = LipReadingFrontend(config.video_channels, config.visual_dim,
                                               frontend_weights, frontend_trainable)
        else:
            self.frontend = build_frontend(
                config.frontend, in_channels=config.video_channels, dim=config.visual_dim,
                weights=frontend_weights, trainable=bool(frontend_trainable),
            )
        visual_dim = getattr(self.frontend, "dim", 0) if visual else 0
        self.bands = nn.ModuleList(
            DenseBand(config.channels, band, config.compression, visual_dim)
            for band in config.bands
        )
        if len(self.bands) != 2:
            raise ValueError(f"MMDenseNet here is two-band (low, high); got {len(self.bands)}")
        joined = {b.out_channels for b in self.bands}
        self.join = nn.ModuleList(
            ConvBlock(b.out_channels, max(joined), 1, preact=True, bias=False)
            if len(joined) > 1
            else nn.Identity() for b in self.bands
        )
        self.out = ConvBlock(max(joined), len(SOURCES) * config.channels, 1, preact=True)

    def features(self, mix: torch.Tensor) -> torch.Tensor:
        """Normalised log magnitudes (B, C, T, F) from the mixture STFT (B, C, F, T).

        ``per_frequency``: training-mode calls first merge the batch into the per-bin
        statistics (see the module docstring).
        """
        x = torch.log1p(mix.abs().float())  # (B, C, F, T)
        if self.input_norm == "per_frequency":
            if self.training:
                self.normalizer.update(x)
            if bool(self.normalizer.fitted):
                x = self.normalizer(x)
            else:  # untrained model: this batch's own per-bin statistics, nothing stored
                mean = x.mean(dim=(0, 1, 3), keepdim=True)
                x = (x - mean) / x.std(dim=(0, 1, 3), keepdim=True, unbiased=False).add(1e-5)
        else:
            x = (x - x.mean(dim=(1, 3), keepdim=True)) / x.std(dim=(1, 3), keepdim=True).add(1e-5)
        return x.transpose(2, 3) * self.input_scale + self.input_shift

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_batch(batch)
        mix = self.mixture_stft(batch)  # (B, C, F, T)
        b, c, f, t = mix.shape
        x = self.features(mix)
        visual = None
        if self.frontend is not None:
            visual = self.frontend(batch["video"])[:, 0].transpose(1, 2)  # (B, N, T_v)
        outs = []
        for band, join, part in zip(self.bands, self.join,
                                    (x[..., : self.split], x[..., self.split:]), strict=True):
            mt, mf = band.multiple
            size = (-(-t // mt) * mt, -(-part.shape[-1] // mf) * mf)
            y = band(_fit(part, size), visual)
            outs.append(join(y)[..., : part.shape[-1]])
        maps = self.out(torch.cat(outs, dim=-1))[:, :, :t]  # (B, S*C, T, F)
        maps = maps.reshape(b, len(SOURCES), c, t, f).transpose(3, 4)  # (B, S, C, F, T)
        if self.mask_type == "ratio":
            return {"mask": torch.sigmoid(maps)}
        if self.mask_layer:
            return {"magnitude": torch.sigmoid(maps) * mix.abs().unsqueeze(1)}
        return {"magnitude": torch.relu(maps)}


OPTIONS = ("mask_type", "mask_layer", "loss", "frontend", "visual_dim", "frontend_weights",
           "frontend_trainable", "bands", "compression", "input_norm")


def _build(config: Mapping[str, Any], visual: bool) -> MMDenseNet:
    name = config["name"]
    check_options(name, config, OPTIONS if visual else
                  tuple(o for o in OPTIONS if not o.startswith(("frontend", "visual"))))
    preset = config.get("preset", "paper")
    base = PRESETS[preset]
    mask_type = check_choice("mask_type", config.get("mask_type", "direct"), MASK_TYPES)
    loss = config.get("loss")
    if loss is not None:
        check_choice(f"loss for {mask_type} masks", loss, LOSSES[mask_type])
    mask_layer = bool(config.get("mask_layer", True))
    input_norm = check_choice("input_norm", config.get("input_norm", "per_frequency"),
                              INPUT_NORMS)
    if mask_type == "ratio" and not mask_layer:
        raise ValueError(f"{name}: mask_layer=False needs mask_type 'direct' (a ratio mask "
                         "always has its sigmoid)")
    changes: dict[str, Any] = {"compression": float(config.get("compression", 0.2))}
    if "bands" in config:
        changes["bands"] = tuple(BandConfig(int(b["stem"]), int(b["growth"]),
                                            tuple(int(n) for n in b["layers"]))
                                 for b in config["bands"])
    if visual:
        frontend = config.get("frontend", "conv2d_lstm")
        if frontend == "none":
            raise ValueError(f"{name} fuses visual features: front-end 'none' is incompatible; "
                             f"valid choices: {', '.join(AV_FRONTENDS)} "
                             "(or use model 'mmdensenet' for audio only)")
        frontend = check_choice("visual front-end", frontend, AV_FRONTENDS)
        default_dim = PAPER_VISUAL_DIM if preset == "paper" else TINY_VISUAL_DIM
        changes.update(frontend=frontend, visual_dim=int(config.get("visual_dim", default_dim)))
        if frontend == "vocalist":  # VocaLiST's encoder reads 48x96 RGB mouth crops
            changes.update(crop=(48, 96), video_channels=3)
    cfg = replace(base, **changes)
    trainable = config.get("frontend_trainable")
    if trainable is None and (not visual or cfg.frontend != "lipreading"):
        trainable = True  # lipreading: frozen when weights are given (see its module)
    return MMDenseNet(cfg, mask_type, mask_layer, loss,
                      config.get("frontend_weights") if visual else None,
                      None if trainable is None else bool(trainable), input_norm)


def _spec(visual: bool) -> ModelSpec:
    c = PRESETS["paper"]
    return ModelSpec(c.stft, c.clip_seconds, fps=c.fps if visual else None,
                     frames_per_clip=c.frames_per_clip if visual else None,
                     crop=c.crop if visual else None, channels=c.channels)


_PAPER = "Li, Wang, Duan 2021 (audiovisual singing voice separation)"


@register("mmdensenet", info=ModelInfo(
    paper=_PAPER, summary="multi-band MMDenseNet, audio only (MMDenseLSTM baseline w/o LSTM)",
    inputs=("mixture",), spec=lambda: _spec(False), masks=MASK_TYPES, paper_parameters=1.22e6,
))
def build_mmdensenet(config: Mapping[str, Any]) -> MMDenseNet:
    return _build(config, visual=False)


@register("av_mmdensenet", info=ModelInfo(
    paper=_PAPER, summary="MMDenseNet + mouth front-end fused at the bottleneck",
    inputs=("mixture", "video"), spec=lambda: _spec(True), masks=MASK_TYPES,
    conditioning=("bottleneck_concat",), frontends=AV_FRONTENDS,
    paper_parameters=2.05e6,
))
def build_av_mmdensenet(config: Mapping[str, Any]) -> MMDenseNet:
    return _build(config, visual=True)

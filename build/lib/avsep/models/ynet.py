"""Y-Net-mr (Montesinos, Kadandale, Haro 2021) and Y-Net-mr-V (Kadandale et al. 2022, VocaLiST).

A U-Net on the complex mixture spectrogram conditioned at its bottleneck by visual features
of the target singer's mouth, predicting a bounded complex ratio mask (cRM, K·tanh, K = 10)
for the target voice (Acappella reference implementation, which the VocaLiST paper reuses):

* input: complex STFT (16384 Hz, n_fft 1022, hop 256; 4 s -> 512 × 256), every other
  frequency bin kept ("coarse downsampling", 256 × 256), real and imaginary parts as two
  channels;
* encoder: 5×5 conv blocks (BN, LeakyReLU) of 32, 64, 128, 256, 256, 256 channels; the first
  four halve frequency and time, the last two ("frequential") halve frequency only;
* fusion: visual features per frame, average-pooled to the bottleneck's time steps (16 for
  4 s), FiLM the bottleneck per time step (:class:`avsep.models.blocks.temporal.TemporalFiLM`);
* decoder: the zoo's U-Net decoder (:class:`avsep.models.blocks.unet.UNetDecoder`: upsample,
  skip concatenation, 3×3 conv) to 2 channels, the real and imaginary parts of the complex
  mask, upsampled back to the full 512 frequency bins by repetition (nearest);
* loss (as in the reference): K·tanh of the mask's real and imaginary parts against the
  bounded cRM K·tanh(S/X), K = 10, squared error weighted by log1p|X|; the mask itself is not
  bounded (the reference applies the raw network output at inference).

Visual encoders (``visual``):

* ``end_to_end`` — Y-Net-mr: mixed-convolution network MC3-18 (torchvision ``mc3_18``: stem,
  layer1 (3-D), layer2, layer3 (2-D), 256 channels, spatial mean) on 96×96 RGB mouth crops,
  trained with the separator (the ``tiny`` preset uses the zoo's ``conv3d`` front-end);
* ``vocalist`` — Y-Net-mr-V: VocaLiST's visual encoder on 48×96 crops. ``vocalist_init``
  says where its weights come from:

  - ``"pretrained"`` (the default when ``vocalist_checkpoint`` is set): loaded from a VocaLiST
    checkpoint or ``vocalist`` model package and frozen — the paper's "PT - VocaLiST" row;
  - ``"random"`` (the default without a checkpoint): randomly initialised and trained with the
    separator — the paper's "Y-Net-mr-V E2E" row. A *frozen* random encoder (random
    features: an ablation, or a saved Y-Net whose weights already hold the encoder) is
    built only when ``vocalist_init: random`` and ``visual_trainable: false`` are both
    given explicitly; never as a fallback for a missing checkpoint.

  ``visual_trainable`` defaults to False for pre-trained weights and True otherwise.

``vocalist_checkpoint`` applies only to the arm that uses it (``visual: vocalist`` with
``vocalist_init: pretrained``); the other arms ignore it, so one base config (e.g. the one the
multi-stage search fills from the registered VocaLiST champion) serves every arm of a study.
A trained model's package should store :func:`portable_options` (no local checkpoint path;
the package's weights hold the encoder).

Sources (``sources``): the network predicts one mask, the target voice's (paper). With
``"vocals+accompaniment"`` (default, the layout of the ``singing`` dataset) the second source
is the complement, mask 1 - M, i.e. mixture minus the estimated voice; with ``"vocals"`` the
model separates the voice only (batches then carry ``sources`` (B, 1, C, L)).

Batch: ``mixture`` (B, 1, L), ``video`` (B, 1, T, 3, H, W), optionally ``visual_features``
(B, T, D) already computed by :meth:`YNet.encode_video` (serving shares them between the
channels of a stereo upload). Output: complex ``mask``
(B, S, 1, F, N) with F = n_fft // 2 + 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from avsep.audio.presets import YNET_MASK_BOUND, get_stft_preset
from avsep.audio.stft import STFTConfig
from avsep.models.base import ModelSpec, SeparationModel
from avsep.models.blocks.conv import ConvBlock
from avsep.models.blocks.temporal import TemporalFiLM
from avsep.models.blocks.unet import UNetDecoder
from avsep.models.frontends import VisualFrontend, build_frontend
from avsep.models.registry import ModelInfo, check_choice, check_options, register

VISUALS = ("end_to_end", "vocalist")
SOURCE_LAYOUTS = {"vocals+accompaniment": ("vocals", "accompaniment"), "vocals": ("vocals",)}
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)  # Acappella / torchvision video models
KINETICS_STD = (0.22803, 0.22145, 0.216989)
FPS = 25.0


@dataclasses.dataclass(frozen=True)
class YNetConfig:
    stft: STFTConfig
    clip_samples: int
    channels: tuple[int, ...]
    strides: tuple[tuple[int, int], ...]  # (frequency, time) per encoder block
    frames: int  # video frames per clip at 25 fps
    crop: tuple[int, int]  # crop of the end_to_end encoder (VocaLiST's is 48×96)
    end_to_end: str  # "mc3_18" or a zoo front-end name
    visual_dim: int
    vocalist_preset: str


_S, _F = (2, 2), (2, 1)
PRESETS = {
    "paper": YNetConfig(get_stft_preset("ynet"), 4 * 2 ** 14 - 1, (32, 64, 128, 256, 256, 256),
                        (_S, _S, _S, _S, _F, _F), 100, (96, 96), "mc3_18", 256, "paper"),
    "tiny": YNetConfig(STFTConfig(4000, 126, 32), 1920, (4, 8, 16), (_S, _S, _F), 12,
                       (16, 16), "conv3d", 16, "tiny"),
}


class VideoTrunk(nn.Sequential):
    """MC3-18's stem and layers 1-3: frames (N, 3, T, H, W) -> features (N, 256, T, H/8, W/8).

    A plain tensor-to-tensor block (95 % of a paper-size Y-Net's compute), so a serving runtime
    may run it (:mod:`avsep.serve.accelerate`); its parameters keep ``nn.Sequential``'s names.
    """


class MC3Frontend(VisualFrontend):
    """Y-Net-mr's video network: torchvision MC3-18 up to layer3, spatial mean per frame.

    Frames (B, V, T, 3, H, W) -> (B, V, T, 256); the stem and layer2/3 stride 2 in space only
    (layer1 convolves in 3-D), so T is kept. Frames are standardised with the Kinetics
    statistics the reference uses.
    """

    def __init__(self, trainable: bool = True) -> None:
        super().__init__(3, trainable)
        from torchvision.models.video import mc3_18

        net = mc3_18(weights=None)
        self.net = VideoTrunk(net.stem, net.layer1, net.layer2, net.layer3)
        self.dim = 256
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 1, 3, 1, 1), False)
        self.finish()

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, 3, H, W) -> (N, T, 256)."""
        return self.net(x.transpose(1, 2)).mean(dim=(-2, -1)).transpose(1, 2)


class StridedEncoder(nn.Module):
    """5×5 conv blocks (BN, LeakyReLU 0.2) with a (frequency, time) stride per block.

    ``forward(x (B, C_in, F, N))`` returns every block's output, deepest last (the
    :class:`~avsep.models.blocks.unet.UNetDecoder` skip convention).
    """

    def __init__(self, in_channels: int, channels: Sequence[int],
                 strides: Sequence[tuple[int, int]], kernel: int = 5) -> None:
        super().__init__()
        if len(channels) != len(strides):
            raise ValueError(f"need one stride per encoder block; got {len(channels)} blocks, "
                             f"{len(strides)} strides")
        ins = (in_channels, *channels[:-1])
        self.blocks = nn.ModuleList(
            ConvBlock(i, o, kernel, s, kernel // 2, act="leaky_relu")
            for i, o, s in zip(ins, channels, strides, strict=True)
        )
        self.min_size = tuple(math.prod(s[a] for s in strides) for a in (0, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-2] < self.min_size[0] or x.shape[-1] < self.min_size[1]:
            raise ValueError(f"Y-Net input {tuple(x.shape[-2:])} (bins, frames) is too small for "
                             f"its encoder; needs at least {self.min_size}")
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


def ynet_spec(config: YNetConfig = PRESETS["paper"], visual: str = "end_to_end") -> ModelSpec:
    """Mono clip and one stream of mouth frames at 25 fps (48×96 for the VocaLiST encoder)."""
    seconds = config.clip_samples / config.stft.sample_rate
    crop = (48, 96) if visual == "vocalist" else config.crop
    return ModelSpec(stft=config.stft, clip_seconds=seconds, fps=FPS,
                     frames_per_clip=config.frames, crop=crop, video_channels=3, channels=1,
                     extra={"video_streams": 1, "mask_bound": YNET_MASK_BOUND})


class YNet(SeparationModel):
    """Y-Net-mr / Y-Net-mr-V; see the module docstring."""

    data_kind = "singing"
    inputs = ("mixture", "video")
    mask_type = "complex"
    loss_name = "mse"

    def __init__(self, config: YNetConfig, visual_encoder: VisualFrontend, *,
                 visual: str = "end_to_end", sources: str = "vocals+accompaniment",
                 preset: str = "custom") -> None:
        super().__init__()
        self.config, self.preset, self.visual = config, preset, visual
        self.source_names = SOURCE_LAYOUTS[sources]
        self.spec = ynet_spec(config, visual)
        self.loss_options = {"bound": YNET_MASK_BOUND}
        if config.stft.n_bins % 2:
            raise ValueError(f"Y-Net keeps every other of an even number of bins; n_fft "
                             f"{config.stft.n_fft} gives {config.stft.n_bins}")
        self.visual_encoder = visual_encoder
        self.encoder = StridedEncoder(2, config.channels, config.strides)
        self.fusion = TemporalFiLM(visual_encoder.dim, config.channels[-1])
        self.decoder = UNetDecoder(config.channels, 2, dropout=0.0)

    @staticmethod
    def package_options(options: Mapping[str, Any]) -> dict[str, Any]:
        """The build options a saved package stores: see :func:`portable_options`."""
        return portable_options(options)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """The target singer's frames (B, 1, T, 3, H, W) uint8 -> visual features (B, T, D).

        Inference callers that hold several items with the same video (a stereo upload runs
        this mono model once per channel) compute the features once and pass them as
        ``batch["visual_features"]`` (B, T, D); :meth:`forward` then skips the encoder.
        """
        return self.visual_encoder(video)[:, 0]

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_batch(batch)
        if batch["video"].shape[1] != 1:
            raise ValueError(f"ynet: batch['video'] must hold the target singer's stream only "
                             f"(B, 1, T, 3, H, W); got {tuple(batch['video'].shape)}")
        mix = self.mixture_stft(batch)[:, 0]  # (B, F, N) complex, mono
        coarse = mix[:, ::2]  # (B, F/2, N)
        x = torch.stack([coarse.real, coarse.imag], dim=1)  # (B, 2, F/2, N)
        visual = batch.get("visual_features")  # given by a caller that shares them
        if visual is None:
            visual = self.encode_video(batch["video"])  # (B, T, D)
        feats = self.encoder(x)
        z = self.fusion(feats[-1], visual)
        logits = self.decoder(z, feats[:-1], x.shape[2:]).float()  # (B, 2, F/2, N)
        voice = torch.complex(logits[:, 0], logits[:, 1]).unsqueeze(1)  # (B, 1, F/2, N)
        voice = voice.repeat_interleave(2, dim=2)  # nearest upsampling to F bins
        masks = [voice] if len(self.source_names) == 1 else [voice, 1.0 - voice]
        return {"mask": torch.stack(masks, dim=1)}  # (B, S, 1, F, N)



def build_visual(config: YNetConfig, visual: str, checkpoint: str | None,
                 trainable: bool) -> VisualFrontend:
    """The visual encoder of a Y-Net variant (see the module docstring).

    ``checkpoint`` is the VocaLiST checkpoint to load (``visual == "vocalist"`` only) or None
    for a randomly initialised encoder.
    """
    if visual == "vocalist":
        from avsep.models.vocalist import build_visual_encoder

        return build_visual_encoder(checkpoint, trainable, preset=config.vocalist_preset)
    if config.end_to_end == "mc3_18":
        return MC3Frontend(trainable)
    return build_frontend(config.end_to_end, in_channels=3, dim=config.visual_dim,
                          trainable=trainable)


INFO = ModelInfo(
    paper="Kadandale, Montesinos, Haro 2022 (VocaLiST) / Montesinos et al. 2021 (Acappella)",
    summary="Y-Net-mr: complex-mask U-Net, visual FiLM at the bottleneck; visual encoder "
            "MC3-18 end to end or the frozen pre-trained VocaLiST one",
    inputs=("mixture", "video"),
    spec=ynet_spec,
    conditioning=("film_bottleneck",),
    masks=("complex",),
    frontends=("mc3_18", "vocalist"),
    notes="visual: end_to_end | vocalist (vocalist_checkpoint, vocalist_init, visual_trainable)",
)

OPTIONS = ("visual", "vocalist_checkpoint", "vocalist_init", "visual_trainable", "sources")
VOCALIST_INITS = ("pretrained", "random")


def visual_options(options: Mapping[str, Any]) -> tuple[str, str | None, bool]:
    """``(visual, checkpoint or None, trainable)`` of a Y-Net config; see the module docstring.

    Raises ``ValueError`` naming the config key to set when the pre-trained arm has no
    checkpoint, or when a frozen random VocaLiST encoder was not asked for explicitly.
    """
    visual = check_choice("visual", options.get("visual", "end_to_end"), VISUALS)
    checkpoint = options.get("vocalist_checkpoint")
    if visual != "vocalist":  # the checkpoint belongs to the other arm of the study
        return visual, None, bool(options.get("visual_trainable", True))
    explicit_init = options.get("vocalist_init")
    init = check_choice("vocalist_init", explicit_init or
                        ("pretrained" if checkpoint is not None else "random"), VOCALIST_INITS)
    trainable = bool(options.get("visual_trainable", init == "random"))
    if init == "pretrained":
        if checkpoint is None:
            raise ValueError(
                "ynet: vocalist_init 'pretrained' needs model.vocalist_checkpoint (a VocaLiST "
                "checkpoint file or a 'vocalist' model package folder, e.g. the registered "
                "champion of `avsep tune --space vocalist`); for the end-to-end arm set "
                "model.vocalist_init: random")
        return visual, str(checkpoint), trainable
    if not trainable and explicit_init is None:
        raise ValueError(
            "ynet: a frozen VocaLiST encoder without model.vocalist_checkpoint would give random "
            "features; set model.vocalist_checkpoint to a pre-trained VocaLiST, or "
            "model.visual_trainable: true to train it end to end, or model.vocalist_init: "
            "random to ask for frozen random features on purpose")
    return visual, None, trainable


def portable_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The config to store in a trained Y-Net's model package: without the local
    ``vocalist_checkpoint`` path (the package's weights already hold the encoder), with the
    arm spelled out (``vocalist_init: random`` + the built ``visual_trainable``), so the package
    rebuilds the same module on a machine that never saw the checkpoint."""
    visual, _, trainable = visual_options(options)
    out = {k: v for k, v in options.items() if k != "vocalist_checkpoint"}
    if visual == "vocalist":
        out.update(vocalist_init="random", visual_trainable=trainable)
    return out


@register("ynet", info=INFO)
def build_ynet(options: Mapping[str, Any]) -> YNet:
    """``{"name": "ynet", "preset", "visual", "vocalist_checkpoint", "vocalist_init",
    "visual_trainable", "sources"}``; see the module docstring for the visual arms."""
    check_options("ynet", options, OPTIONS)
    preset = check_choice("preset", options.get("preset", "paper"), tuple(PRESETS))
    sources = check_choice("sources", options.get("sources", "vocals+accompaniment"),
                           tuple(SOURCE_LAYOUTS))
    visual, checkpoint, trainable = visual_options(options)
    config = PRESETS[preset]
    encoder = build_visual(config, visual, checkpoint, trainable)
    return YNet(config, encoder, visual=visual, sources=sources, preset=preset)

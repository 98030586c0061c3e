"""VocaLiST: lip-voice synchronisation transformer (Kadandale, Montesinos, Haro, 2022).

Architecture (paper §3.1 and the authors' code):

* audio encoder: residual 2-D conv stack (Wav2Lip sync-expert style) over an 80-mel
  spectrogram of 16 kHz audio (hop 200, window 800; ``avsep.audio`` mel preset
  ``vocalist``); frequency is reduced 80 -> 27 -> 9 -> 3 -> 1 by stride-(3, 1)
  convolutions, time is kept: (B, 1, 80, Ta) -> (B, Ta, D);
* visual encoder: residual 3-D conv stack over RGB mouth crops 48×96 at 25 fps; space is
  reduced to 1×1, time is kept: (B, V, T, 3, 48, 96) -> (B, V, T, D);
* synchronisation block: three cross-modal transformers (D=512, 8 heads, 4 layers each):
  A→V (audio queries, visual keys/values), V→A, and a fusion unit (A→V output as queries,
  V→A output as keys/values); max-pool over time, Linear + tanh, Linear -> one logit.

Trained with BCE on in-sync (``sync=1``) vs shifted (``sync=0``) pairs of 5 video frames.
Option ``visual_norm`` (:data:`VISUAL_NORMS`, default ``none`` = the paper's frames in [0, 1])
normalises the frames per clip before the visual encoder (see docs/models_extra.md for why).
:func:`estimate_offset` scores every offset in ±15 frames for each 5-frame window of a longer
clip, averages over windows and returns the best offset.

Checkpoints (:func:`save_checkpoint` / :func:`load_checkpoint`) are a plain dict of tensors
and JSON-like config, read back with ``torch.load(weights_only=True)``;
:func:`build_visual_encoder` loads just the visual encoder from one (used by Y-Net-mr-V and
the ``vocalist`` visual front-end).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from avsep.audio.mel import log_mel_spectrogram
from avsep.audio.presets import get_stft_preset
from avsep.audio.stft import STFTConfig
from avsep.models.base import ModelSpec, ZooModel
from avsep.models.blocks.transformer import CrossModalTransformer
from avsep.models.frontends import VisualFrontend
from avsep.models.registry import ModelInfo, check_choice, check_options, register

CHECKPOINT_FORMAT = "avsep.vocalist"
CHECKPOINT_VERSION = 1
CROP = (48, 96)  # (H, W) of a mouth crop
FPS = 25.0


@dataclasses.dataclass(frozen=True)
class VocalistConfig:
    """Sizes of one VocaLiST model. ``channels[-1]`` is the transformer width D."""

    channels: tuple[int, ...] = (32, 64, 128, 256, 512)
    heads: int = 8
    layers: int = 4
    window_frames: int = 5
    n_mels: int = 80
    embed_dropout: float = 0.25
    dropout: float = 0.1
    visual_norm: str = "none"  # see VISUAL_NORMS

    @property
    def dim(self) -> int:
        return self.channels[-1]


#: what the visual encoder does to frames in [0, 1] before its first conv: ``none`` (the paper),
#: ``clip`` (zero mean, unit variance per clip and colour channel) or ``temporal`` (each pixel
#: minus its mean over the clip's frames: what moves stays, the face's look and lighting go)
VISUAL_NORMS = ("none", "clip", "temporal")

PRESETS: dict[str, VocalistConfig] = {
    "paper": VocalistConfig(),
    # CPU scale: at this size the encoder learns sync from raw frames only with the clip's
    # still image removed and no dropout (docs/models_extra.md, "vocalist"); paper stays as is
    "tiny": VocalistConfig(channels=(4, 8, 8, 16, 32), heads=4, layers=1,
                           visual_norm="temporal", dropout=0.0, embed_dropout=0.0),
}


def vocalist_stft() -> STFTConfig:
    """The paper's mel analysis: 16 kHz, window 800, hop 200 (80 mel frames per second)."""
    return get_stft_preset("vocalist")


def vocalist_spec(window_frames: int = 5) -> ModelSpec:
    """Audio/video contract: 16 kHz audio and 25 fps 48×96 RGB mouth crops, 5-frame clips."""
    return ModelSpec(
        stft=vocalist_stft(), clip_seconds=window_frames / FPS, fps=FPS,
        frames_per_clip=window_frames, crop=CROP, video_channels=3,
        extra={"n_mels": 80, "max_offset": 15},
    )


class ConvBN(nn.Module):
    """Conv (2-D or 3-D) + BatchNorm + ReLU, with an identity residual when ``residual``.

    Shapes: (B, Cin, *S) -> (B, Cout, *S') with S' set by stride/padding.
    """

    def __init__(self, dims: int, cin: int, cout: int, kernel: int | tuple, stride: int | tuple = 1,
                 padding: int | tuple = 0, residual: bool = False) -> None:
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        if residual and (cin != cout or stride not in (1, (1,) * dims)):
            raise ValueError("a residual conv needs cin == cout and stride 1")
        self.conv = conv(cin, cout, kernel, stride, padding)
        self.norm = norm(cout)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.conv(x))
        return F.relu(out + x if self.residual else out)


def _stage(dims: int, cin: int, cout: int, kernel: int, stride: Any, padding: Any,
           n_res: int) -> list[nn.Module]:
    """A strided conv followed by ``n_res`` residual 3-wide convs at ``cout`` channels."""
    return [ConvBN(dims, cin, cout, kernel, stride, padding)] + [
        ConvBN(dims, cout, cout, 3, 1, 1, residual=True) for _ in range(n_res)
    ]


class AudioEncoder(nn.Module):
    """Log-mel (B, 1, 80, Ta) -> features (B, Ta, D); frequency 80 -> 1, time kept."""

    def __init__(self, channels: Sequence[int], n_mels: int = 80) -> None:
        super().__init__()
        if n_mels != 80:
            raise ValueError(f"the VocaLiST audio encoder reduces exactly 80 mels to 1; "
                             f"got n_mels={n_mels}")
        c = list(channels)
        layers = [ConvBN(2, 1, c[0], 3, 1, 1), ConvBN(2, c[0], c[0], 3, 1, 1, True),
                  ConvBN(2, c[0], c[0], 3, 1, 1, True)]
        for cin, cout in zip(c[0:3], c[1:4], strict=True):
            layers += _stage(2, cin, cout, 3, (3, 1), 1, n_res=2)
        layers += [ConvBN(2, c[3], c[4], 3, 1, (0, 1)), ConvBN(2, c[4], c[4], 1, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net(mel).squeeze(2).transpose(1, 2)


class VisualEncoder(VisualFrontend):
    """Mouth crops (B, V, T, 3, 48, 96) uint8 or float in [0, 1] -> (B, V, T, D).

    A visual front-end (:mod:`avsep.models.frontends` contract) without standardisation
    (VocaLiST feeds frames in [0, 1]). 3-D convs in (T, H, W) order, all strides 1 in time,
    so T is kept. ``trainable=False`` freezes it (no gradients, BatchNorm in eval mode even
    inside a module switched to ``train()``).
    """

    def __init__(self, channels: Sequence[int], trainable: bool = True,
                 norm: str = "none") -> None:
        super().__init__(3, trainable)
        self.norm = check_choice("visual_norm", norm, VISUAL_NORMS)
        c = list(channels)
        layers = [ConvBN(3, 3, c[0], 7, 1, 3)]
        layers += _stage(3, c[0], c[1], 5, (1, 1, 2), (2, 1, 1), n_res=2)
        layers += _stage(3, c[1], c[2], 3, (1, 2, 2), 1, n_res=3)
        layers += _stage(3, c[2], c[3], 3, (1, 2, 2), 1, n_res=2)
        layers += _stage(3, c[3], c[4], 3, (1, 2, 2), 1, n_res=2)
        layers += [ConvBN(3, c[4], c[4], 3, (1, 2, 2), 1), ConvBN(3, c[4], c[4], 3, 1, (1, 0, 0)),
                   ConvBN(3, c[4], c[4], 1, 1, 0)]
        self.net = nn.Sequential(*layers)
        self.dim = c[-1]
        self.finish()

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, 3, H, W) in [0, 1] -> the same shape, normalised as ``norm`` says."""
        if self.norm == "clip":
            return super().standardise(x)
        if self.norm == "temporal":
            if x.shape[1] < 2:
                raise ValueError("visual_norm 'temporal' needs clips of 2+ frames; got "
                                 f"{x.shape[1]}; use visual_norm 'clip' or 'none'")
            return x - x.mean(dim=1, keepdim=True)
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, 3, 48, 96) in [0, 1] -> (N, T, D)."""
        if tuple(x.shape[-2:]) != CROP:
            raise ValueError(f"VocaLiST visual encoder expects {CROP[0]}×{CROP[1]} mouth crops "
                             f"(B, V, T, 3, {CROP[0]}, {CROP[1]}); got frames of "
                             f"{tuple(x.shape[-2:])}")
        return self.net(x.transpose(1, 2)).flatten(2).transpose(1, 2)


class VocaLiST(ZooModel):
    """Lip-voice sync classifier.

    Batch: ``mixture`` (B, C, L) 16 kHz audio, ``video`` (B, 1, T, 3, 48, 96) mouth crops at
    25 fps (T = 5 in training), ``sync`` (B,) for the loss.
    Output: ``logits`` (B,), ``score`` (B,) = sigmoid(logits).
    """

    task = "sync"
    data_kind = "lipsync"
    inputs = ("mixture", "video")

    def __init__(self, config: VocalistConfig, *, preset: str = "custom",
                 visual_trainable: bool = True) -> None:
        super().__init__()
        self.config = config
        self.preset = preset
        self.spec = vocalist_spec(config.window_frames)
        self.audio_encoder = AudioEncoder(config.channels, config.n_mels)
        self.visual_encoder = VisualEncoder(config.channels, trainable=visual_trainable,
                                            norm=config.visual_norm)
        kwargs = dict(heads=config.heads, layers=config.layers, relu_dropout=config.dropout,
                      res_dropout=config.dropout, embed_dropout=config.embed_dropout)
        self.av_transformer = CrossModalTransformer(config.dim, **kwargs)
        self.va_transformer = CrossModalTransformer(config.dim, **kwargs)
        self.fusion_transformer = CrossModalTransformer(config.dim, **kwargs)
        self.fc = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, 1)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_batch(batch)
        video = batch["video"]
        if video.ndim != 6 or video.shape[1] != 1:
            raise ValueError(f"VocaLiST expects one video stream (B, 1, T, 3, 48, 96), "
                             f"got {tuple(video.shape)}")
        mixture = batch["mixture"]
        if mixture.ndim != 3:
            raise ValueError(f"VocaLiST: batch['mixture'] must be (B, C, L); "
                             f"got {tuple(mixture.shape)}")
        logits = self.head(self.encode_audio(mixture), self.encode_visual(video))
        return {"logits": logits, "score": torch.sigmoid(logits)}

    def encode_audio(self, mixture: torch.Tensor) -> torch.Tensor:
        """(B, C, L) 16 kHz audio -> (B, Ta, D) audio features."""
        mel = log_mel_spectrogram(mixture.float().mean(dim=1), "vocalist").unsqueeze(1)
        return self.audio_encoder(mel)

    def encode_visual(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, 3, 48, 96) mouth crops -> (B, T, D) visual features."""
        return self.visual_encoder(video)[:, 0]

    def head(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """The synchronisation block on encoded windows: audio (B, Ta, D) and visual
        (B, T, D) features -> logits (B,)."""
        av = self.av_transformer(audio, visual)
        va = self.va_transformer(visual, audio)
        fused = self.fusion_transformer(av, va)  # (B, Ta, D)
        pooled = fused.max(dim=1).values
        return self.classifier(torch.tanh(self.fc(pooled))).squeeze(-1)

    def loss(self, batch: Mapping[str, torch.Tensor],
             out: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if "sync" not in batch:
            raise KeyError("VocaLiST loss needs batch['sync'] (1 = in sync, 0 = shifted)")
        return F.binary_cross_entropy_with_logits(out["logits"], batch["sync"].float())


_SIZE_OPTIONS = tuple(f.name for f in dataclasses.fields(VocalistConfig))


def config_from_options(options: Mapping[str, Any]) -> tuple[str, VocalistConfig]:
    """(preset, VocalistConfig) from a model config; unknown keys and presets are errors."""
    check_options("vocalist", options, ("visual_trainable", *_SIZE_OPTIONS))
    preset = check_choice("preset", options.get("preset", "paper"), tuple(PRESETS))
    overrides = {k: v for k, v in options.items() if k in _SIZE_OPTIONS}
    if "channels" in overrides:
        overrides["channels"] = tuple(int(c) for c in overrides["channels"])
        if len(overrides["channels"]) != 5:
            raise ValueError(f"vocalist: channels needs 5 widths, got {overrides['channels']}")
    config = dataclasses.replace(PRESETS[preset], **overrides)
    if config.dim % config.heads:
        raise ValueError(f"vocalist: width {config.dim} is not divisible by heads {config.heads}")
    if config.window_frames < 1:
        raise ValueError(f"vocalist: window_frames must be >= 1, got {config.window_frames}")
    return preset, config


INFO = ModelInfo(
    paper="Kadandale, Montesinos, Haro 2022 (VocaLiST)",
    summary="lip-voice sync transformer: conv audio/3-D conv visual encoders, 3 cross-modal "
            "transformers, max-pool + tanh + linear -> sync logit",
    inputs=("mixture", "video"),
    spec=vocalist_spec,
    masks=("sync",),
    paper_parameters=80.1e6,
    notes="task=sync (BCE on batch['sync']); estimate_offset() searches ±15 frames",
)


@register("vocalist", info=INFO)
def build_vocalist(options: Mapping[str, Any]) -> VocaLiST:
    """Build VocaLiST from ``{"name": "vocalist", "preset": "paper"|"tiny", ...overrides}``."""
    preset, config = config_from_options(options)
    return VocaLiST(config, preset=preset,
                    visual_trainable=bool(options.get("visual_trainable", True)))


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(model: VocaLiST, path: str | Path,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` as ``{"format", "version", "config", "state_dict", "extra"}``.

    Only tensors, strings, numbers, lists and dicts: loadable with ``weights_only=True``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": {**dataclasses.asdict(model.config), "channels": list(model.config.channels)},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def _load_package(path: Path) -> tuple[VocalistConfig, dict[str, torch.Tensor]]:
    """(config, state_dict) of a ``vocalist`` model package folder (what the platform saves)."""
    import json

    from safetensors.torch import load_file

    from avsep.models.package import CONFIG_FILE, WEIGHTS_FILE, find_package

    folder = find_package(path)
    model_config = json.loads((folder / CONFIG_FILE).read_text()).get("model", {})
    if model_config.get("name") != "vocalist":
        raise ValueError(f"{path}: model package holds {model_config.get('name')!r}, "
                         "expected a 'vocalist' model")
    _, config = config_from_options(model_config)
    return config, load_file(str(folder / WEIGHTS_FILE))


def load_checkpoint(path: str | Path) -> tuple[VocalistConfig, dict[str, torch.Tensor]]:
    """Read a VocaLiST checkpoint -> (config, state_dict).

    ``path`` is a file written by :func:`save_checkpoint` or a model package folder of a
    trained ``vocalist`` (:mod:`avsep.models.package`, what the platform registers).
    """
    path = Path(path)
    if path.is_dir():
        return _load_package(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: VocaLiST checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(f"{path}: not a readable VocaLiST checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a VocaLiST checkpoint "
                         f"(expected format {CHECKPOINT_FORMAT!r})")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {payload.get('version')}, "
                         f"expected {CHECKPOINT_VERSION}")
    cfg = dict(payload["config"])
    cfg["channels"] = tuple(cfg["channels"])
    return VocalistConfig(**cfg), payload["state_dict"]


def load_vocalist(path: str | Path) -> VocaLiST:
    """The full VocaLiST model stored in a checkpoint, in eval mode."""
    config, state = load_checkpoint(path)
    model = VocaLiST(config)
    model.load_state_dict(state)
    return model.eval()


def build_visual_encoder(checkpoint: str | Path | None, trainable: bool, *,
                         preset: str = "paper") -> VisualEncoder:
    """VocaLiST's visual encoder: frames (B, V, T, 3, 48, 96) -> (B, V, T, D).

    Weights come from ``checkpoint`` (a :func:`save_checkpoint` file or a ``vocalist`` model
    package folder) when given; otherwise the encoder of ``preset`` is randomly initialised.
    ``trainable=False`` freezes it (no gradients, BatchNorm in eval mode).
    """
    if checkpoint is None:
        if preset not in PRESETS:
            raise ValueError(f"vocalist encoder: unknown preset {preset!r}; "
                             f"valid choices: {sorted(PRESETS)}")
        return VisualEncoder(PRESETS[preset].channels, trainable=trainable,
                             norm=PRESETS[preset].visual_norm)
    config, state = load_checkpoint(checkpoint)
    encoder = VisualEncoder(config.channels, trainable=trainable, norm=config.visual_norm)
    prefix = "visual_encoder."
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not sub:
        raise ValueError(f"{checkpoint}: checkpoint holds no visual_encoder weights")
    # a search checks its configurations on the meta device, where copying into the
    # parameters is a no-op (torch warns once per tensor): the loaded tensors are taken instead
    on_meta = any(t.is_meta for t in encoder.state_dict().values())
    encoder.load_state_dict(sub, assign=on_meta)
    return encoder


# --------------------------------------------------------------------------- offset search

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class ModelScorer:
    """A VocaLiST as a :data:`Scorer`: (audio (N, C, Lw), video (N, 1, W, ...)) -> logits (N,).

    :func:`score_offsets` recognises it and encodes each audio and visual window once, then
    runs only the synchronisation block per (window, offset) pair: the same logits as calling
    the model on every pair, without re-encoding a window for each of the 2K+1 offsets (the
    visual encoder's 3-D convolutions were 80 % of a sync evaluation)."""

    model: VocaLiST

    def __call__(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return self.model({"mixture": audio, "video": video})["logits"]


def model_scorer(model: VocaLiST) -> ModelScorer:
    """Scorer for :func:`score_offsets` (``model`` in eval mode)."""
    return ModelScorer(model.eval())


def _in_chunks(function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               size: int) -> torch.Tensor:
    """``function`` over the first axis of ``x`` in chunks of ``size``, concatenated."""
    return torch.cat([function(x[lo: lo + size]) for lo in range(0, len(x), size)])


def _encoded_scores(model: VocaLiST, mixture: torch.Tensor, video: torch.Tensor,
                    starts: list[int], offsets: range, spf: int, window: int,
                    batch_size: int) -> torch.Tensor:
    """(B, offsets, starts) logits of every (window start, offset) pair, each audio window
    (start + offset) and each visual window (start) encoded once. ``mixture`` (B, C, L),
    ``video`` (B, 1, T, 3, H, W)."""
    b = mixture.shape[0]
    # window starts are consecutive frames: start s and offset o hear audio window s + o
    positions = range(starts[0] + offsets[0], starts[-1] + offsets[-1] + 1)
    audio = torch.stack([mixture[..., q * spf:(q + window) * spf] for q in positions], 1)
    clips = torch.stack([video[:, :, t:t + window] for t in starts], 1)
    heard = _in_chunks(model.encode_audio, audio.flatten(0, 1), batch_size)
    seen = _in_chunks(model.encode_visual, clips.flatten(0, 1), batch_size)
    heard = heard.reshape(b, len(positions), *heard.shape[1:])  # (B, Q, Ta, D)
    seen = seen.reshape(b, len(starts), *seen.shape[1:])  # (B, S, T, D)
    item, offset, start = torch.meshgrid(torch.arange(b), torch.arange(len(offsets)),
                                         torch.arange(len(starts)), indexing="ij")
    audio_index = (start + offset).flatten()
    item, start = item.flatten(), start.flatten()
    logits = []
    for lo in range(0, len(item), batch_size):
        part = slice(lo, lo + batch_size)
        logits.append(model.head(heard[item[part], audio_index[part]],
                                 seen[item[part], start[part]]))
    return torch.cat(logits).float().cpu().reshape(b, len(offsets), len(starts))


@torch.no_grad()
def score_offsets(scorer: Scorer | VocaLiST, mixture: torch.Tensor, video: torch.Tensor, *,
                  sample_rate: int = 16000, fps: float = FPS, window: int = 5,
                  max_offset: int = 15, batch_size: int = 256) -> torch.Tensor:
    """Window-averaged sync scores for each offset in ``-max_offset..max_offset``.

    ``mixture`` (B, C, L) audio, ``video`` (B, 1, T, Cv, H, W). For every visual window of
    ``window`` frames starting at frame t (stride 1) that has audio for all offsets, the audio
    window starting at frame t + o is scored; scores are averaged over t. Offset o > 0 means
    video frame t matches audio frame t + o (the audio lags the picture).
    Returns (B, 2·max_offset + 1) scores, column k for offset k - max_offset. A VocaLiST
    (or its :func:`model_scorer`) has each window encoded once (:class:`ModelScorer`); any other
    scorer is called on every (window, offset) pair, ``batch_size`` pairs a call.
    """
    if isinstance(scorer, VocaLiST):
        scorer = model_scorer(scorer)
    spf = sample_rate / fps
    if abs(spf - round(spf)) > 1e-6:
        raise ValueError(f"sample_rate / fps must be whole samples per frame, got {spf}")
    spf = int(round(spf))
    b, t_video = video.shape[0], video.shape[2]
    t_audio = mixture.shape[-1] // spf
    starts = list(range(max_offset, min(t_video - window, t_audio - window - max_offset) + 1))
    if not starts:
        need = window + 2 * max_offset
        raise ValueError(
            f"offset search over ±{max_offset} frames with {window}-frame windows needs at least "
            f"{need} video frames and {need} frames of audio ({need * spf} samples); "
            f"got {t_video} frames and {mixture.shape[-1]} samples"
        )
    offsets = range(-max_offset, max_offset + 1)
    if isinstance(scorer, ModelScorer):
        return _encoded_scores(scorer.model, mixture, video, starts, offsets, spf, window,
                               batch_size).mean(dim=2)
    pairs = [(t, o) for o in offsets for t in starts]
    scores = torch.empty(b, len(pairs))
    step = max(1, batch_size // b)
    for lo in range(0, len(pairs), step):
        chunk = pairs[lo: lo + step]
        audio = torch.stack([mixture[..., (t + o) * spf:(t + o + window) * spf]
                             for t, o in chunk], 1)
        clips = torch.stack([video[:, :, t:t + window] for t, _ in chunk], 1)
        logits = scorer(audio.flatten(0, 1), clips.flatten(0, 1))
        scores[:, lo: lo + len(chunk)] = logits.reshape(b, len(chunk)).float().cpu()
    return scores.reshape(b, len(offsets), len(starts)).mean(dim=2)


def estimate_offset(scorer: Scorer | VocaLiST, mixture: torch.Tensor, video: torch.Tensor,
                    **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Best offset per item: ``(offsets (B,) int64, scores (B, 2K+1))``.

    See :func:`score_offsets` for the arguments and the sign of an offset.
    """
    scores = score_offsets(scorer, mixture, video, **kwargs)
    max_offset = (scores.shape[1] - 1) // 2
    return scores.argmax(dim=1) - max_offset, scores

"""Attribute-aware singing voice separation (Swaminathan & Lerch, 2019): ``attr_dnn``, ``vad_cnn``.

``attr_dnn`` — a 3-layer feed-forward net (1024 ReLU units each) applied to every STFT frame
of the mixture magnitude (16 kHz, 1024-point FFT, 640-sample window, hop 320) stacked with one
neighbouring frame on either side (3·F inputs), plus a 2-d vocal-activity vector (times
``activity_scale``: 1 in the paper preset, the paper's plain one-hot; 100 in the tiny preset,
see :class:`AttrConfig`). Its output
layer gives ŷ₁, ŷ₂ (F each); the joint soft-mask layer (Huang et al.) turns them into
masks m₁ = |ŷ₁| / (|ŷ₁| + |ŷ₂|), m₂ = 1 - m₁ for vocals and accompaniment; the loss is the
squared error between mᵢ ⊙ |X| and |Sᵢ| (paper eq. 3), i.e. the zoo's ``direct`` / ``l2`` loss.

Vocal-activity input (``vad_source``); the paper's cases:

* ``none``      no activity input (case 0);
* ``oracle``    one-hot [1 - v, v] of the oracle labels ``batch["vad"]`` (case I.a);
* ``perturbed`` the oracle with exactly ``round(vad_perturbation · N)`` of the N frames of each
                item flipped, positions drawn uniformly at random (the paper's "random
                perturbations drawn from a uniform distribution"), in training and at inference
                (case I.b, Table IV: 2.5–15 %). Seeded: ``vad_seed`` fixes the draws (one
                stream for training, one for inference, both restarting when the model is
                built, so a loaded model evaluates the same test set with the same errors);
* ``detector``  case II: the separator is *trained* on the oracle labels ``batch["vad"]`` and
                at *inference* (``eval()`` mode) fed the softmax probabilities of a ``vad_cnn``
                run on the mixture (Fig. 2). The detector is either loaded frozen from a model
                package folder (``vad_checkpoint``: the paper's pre-trained detector), or built
                inside (``detector_preset``) and trained alongside on the same labels with its
                own cross-entropy, which :meth:`AttributeAwareDNN.loss` adds (the two nets share
                no gradient: the separator never sees the detector while training).

Case II for a model trained on oracle or perturbed labels (Table V) is
:func:`use_detector` (``model`` switched in place to the detector at inference);
:func:`vad_from_detector` turns a ``vad_cnn`` output into the ``vad`` batch key (B, N) of an
``attr_dnn`` on its own frame grid. Every arm reads the ``vad`` dataset (the same singing
mixtures with frame labels always on and no extra vocal: MIR-1K has none; the paper's data
augmentation, random accompaniment every epoch, is the dataset's random pairing).

``vad_cnn`` — CNN singing-voice detector (Schlüter & Grill style, paper §III-B-2) on
80-band log-mel patches of 41 frames (±20 context) at the same 50 fps frame grid:
conv 64 3×3, max-pool 2×2, conv 32 3×3, max-pool 2×2, conv 128 3×3, conv 64 3×3,
dense 512, dense 128, 2-way softmax; trained with cross-entropy (BCE) on ``batch["vad"]``.
Tiny preset only (options ``band_norm``, ``balanced``; see :class:`VadConfig`): each log-mel
band standardised with running training statistics, and the cross-entropy class-balanced.

Shapes: mixture (B, C, L) -> STFT frames N = L // 320 + 1, F = 513 bins; ``attr_dnn`` returns
``mask`` and ``magnitude`` (B, 2, C, F, N), plus for the detector arm ``activity`` (B, N) =
P(vocal) (in training mode only with a trainable detector) and ``vad_logits`` (B, N, 2) (the
trainable detector's logits, training and inference); ``vad_cnn`` returns ``logits``
(B, N, 2) and ``activity`` (B, N) = P(vocal).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from avsep.audio.mel import log_mel_spectrogram
from avsep.audio.presets import get_mel_preset, get_stft_preset
from avsep.audio.stft import STFTConfig
from avsep.models.base import ModelSpec, SeparationModel, ZooModel
from avsep.models.registry import ModelInfo, check_choice, check_options, register

VAD_SOURCES = ("none", "oracle", "perturbed", "detector")
SOURCES = ("vocals", "accompaniment")
CLIP_SECONDS = 3.0  # the paper works frame by frame; clip length only sets the batch size


def attr_stft():
    """16 kHz, 1024-point FFT, 640-sample window, hop 320 (paper §III-A)."""
    return get_stft_preset("attr")


def attr_spec(channels: int = 1) -> ModelSpec:
    return ModelSpec(stft=attr_stft(), clip_seconds=CLIP_SECONDS, channels=channels)


def one_hot_activity(vad: torch.Tensor) -> torch.Tensor:
    """Frame activity (B, N) in [0, 1] -> two-class vector [1 - v, v] (B, N, 2)."""
    vad = vad.float()
    return torch.stack([1.0 - vad, vad], dim=-1)


def perturb_activity(vad: torch.Tensor, fraction: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 activity (B, N) with exactly ``round(fraction * N)`` frames of each row flipped.

    The flipped frames are drawn uniformly without replacement (independent positions, not
    segments), as Swaminathan & Lerch's uniform random perturbation; ``generator`` (CPU) seeds
    the draw. Returns float32 (B, N) on ``vad``'s device.
    """
    vad = vad.float()
    if vad.ndim != 2:
        raise ValueError(f"perturb_activity: vad must be (B, N); got {tuple(vad.shape)}")
    count = int(round(fraction * vad.shape[1]))
    if count == 0:
        return vad.clone()
    order = torch.rand(vad.shape, generator=generator, device="cpu").argsort(dim=1)[:, :count]
    flip = torch.zeros(vad.shape, dtype=torch.bool).scatter_(1, order, True).to(vad.device)
    return torch.where(flip, 1.0 - vad, vad)


def context_frames(x: torch.Tensor, radius: int,
                   pad_value: float | torch.Tensor | None = None) -> torch.Tensor:
    """Stack ``radius`` neighbouring frames on each side: (..., D, N) -> (..., N, 2r+1, D).

    Edges repeat the first/last frame (``pad_value=None``), or take a constant: a float, or a
    tensor (D,) with one value per row ``D`` (e.g. a per-band floor).
    """
    if pad_value is None:
        left, right = x[..., :1], x[..., -1:]
    elif isinstance(pad_value, torch.Tensor):
        left = right = pad_value.to(x)[:, None].expand(*x.shape[:-1], 1)
    else:
        left = right = torch.full((*x.shape[:-1], 1), float(pad_value), dtype=x.dtype,
                                  device=x.device)
    padded = torch.cat([left.expand(*x.shape[:-1], radius), x,
                        right.expand(*x.shape[:-1], radius)], dim=-1)
    windows = padded.unfold(-1, 2 * radius + 1, 1)  # (..., D, N, 2r+1)
    return windows.movedim(-3, -1)


# ------------------------------------------------------------------------------- vad_cnn


@dataclasses.dataclass(frozen=True)
class VadConfig:
    """``band_norm``: standardise each log-mel band with running training statistics (as
    Schlüter & Grill's detector does; the paper states no input normalisation);
    ``balanced``: weight the cross-entropy by inverse class frequency in each batch (the paper
    uses plain cross-entropy). Both are on in the tiny preset, off in the paper preset."""

    conv: tuple[int, int, int, int] = (64, 32, 128, 64)
    dense: tuple[int, int] = (512, 128)
    n_mels: int = 80
    context: int = 20
    band_norm: bool = False
    balanced: bool = False


VAD_PRESETS = {"paper": VadConfig(),
               "tiny": VadConfig(conv=(4, 4, 8, 8), dense=(16, 8), band_norm=True,
                                 balanced=True)}
#: ``vad_cnn`` build options that override a field of its preset
_VAD_OPTIONS = ("band_norm", "balanced")


class BandNorm(nn.Module):
    """Per-band standardisation of a log-mel (B, M, N) -> (B, M, N), no parameters.

    Training mode: each band's mean and variance over batch and frames, which also update
    running estimates (momentum 0.1); inference: the running estimates, i.e. the training
    set's statistics (Schlüter & Grill standardise each band over the training set).
    :meth:`forward` also returns the standardised value of a constant (the log floor), (M,).
    """

    def __init__(self, bands: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(bands))
        self.register_buffer("running_var", torch.ones(bands))

    def forward(self, x: torch.Tensor, constant: float) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training:
            mean, var = x.mean(dim=(0, 2)), x.var(dim=(0, 2), unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        scale = torch.rsqrt(var + self.eps)
        return (x - mean[:, None]) * scale[:, None], (constant - mean) * scale


class VadCNN(ZooModel):
    """Frame-level singing-voice detector.

    Batch: ``mixture`` (B, C, L); loss needs ``vad`` (B, N) in [0, 1].
    Output: ``logits`` (B, N, 2), ``activity`` (B, N) = softmax(logits)[..., 1].
    """

    task = "vad"
    data_kind = "vad"
    inputs = ("mixture",)
    source_names = ()

    def __init__(self, config: VadConfig, preset: str = "custom") -> None:
        super().__init__()
        self.config, self.preset = config, preset
        self.spec = attr_spec()
        self.mel_config = get_mel_preset("vad_cnn")
        if config.n_mels != self.mel_config.n_mels:
            raise ValueError(f"vad_cnn: the vad_cnn mel preset has {self.mel_config.n_mels} bands; "
                             f"got n_mels={config.n_mels}")
        self.norm = BandNorm(config.n_mels) if config.band_norm else None
        c1, c2, c3, c4 = config.conv
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3), nn.ReLU(),
            nn.Conv2d(c3, c4, 3), nn.ReLU(),
        )
        h, w = self._feature_size(config.n_mels, 2 * config.context + 1)
        if h < 1 or w < 1:
            raise ValueError(f"vad_cnn: a {config.n_mels}×{2 * config.context + 1} patch is too "
                             "small for two 2×2 poolings and four 3×3 convolutions")
        d1, d2 = config.dense
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c4 * h * w, d1), nn.ReLU(), nn.Linear(d1, d2), nn.ReLU(),
            nn.Linear(d2, 2),
        )

    @staticmethod
    def _feature_size(h: int, w: int) -> tuple[int, int]:
        for op in ("conv", "pool", "conv", "pool", "conv", "conv"):
            h, w = (h - 2, w - 2) if op == "conv" else (h // 2, w // 2)
        return h, w

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_batch(batch)
        mix = batch["mixture"]
        if mix.ndim != 3:
            raise ValueError(f"vad_cnn: batch['mixture'] must be (B, C, L); got {tuple(mix.shape)}")
        mel = log_mel_spectrogram(mix.float().mean(dim=1), self.mel_config)  # (B, M, N)
        b, m, n = mel.shape
        floor: float | torch.Tensor = math.log(self.mel_config.floor)  # silence outside
        if self.norm is not None:
            mel, floor = self.norm(mel, floor)
        patches = context_frames(mel, self.config.context, pad_value=floor)
        patches = patches.transpose(-1, -2).reshape(b * n, 1, m, -1)  # (B·N, 1, M, 2r+1)
        logits = self.classifier(self.features(patches)).reshape(b, n, 2)
        return {"logits": logits, "activity": logits.softmax(-1)[..., 1]}

    def loss(self, batch: Mapping[str, torch.Tensor],
             out: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return vad_loss(batch, out["logits"], balanced=self.config.balanced)


def vad_loss(batch: Mapping[str, torch.Tensor], logits: torch.Tensor,
             balanced: bool = False) -> torch.Tensor:
    """Cross-entropy of 2-way ``logits`` (B, N, 2) against ``batch["vad"]`` (B, N).

    ``balanced``: class c weighs ``B·N / (2·N_c)`` (N_c = its frames in the batch, at least
    one), so both classes count alike however rare the no-vocal frames are.
    """
    if "vad" not in batch:
        raise KeyError("the vocal-activity loss needs batch['vad'] (B, N) frame labels")
    vad = batch["vad"].float()
    if vad.shape != logits.shape[:2]:
        raise ValueError(f"batch['vad'] must be (B, N) = {tuple(logits.shape[:2])} frames on the "
                         f"model's STFT grid; got {tuple(vad.shape)}")
    target = one_hot_activity(vad).reshape(-1, 2)
    weight = None
    if balanced:
        weight = (target.shape[0] / (2 * target.sum(0).clamp_min(1.0))).to(logits.dtype)
    return F.cross_entropy(logits.reshape(-1, 2).float(), target, weight=weight)


VAD_INFO = ModelInfo(
    paper="Swaminathan & Lerch 2019",
    summary="CNN singing-voice detector, 80-band log-mel, ±20 context frames",
    inputs=("mixture",),
    spec=attr_spec,
    masks=("vad",),
    notes="task=vad; output P(vocal) per STFT frame (50 fps)",
)


def _overridden(config: Any, options: Mapping[str, Any], names: tuple[str, ...],
                model: str) -> Any:
    """``config`` with the fields ``names`` that ``options`` sets (type-checked) replaced."""
    changes = {}
    for name in names:
        if name not in options:
            continue
        default = getattr(config, name)
        value = options[name]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"{model}: option {name} must be true or false; got {value!r}")
        if isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{model}: option {name} must be a number > 0; got {value!r}")
            value = float(value)
        changes[name] = value
    return dataclasses.replace(config, **changes)


@register("vad_cnn", info=VAD_INFO)
def build_vad_cnn(options: Mapping[str, Any]) -> VadCNN:
    """``{"name": "vad_cnn", "preset": "paper"|"tiny", "band_norm": bool, "balanced": bool}``
    (the last two override the preset's, see :class:`VadConfig`)."""
    check_options("vad_cnn", options, _VAD_OPTIONS)
    preset = check_choice("preset", options.get("preset", "paper"), tuple(VAD_PRESETS))
    config = _overridden(VAD_PRESETS[preset], options, _VAD_OPTIONS, "vad_cnn")
    return VadCNN(config, preset)


# ------------------------------------------------------------------------------ attr_dnn


@dataclasses.dataclass(frozen=True)
class AttrConfig:
    """``activity_scale``: the one-hot activity enters the input layer multiplied by this
    (paper: 1, the plain one-hot). The tiny preset uses 100, so that at initialisation the
    2 activity inputs move the first layer about as much as the 3·513 raw magnitudes together
    (measured on the synthetic corpus: pre-activation std 1.3 from the magnitudes, 0.014 per
    activity weight); with 1 the tiny net trained for minutes ignores its activity input."""

    hidden: int = 1024
    layers: int = 3
    context: int = 1
    activity_scale: float = 1.0


ATTR_PRESETS = {"paper": AttrConfig(), "tiny": AttrConfig(hidden=32, activity_scale=100.0)}


def frame_times(config: STFTConfig, frames: int) -> torch.Tensor:
    """float64 (N,) centre time in seconds of each of ``frames`` STFT frames."""
    offset = 0.0 if config.center else config.n_fft / 2
    return (torch.arange(frames, dtype=torch.float64) * config.hop_length + offset) \
        / config.sample_rate


def align_activity(activity: torch.Tensor, source: STFTConfig, target: STFTConfig,
                   frames: int) -> torch.Tensor:
    """Activity (B, N_s) on ``source``'s frame grid -> (B, ``frames``) on ``target``'s grid.

    Each target frame takes the source frame nearest to its centre time (identity when both
    grids are the same, as for ``vad_cnn`` and ``attr_dnn``).
    """
    index = torch.round(frame_times(target, frames) * source.sample_rate / source.hop_length)
    index = index.long().clamp(0, activity.shape[1] - 1).to(activity.device)
    return activity.index_select(1, index)


def vad_from_detector(detector: VadCNN, mixture: torch.Tensor,
                      model: AttributeAwareDNN) -> torch.Tensor:
    """Case II input: P(vocal) (B, N) of ``detector`` on ``model``'s STFT frame grid.

    ``mixture`` (B, C, L) is the waveform at the model's sample rate (the detector's too); the
    result is the ``vad`` batch key of an ``attr_dnn`` trained on oracle labels (its one-hot
    [1 - p, p] is the detector's softmax output). For a model trained on *perturbed* labels use
    :func:`use_detector` instead: that arm flips frames of any ``batch["vad"]`` it is given.
    """
    if detector.spec.stft.sample_rate != model.spec.stft.sample_rate:
        raise ValueError(f"the vad_cnn runs at {detector.spec.stft.sample_rate} Hz but the "
                         f"attr_dnn at {model.spec.stft.sample_rate} Hz; train the detector "
                         "on a cache at the separator's sample rate")
    with torch.no_grad():
        activity = detector({"mixture": mixture})["activity"]
    frames = model.spec.stft.num_frames(mixture.shape[-1])
    return align_activity(activity, detector.spec.stft, model.spec.stft, frames)


def use_detector(model: AttributeAwareDNN, detector: VadCNN | str | Path) -> AttributeAwareDNN:
    """Case II: ``model`` (trained on oracle or perturbed labels) fed ``detector`` at inference.

    ``detector`` is a ``vad_cnn`` or its model package folder; it is frozen and attached in
    place; the model then reads only ``mixture`` (``inputs == ("mixture",)``), so evaluation
    and serving need no labels; the oracle labels it would read in training mode are no longer
    perturbed. Returns ``model``.
    """
    if model.vad_source == "none":
        raise ValueError("attr_dnn: a model trained without activity input (vad_source 'none') "
                         "cannot use a detector; train it with vad_source 'oracle'/'perturbed'")
    if not isinstance(detector, VadCNN):
        detector = load_detector(detector)
    detector.requires_grad_(False)
    model.detector = detector.eval().to(next(model.net.parameters()).device)
    model.detector_trainable = False
    model.vad_source = "detector"
    model.inputs = ("mixture",)
    return model


def load_detector(path: str | Path) -> VadCNN:
    """A trained ``vad_cnn`` from a model package folder (see avsep.models.package), frozen."""
    from avsep.models.package import load_model_package

    model, payload = load_model_package(path)
    name = payload.get("model", {}).get("name")
    if name != "vad_cnn":
        raise ValueError(f"{path}: vad_checkpoint must be a vad_cnn model package; found {name!r}")
    model.requires_grad_(False)
    return model.eval()


class AttributeAwareDNN(SeparationModel):
    """Frame-wise feed-forward separator with a vocal-activity input; see module docstring.

    Batch: ``mixture`` (B, C, L), plus ``vad`` (B, N) for ``oracle``/``perturbed`` and, in
    training mode, for ``detector``.
    Output: ``mask`` and ``magnitude`` (B, 2, C, F, N) (vocals, accompaniment); with the
    detector also ``activity`` (B, N) and, when it trains, ``vad_logits`` (B, N, 2).
    """

    data_kind = "vad"  # singing mixtures, frame labels always on, no extra vocal
    source_names = SOURCES
    mask_type = "direct"
    loss_name = "l2"

    def __init__(self, config: AttrConfig, vad_source: str = "none", *, preset: str = "custom",
                 vad_perturbation: float = 0.0, detector: VadCNN | None = None,
                 detector_trainable: bool = False, vad_seed: int = 0) -> None:
        super().__init__()
        self.config, self.preset = config, preset
        self.vad_source = vad_source
        self.vad_perturbation = vad_perturbation
        self.vad_seed = int(vad_seed)
        self._draws = {True: 0, False: 0}  # perturbation draws so far, per mode
        self.spec = attr_spec()
        self.inputs = ("mixture", "vad") if vad_source in ("oracle", "perturbed") else ("mixture",)
        self.loss_options = {}
        bins = self.spec.stft.n_bins
        width = (2 * config.context + 1) * bins + (0 if vad_source == "none" else 2)
        layers: list[nn.Module] = []
        for _ in range(config.layers):
            layers += [nn.Linear(width, config.hidden), nn.ReLU()]
            width = config.hidden
        layers.append(nn.Linear(width, 2 * bins))
        self.net = nn.Sequential(*layers)
        self.detector = detector
        self.detector_trainable = detector_trainable
        if detector is not None and not detector_trainable:
            detector.requires_grad_(False)

    def train(self, mode: bool = True) -> AttributeAwareDNN:
        super().train(mode)
        if self.detector is not None and not self.detector_trainable:
            self.detector.eval()  # a frozen detector keeps its inference behaviour
        return self

    def _generator(self) -> torch.Generator:
        """The next seeded CPU generator of the current mode's perturbation stream."""
        mode = bool(self.training)
        draw = self._draws[mode]
        self._draws[mode] = draw + 1
        return torch.Generator().manual_seed(
            (self.vad_seed * 2 + int(mode)) * 1_000_003 + draw)

    def labels(self, batch: Mapping[str, torch.Tensor], frames: int) -> torch.Tensor:
        """The oracle (or perturbed) labels ``batch["vad"]`` checked and perturbed: (B, N)."""
        if "vad" not in batch:
            raise KeyError(f"attr_dnn (vad_source {self.vad_source!r}) needs batch['vad'] (B, N) "
                           "oracle labels here; they come from the 'vad' dataset (model "
                           "data_kind), or use_detector() feeds a detector at inference")
        vad = batch["vad"].float()
        if vad.ndim != 2 or vad.shape[1] != frames:
            raise ValueError(f"attr_dnn: batch['vad'] must be (B, N={frames}) on the STFT frame "
                             f"grid (hop {self.spec.stft.hop_length}); got {tuple(vad.shape)}")
        # keyed on vad_source: avsep eval sets it to "oracle" to feed its own activity as is
        if self.vad_source == "perturbed":
            vad = perturb_activity(vad, self.vad_perturbation, self._generator())
        return vad

    def activity(self, batch: Mapping[str, torch.Tensor], frames: int,
                 detector_out: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor | None:
        """The 2-d activity input (B, N, 2), or None for ``vad_source="none"``.

        ``detector``: the detector's softmax (B, N, 2) at inference, the oracle labels in
        training (case II); ``detector_out`` is the detector's output when already computed.
        """
        if self.vad_source == "none":
            return None
        if self.vad_source == "detector" and not self.training:
            out = detector_out if detector_out is not None else self.detector(batch)
            p = align_activity(out["activity"], self.detector.spec.stft, self.spec.stft, frames)
            return one_hot_activity(p)
        return one_hot_activity(self.labels(batch, frames))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.check_batch(batch)
        mag = self.mixture_stft(batch).abs()  # (B, C, F, N)
        b, c, f, n = mag.shape
        x = context_frames(mag, self.config.context).flatten(-2)  # (B, C, N, 3F)
        out: dict[str, torch.Tensor] = {}
        detector_out = None
        if self.vad_source == "detector" and (self.detector_trainable or not self.training):
            detector_out = self.detector(batch)
            out["activity"] = detector_out["activity"]
            if self.detector_trainable:
                out["vad_logits"] = detector_out["logits"]
        act = self.activity(batch, n, detector_out)
        if act is not None:
            act = act * self.config.activity_scale
            x = torch.cat([x, act[:, None].expand(b, c, n, 2)], dim=-1)
        y = self.net(x).abs().reshape(b, c, n, 2, f)
        mask = y / (y.sum(dim=3, keepdim=True) + 1e-8)  # joint soft mask, sums to one
        mask = mask.permute(0, 3, 1, 4, 2)  # (B, 2, C, F, N)
        out["mask"] = mask
        out["magnitude"] = mask * mag.unsqueeze(1)
        return out

    def loss(self, batch: Mapping[str, torch.Tensor],
             out: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Paper eq. 3 (squared error of both masked magnitudes), plus the trainable
        detector's cross-entropy on ``batch["vad"]`` (B, N) (a ``KeyError`` names it when
        missing: the detector arm is supervised)."""
        loss = super().loss(batch, out)
        if "vad_logits" in out:
            loss = loss + self.detector.loss(batch, {"logits": out["vad_logits"]})
        return loss


ATTR_INFO = ModelInfo(
    paper="Swaminathan & Lerch 2019",
    summary="3×1024 feed-forward net, ±1 context frames, vocal-activity input, joint soft mask",
    inputs=("mixture", "vad"),
    spec=attr_spec,
    conditioning=VAD_SOURCES,
    masks=("direct",),
    notes="batch['vad'] only for vad_source oracle/perturbed; detector = vad_cnn",
)

_ATTR_OPTIONS = ("vad_source", "vad_perturbation", "vad_checkpoint", "detector_preset",
                 "vad_seed", "activity_scale")


@register("attr_dnn", info=ATTR_INFO)
def build_attr_dnn(options: Mapping[str, Any]) -> AttributeAwareDNN:
    """``{"name": "attr_dnn", "preset", "vad_source", "vad_perturbation", "vad_checkpoint",
    "detector_preset", "vad_seed", "activity_scale"}`` — see the module docstring
    (``activity_scale`` overrides the preset's, see :class:`AttrConfig`)."""
    check_options("attr_dnn", options, _ATTR_OPTIONS)
    preset = check_choice("preset", options.get("preset", "paper"), tuple(ATTR_PRESETS))
    source = check_choice("vad_source", options.get("vad_source", "none"), VAD_SOURCES)
    fraction = float(options.get("vad_perturbation", 0.0))
    if source == "perturbed" and not 0.0 < fraction <= 1.0:
        raise ValueError(f"attr_dnn: vad_source 'perturbed' needs 0 < vad_perturbation <= 1 "
                         "(fraction of frames flipped; the paper's grid is 0.025, 0.05, "
                         f"0.075, 0.1, 0.15); got {fraction}")
    if source != "perturbed" and fraction:
        raise ValueError(f"attr_dnn: vad_perturbation={fraction} only applies to vad_source "
                         f"'perturbed'; got vad_source {source!r}")
    checkpoint = options.get("vad_checkpoint")
    detector_preset = options.get("detector_preset")
    if source != "detector" and (checkpoint or detector_preset):
        raise ValueError(f"attr_dnn: vad_checkpoint/detector_preset only apply to vad_source "
                         f"'detector'; got vad_source {source!r}")
    if checkpoint and detector_preset:
        raise ValueError("attr_dnn: give either vad_checkpoint (frozen trained detector) or "
                         "detector_preset (detector trained jointly), not both")
    detector, trainable = None, False
    if source == "detector":
        if checkpoint:
            detector = load_detector(checkpoint)
        else:
            name = check_choice("detector_preset", detector_preset or preset, tuple(VAD_PRESETS))
            detector, trainable = VadCNN(VAD_PRESETS[name], name), True
    config = _overridden(ATTR_PRESETS[preset], options, ("activity_scale",), "attr_dnn")
    if source == "none" and "activity_scale" in options:
        raise ValueError("attr_dnn: activity_scale only applies to a vad_source with an "
                         "activity input (oracle, perturbed, detector); got vad_source 'none'")
    return AttributeAwareDNN(config, source, preset=preset,
                             vad_perturbation=fraction, detector=detector,
                             detector_trainable=trainable,
                             vad_seed=int(options.get("vad_seed", 0)))

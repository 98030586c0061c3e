"""The contract every model of the zoo follows (see docs/contracts.md).

A model is an ``nn.Module`` that takes a *batch dict* and returns an *output dict*:

Batch keys (all optional except ``mixture``; ``model.inputs`` names the ones a model needs):
    mixture  float32 (B, C, L)              waveform at ``model.spec.stft.sample_rate``
    sources  float32 (B, S, C, L)           targets, order ``model.source_names`` (train/eval)
    video    uint8   (B, V, T, Cv, H, W)    V visual streams (1 for a singer, one per source for
                                            instruments), T frames at ``model.spec.fps``
    labels   float32 (B, K)                 instrument presence, K=13 in URMP order
    vad      float32 (B, N)                 frame-level vocal activity at the STFT frame rate

Separators (:class:`SeparationModel`) return an output dict with one of

    mask       (B, S, C, F, N)  real (ratio / binary masks) or complex (bounded cRM), on the
                                mixture STFT grid ``model.spec.stft`` (F = n_fft // 2 + 1 bins)
    magnitude  (B, S, C, F, N)  real, non-negative source magnitudes (``direct`` models)

plus optional extras (e.g. ``probabilities`` (B, K) of a visual classifier). The estimate of
source ``s`` is ``mask * X`` or ``magnitude * X / |X|`` (mixture phase), where X is
:meth:`SeparationModel.mixture_stft`; :meth:`SeparationModel.separate` turns a batch into
source waveforms (B, S, C, L), optionally after Wiener EM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from avsep.audio.stft import STFTConfig, istft, stft


@dataclass(frozen=True)
class ModelSpec:
    """The audio/video contract of a model: what the data pipeline must feed it."""

    stft: STFTConfig
    clip_seconds: float
    fps: float | None = None
    frames_per_clip: int | None = None
    crop: tuple[int, int] | None = None  # (H, W) of each video frame
    video_channels: int = 3
    channels: int = 1  # audio channels of the mixture
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.stft.sample_rate))


class ZooModel(nn.Module):
    """Base class of every registered model.

    Subclasses set ``task`` ("separation", "vad" or "sync"), ``inputs`` (batch keys they need),
    ``spec`` and ``source_names``, and implement ``forward(batch)`` and ``loss(batch, out)``.
    """

    task: ClassVar[str] = "separation"
    # which mixing dataset feeds it: "singing", "instruments", "vad" or "lipsync"
    data_kind: ClassVar[str] = "singing"
    inputs: tuple[str, ...] = ("mixture",)
    spec: ModelSpec
    source_names: tuple[str, ...] = ()

    def loss(self, batch: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def check_batch(self, batch: dict[str, torch.Tensor]) -> None:
        """Raise a ``KeyError`` naming the missing keys when ``batch`` lacks an input."""
        missing = [k for k in self.inputs if k not in batch]
        if missing:
            raise KeyError(
                f"{type(self).__name__} needs batch keys {list(self.inputs)}; missing {missing}"
            )


def example_batch(model: ZooModel, batch_size: int = 1, seed: int = 0,
                  device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """A random batch in the shape ``model`` expects (for benchmarks, warm-up and smoke runs).

    Holds every key a zoo model or its loss may read: ``mixture`` (B, C, L) = sum of
    ``sources`` (B, S, C, L) (white noise), ``video`` (B, V, T, Cv, H, W) uint8 when the spec
    has video (V = ``spec.extra.get("video_streams", 1)``), ``labels`` (B, K) (K = number of
    sources, all present), ``vad`` (B, N), ``offset`` (B,) and ``sync`` (B,).
    """
    gen = torch.Generator().manual_seed(seed)
    spec = model.spec
    length = spec.clip_samples
    sources = 0.1 * torch.randn(batch_size, max(1, len(model.source_names)), spec.channels,
                                length, generator=gen)
    batch = {"mixture": sources.sum(1), "sources": sources,
             "labels": torch.ones(batch_size, sources.shape[1]),
             "vad": torch.ones(batch_size, spec.stft.num_frames(length)),
             "offset": torch.zeros(batch_size, dtype=torch.int64),
             "sync": torch.ones(batch_size)}
    if spec.fps and spec.crop:
        frames = spec.frames_per_clip or int(round(spec.clip_seconds * spec.fps))
        streams = int(spec.extra.get("video_streams", 1))
        batch["video"] = torch.randint(0, 256, (batch_size, streams, frames, spec.video_channels,
                                                *spec.crop), generator=gen, dtype=torch.uint8)
    return {k: v.to(device) for k, v in batch.items()}


class SeparationModel(ZooModel):
    """A zoo model that estimates source spectrograms from the mixture STFT.

    Subclasses set ``mask_type`` (``ratio`` | ``binary`` | ``complex`` | ``direct``) and
    ``loss_name`` (see :func:`avsep.models.losses.loss_for`) and implement ``forward`` to
    return ``mask`` or ``magnitude`` as documented in this module's docstring.
    """

    task: ClassVar[str] = "separation"
    mask_type: str = "ratio"
    loss_name: str | None = None
    loss_options: dict[str, Any]

    # ----------------------------------------------------------------- input checks
    def check_batch(self, batch: dict[str, torch.Tensor]) -> None:
        """Check presence and shapes of the batch keys this model reads; ``ValueError`` names
        the key, the shape found and the shape expected."""
        super().check_batch(batch)
        mix = batch["mixture"]
        if mix.ndim != 3 or mix.shape[1] != self.spec.channels or mix.is_complex():
            raise ValueError(
                f"{type(self).__name__}: batch['mixture'] must be real (B, C={self.spec.channels},"
                f" L); got {tuple(mix.shape)} {mix.dtype}"
            )
        if mix.shape[-1] < self.spec.stft.n_fft:
            raise ValueError(
                f"{type(self).__name__}: mixture of {mix.shape[-1]} samples is shorter than one "
                f"STFT window ({self.spec.stft.n_fft})"
            )
        if "video" in self.inputs:
            video = batch["video"]
            want = (self.spec.video_channels, *(self.spec.crop or video.shape[-2:]))
            if video.ndim != 6 or tuple(video.shape[-3:]) != tuple(want):
                raise ValueError(
                    f"{type(self).__name__}: batch['video'] must be (B, V, T, Cv, H, W) with "
                    f"(Cv, H, W) = {tuple(want)}; got {tuple(video.shape)}"
                )
        if "labels" in self.inputs and batch["labels"].ndim != 2:
            raise ValueError(
                f"{type(self).__name__}: batch['labels'] must be (B, K); "
                f"got {tuple(batch['labels'].shape)}"
            )

    # ----------------------------------------------------------------- spectrograms
    def mixture_stft(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Complex mixture STFT (B, C, F, N) on the model's STFT grid (computed in float32)."""
        return stft(batch["mixture"].float(), self.spec.stft)

    def estimate_stft(self, out: dict[str, torch.Tensor], mix: torch.Tensor) -> torch.Tensor:
        """Complex source estimates (B, S, C, F, N) from an output dict and mixture STFT."""
        mix = mix.unsqueeze(1)
        if "mask" in out:
            mask = out["mask"]
            mask = mask if mask.is_complex() else mask.float()
            return mask * mix
        if "magnitude" in out:
            phase = mix / mix.abs().clamp_min(1e-8)
            return out["magnitude"].float() * phase
        raise KeyError(f"{type(self).__name__} output has neither 'mask' nor 'magnitude'")

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        return istft(spec, self.spec.stft, length=length)

    # ----------------------------------------------------------------- inference
    @torch.no_grad()
    def separate(
        self, batch: dict[str, torch.Tensor], wiener_iterations: int = 0
    ) -> torch.Tensor:
        """Source waveforms (B, S, C, L) for ``batch`` (L = mixture length).

        With ``wiener_iterations > 0`` the estimate magnitudes go through multichannel Wiener
        EM (``avsep.audio.wiener``, open-unmix's algorithm) before the inverse STFT.
        """
        if wiener_iterations < 0:
            raise ValueError(f"wiener_iterations must be >= 0; got {wiener_iterations}")
        self.check_batch(batch)
        mix = self.mixture_stft(batch)
        out = self(batch)
        estimate = self.estimate_stft(out, mix)
        if wiener_iterations:
            estimate = wiener_refine(estimate, mix, wiener_iterations)
        return self._istft(estimate, batch["mixture"].shape[-1])

    # ----------------------------------------------------------------- training
    def loss(self, batch: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Training loss for ``mask_type`` / ``loss_name`` (needs ``batch['sources']``)."""
        from avsep.models.losses import LossInputs, loss_for

        if "sources" not in batch:
            raise KeyError(f"{type(self).__name__}.loss needs batch['sources'] (B, S, C, L)")
        sources = batch["sources"].float()
        if sources.shape[1] != len(self.source_names):
            raise ValueError(
                f"{type(self).__name__}: batch['sources'] has {sources.shape[1]} sources; the "
                f"model separates {len(self.source_names)} ({', '.join(self.source_names)})"
            )
        mix = self.mixture_stft(batch)
        inputs = LossInputs(
            mix=mix,
            sources=stft(sources, self.spec.stft),
            waveforms=sources,
            estimate=lambda o: self._istft(self.estimate_stft(o, mix), sources.shape[-1]),
        )
        options = getattr(self, "loss_options", {})
        return loss_for(self.mask_type, self.loss_name, **options)(out, inputs)


def wiener_refine(estimate: torch.Tensor, mix: torch.Tensor, iterations: int) -> torch.Tensor:
    """Wiener EM on complex estimates (B, S, C, F, N) with mixture (B, C, F, N) -> same shape.

    Uses the magnitudes of ``estimate`` as targets (norbert's axis order: (B, N, F, C, S)).
    """
    from avsep.audio import wiener

    targets = estimate.abs().permute(0, 4, 3, 2, 1)  # (B, N, F, C, S)
    # positional, as in docs/contracts.md: (targets, mix, iterations, softmask, residual)
    refined = wiener(targets, mix.permute(0, 3, 2, 1), iterations, False, False)
    return refined.permute(0, 4, 3, 2, 1)

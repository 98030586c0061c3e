"""The contract every model of the zoo follows (see docs/contracts.md).

A model is an ``nn.Module`` that takes a *batch dict* and returns an *output dict*:

Batch keys (all optional except ``mixture``; ``model.inputs`` names the ones a model needs):
    mixture  float32 (B, C, L)              waveform at ``model.spec.stft.sample_rate``
    sources  float32 (B, S, C, L)           targets, order ``model.source_names`` (train/eval)
    video    uint8   (B, V, T, Cv, H, W)    V visual streams (1 for a singer, one per source for
                                            instruments), T frames at ``model.spec.fps``
    labels   float32 (B, K)                 instrument presence, K=13 in URMP order
    vad      float32 (B, N)                 frame-level vocal activity at the STFT frame rate

Separators return at least ``mask`` (B, S, C, F, N) (real, or complex for cRM) for the mixture
STFT; :meth:`SeparationModel.separate` turns a batch into source waveforms (B, S, C, L).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from avsep.audio.stft import STFTConfig


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

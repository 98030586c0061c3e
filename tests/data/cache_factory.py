"""Test helper: tiny prepared caches in the exact contract format, written from generated arrays.

The writer lives in :mod:`avsep.data.datasets.synthetic_cache` (the loader benchmark uses it
too); this module adds the model specs the dataset tests use.
"""

from __future__ import annotations

from avsep.audio.stft import STFTConfig
from avsep.data.datasets.synthetic_cache import (
    SourceArrays,
    TrackArrays,
    frame_numbers,
    make_demo_cache,
    write_cache,
)
from avsep.models.base import ModelSpec

SAMPLE_RATE = 8000
CROP = (16, 16)

__all__ = [
    "SourceArrays",
    "TrackArrays",
    "frame_numbers",
    "make_demo_cache",
    "tiny_spec",
    "write_cache",
]


def tiny_spec(
    clip_seconds: float = 1.0, *, video: bool = True, channels: int = 1, fps: float = 25.0,
    crop: tuple[int, int] = CROP, video_channels: int = 3, sample_rate: int = SAMPLE_RATE,
) -> ModelSpec:
    """A small model spec: 8 kHz, n_fft 256, hop 64, 25 fps, 16x16 RGB mouth crops."""
    return ModelSpec(
        stft=STFTConfig(sample_rate, 256, 64),
        clip_seconds=clip_seconds,
        fps=fps if video else None,
        frames_per_clip=int(round(clip_seconds * fps)) if video else None,
        crop=crop if video else None,
        video_channels=video_channels,
        channels=channels,
    )

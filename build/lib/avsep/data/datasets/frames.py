"""Audio/video alignment and conversion of cached frames to the model's video format.

A clip starts on a video frame boundary of the *model's* frame rate: model frame ``f0`` is the
audio sample ``round(f0 * sample_rate / fps)``, so 2.56 s at 32 kHz / 25 fps is 81 920 samples
and exactly 64 frames (paper 1), 4 s at 16 kHz is 64 000 samples and 100 frames (Y-Net). When
the cache was prepared at another frame rate, each model frame takes the cached frame shown at
that instant (nearest earlier frame).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from avsep.data.video import LUMA

# ITU-R BT.601 luma weights for 3 -> 1 channel conversion
_EPS = 1e-6


def sample_of_frame(frame: int, sample_rate: int, fps: float) -> int:
    """First audio sample of model video frame ``frame``."""
    return int(round(frame * sample_rate / fps))


def cache_frame_index(first: int, count: int, fps: float, cache_fps: float) -> np.ndarray:
    """int64 (count,) cached-frame indices shown at model frames ``first .. first+count-1``."""
    model = np.arange(first, first + count, dtype=np.float64)
    if math.isclose(fps, cache_fps):
        return model.astype(np.int64)
    return np.floor(model * cache_fps / fps + _EPS).astype(np.int64)


def max_video_frame(frames: int, count: int, fps: float, cache_fps: float) -> int:
    """Largest model frame a window of ``count`` model frames can start at (-1: none).

    The window's last model frame must map to one of the ``frames`` cached frames.
    """
    last = math.ceil(frames * fps / cache_fps - _EPS) - count
    while last >= 0 and cache_frame_index(last, count, fps, cache_fps)[-1] >= frames:
        last -= 1
    return max(last, -1)


def max_audio_frame(samples: int, clip: int, sample_rate: int, fps: float) -> int:
    """Largest model frame a ``clip``-sample audio window can start at (-1: none)."""
    if clip > samples:
        return -1
    last = math.floor((samples - clip) * fps / sample_rate + _EPS)
    while last >= 0 and sample_of_frame(last, sample_rate, fps) + clip > samples:
        last -= 1
    return last


def max_first_frame(
    samples: int, clip: int, frames: int | None, count: int, sample_rate: int, fps: float,
    cache_fps: float,
) -> int:
    """Largest model frame a clip can start at: audio and (if ``frames``) video must fit.

    Returns -1 when no start fits.
    """
    last = max_audio_frame(samples, clip, sample_rate, fps)
    if frames is not None:
        last = min(last, max_video_frame(frames, count, fps, cache_fps))
    return last


def to_model_frames(
    frames: np.ndarray, crop: tuple[int, int] | None, channels: int
) -> np.ndarray:
    """Cached uint8 (T, H, W, Cv) -> contiguous uint8 (T, channels, crop_H, crop_W).

    Channels are converted by luma (3 -> 1) or repetition (1 -> 3); a different crop size is
    resized with antialiased bilinear interpolation (torch). Both are no-ops when the cache was
    prepared for the model, which is the fast path.
    """
    t, h, w, cv = frames.shape
    if cv != channels:
        if cv == 3 and channels == 1:
            frames = np.rint(frames.astype(np.float32) @ LUMA)[..., None].astype(np.uint8)
        elif cv == 1 and channels == 3:
            frames = np.repeat(frames, 3, axis=-1)
        else:
            raise ValueError(f"cannot convert {cv}-channel frames to {channels} channels")
    out = np.ascontiguousarray(frames.transpose(0, 3, 1, 2))
    if crop is not None and (h, w) != tuple(crop):
        resized = F.interpolate(
            torch.from_numpy(out).float(), size=tuple(crop), mode="bilinear",
            antialias=True, align_corners=False,
        )
        out = resized.round_().clamp_(0, 255).to(torch.uint8).numpy()
    return out

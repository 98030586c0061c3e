"""Evaluation windows, framed exactly like museval's ``Framing`` helper.

A window of ``window`` samples starts every ``hop`` samples; only whole windows are kept
(``floor((L - window + hop) / hop)`` of them). A window of at least the signal length, or
``None``/infinity, gives one frame covering the whole signal.
"""

from __future__ import annotations

import math

import torch


def window_samples(seconds: float | None, sample_rate: float, name: str) -> int | None:
    """Seconds -> whole samples as museval does (``int(seconds * rate)``); ``None``/inf -> None."""
    if seconds is None or (isinstance(seconds, float) and math.isinf(seconds)):
        return None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
        raise ValueError(f"{name}: expected a positive number of seconds or None, got {seconds!r}")
    if not isinstance(sample_rate, (int, float)) or sample_rate <= 0:
        raise ValueError(f"sample_rate: expected a positive number, got {sample_rate!r}")
    samples = int(seconds * sample_rate)
    if samples < 1:
        raise ValueError(f"{name}: {seconds} s at {sample_rate} Hz is less than one sample")
    return samples


def frame_layout(length: int, window: int | None, hop: int | None) -> tuple[int, int, int]:
    """``(frames, window, hop)`` in samples for a signal of ``length`` samples.

    Matches ``museval.metrics.Framing``: when ``window < length`` there are
    ``floor((length - window + hop) / hop)`` whole windows; otherwise one window of the whole
    signal.
    """
    if window is None or window >= length:
        return 1, length, length
    if hop is None:
        hop = window
    return (length - window + hop) // hop, window, hop


def frame_signal(x: torch.Tensor, window: int | None, hop: int | None) -> torch.Tensor:
    """Cut ``x`` (..., L) into evaluation windows -> (..., frames, window) (a view)."""
    frames, win, step = frame_layout(x.shape[-1], window, hop)
    return x.unfold(-1, win, step)[..., :frames, :]

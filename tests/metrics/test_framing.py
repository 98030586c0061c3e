"""Evaluation windows: same count and bounds as museval's ``Framing``."""

from __future__ import annotations

import math

import pytest
import torch

from avsep.metrics.framing import frame_layout, frame_signal, window_samples
from avsep.metrics.reference import load_museval_metrics


@pytest.mark.parametrize(("length", "window", "hop"),
                         [(44100 * 3 + 17, 44100, 44100), (1000, 300, 150), (1000, 300, 70),
                          (500, 500, 500), (400, 1000, 1000), (1000, math.inf, math.inf)])
def test_frames_match_museval(length: int, window: float, hop: float) -> None:
    framer = load_museval_metrics().Framing(window, hop, length)
    expected = [(s.start, s.stop) for s in framer]
    win = None if math.isinf(window) else int(window)
    step = None if math.isinf(hop) else int(hop)
    frames, size, stride = frame_layout(length, win, step)
    assert frames == framer.nwin
    assert [(t * stride, t * stride + size) for t in range(frames)] == expected
    x = torch.arange(length, dtype=torch.float64)
    framed = frame_signal(x, win, step)
    assert framed.shape == (frames, size)
    assert [(int(f[0]), int(f[-1]) + 1) for f in framed] == expected


def test_window_samples() -> None:
    assert window_samples(1.0, 44100, "window") == 44100
    assert window_samples(0.5, 11025, "hop") == 5512  # int(), as museval converts
    assert window_samples(None, 8000, "window") is None
    with pytest.raises(ValueError, match="window"):
        window_samples(0.0, 8000, "window")
    with pytest.raises(ValueError, match="less than one sample"):
        window_samples(1e-6, 8000, "window")

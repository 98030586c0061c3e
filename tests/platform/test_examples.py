"""Validation example PNGs: axes in seconds and Hz, a colour bar in dB, scores in the titles
(matplotlib objects inspected, not pixels)."""

from __future__ import annotations

import math

import pytest
import torch

from avsep.models import build
from avsep.platform.examples import example_figure, score


def test_example_figure_has_axes_colour_bar_and_scores():
    import matplotlib.pyplot as plt

    model = build({"name": "mmdensenet", "preset": "tiny"})
    rate = model.spec.stft.sample_rate
    t = torch.arange(rate) / rate  # 1 s
    vocals = torch.sin(2 * math.pi * 440 * t)
    accompaniment = 0.5 * torch.sin(2 * math.pi * 97 * t)
    mixture = vocals + accompaniment
    estimate = vocals + 0.1 * accompaniment
    fig = example_figure([("mixture", mixture, None), ("vocals", vocals, estimate),
                          ("accompaniment", accompaniment, None)], model)
    panels = [ax for ax in fig.axes if ax.get_images()]
    # mixture; vocals reference and estimate; accompaniment reference (no estimate given)
    assert len(panels) == 4
    for ax in panels:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (s)", "frequency (Hz)")
        left, right, bottom, top = ax.get_images()[0].get_extent()
        assert (left, bottom, top) == (0.0, 0.0, rate / 2)
        assert right == pytest.approx(1.0)
    colour_bars = [ax for ax in fig.axes if ax.get_ylabel() == "magnitude (dB)"]
    assert len(colour_bars) == 1
    title = fig.axes[3].get_title()
    ours, theirs = score(vocals, estimate), score(vocals, mixture)
    assert title == f"vocals estimate: SI-SDR {ours:.1f} dB (mixture {theirs:.1f} dB)"
    assert ours > theirs + 10  # 20 dB less accompaniment than the mixture
    plt.close(fig)


def test_absent_sources_are_not_drawn():
    from avsep.platform.examples import example_rows

    length = 400
    references = torch.zeros(3, 1, length)
    references[1, 0] = torch.linspace(-0.5, 0.5, length)  # only slot 1 is present
    estimates = torch.rand(3, 1, length)
    rows = example_rows(references.sum(0)[0], references, estimates, ["violin", "viola", "cello"])
    assert [title for title, _, _ in rows] == ["mixture", "viola"]
    assert torch.equal(rows[1][2], estimates[1, 0])
    # a model with more outputs than references: the extra estimate is drawn on its own
    rows = example_rows(references.sum(0)[0], references[:1], estimates, None)
    assert [title for title, _, _ in rows] == ["mixture", "source1", "source2"]
    assert rows[1][1] is None

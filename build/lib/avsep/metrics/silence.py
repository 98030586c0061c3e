"""PES and EPS: scores for the windows where BSS Eval is undefined because of silence.

Schulze-Forster, Doire, Richard, Badeau, "Weakly informed audio source separation"
(WASPAA 2019), used by the conditioned U-Net paper (Slizovskaia et al., sec. 4.2):

* **PES**, predicted energy at silence: on every window where the target is exactly silent
  (all samples zero), ``10 log10(sum ŝ² + ε)``. Lower is better; a silent estimate scores
  the floor ``10 log10(ε)``.
* **EPS**, energy at predicted silence: on every window where the estimate is exactly silent
  but the target is not, ``10 log10(sum s² + ε)``. Lower is better.

``ε`` defaults to 1e-8, the constant of the conditioned U-Net code, whose floor is the
-80 dB the paper states (its text says 1e-9, which would give -90 dB); Schulze-Forster's
reference code uses 1e-12. Windows follow museval's framing (whole windows of ``window``
seconds every ``hop``; ``window=None`` scores the whole signal as one window, which is the
conditioned U-Net's per-segment use). The per-signal figure is the mean over the windows
where it is defined (Schulze-Forster then average channels: take the mean of the channel
axis of the result).
"""

from __future__ import annotations

import math

import torch

from avsep.metrics._checks import ArrayLike, like_input, real_pair
from avsep.metrics.framing import frame_signal, window_samples

DEFAULT_EPSILON = 1e-8


def _framed(references: ArrayLike, estimates: ArrayLike, sample_rate: float,
            window: float | None, hop: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    ref, est = real_pair(references, estimates)
    win = window_samples(window, sample_rate, "window")
    step = window_samples(hop, sample_rate, "hop") if win is not None else None
    if win is not None and step is None:
        raise ValueError("hop: expected seconds when window is given; None only with window=None")
    return frame_signal(ref, win, step), frame_signal(est, win, step)


def _energy_db(frames: torch.Tensor, epsilon: float) -> torch.Tensor:
    return 10.0 * torch.log10((frames**2).sum(dim=-1) + epsilon)


def pes(references: ArrayLike, estimates: ArrayLike, sample_rate: float,
        window: float | None = 1.0, hop: float | None = 1.0, *,
        epsilon: float = DEFAULT_EPSILON) -> ArrayLike:
    """Predicted energy at silence per window: (..., L) pair -> (..., frames) in dB.

    NaN on windows where the target is not exactly silent.
    """
    ref, est = _framed(references, estimates, sample_rate, window, hop)
    silent_target = (ref == 0).all(dim=-1)
    out = torch.where(silent_target, _energy_db(est, epsilon), math.nan)
    return like_input(references, out)


def eps(references: ArrayLike, estimates: ArrayLike, sample_rate: float,
        window: float | None = 1.0, hop: float | None = 1.0, *,
        epsilon: float = DEFAULT_EPSILON) -> ArrayLike:
    """Energy at predicted silence per window: (..., L) pair -> (..., frames) in dB.

    NaN unless the estimate is exactly silent and the target is not.
    """
    ref, est = _framed(references, estimates, sample_rate, window, hop)
    applies = (est == 0).all(dim=-1) & ~(ref == 0).all(dim=-1)
    out = torch.where(applies, _energy_db(ref, epsilon), math.nan)
    return like_input(references, out)


def nanmean_frames(values: ArrayLike) -> ArrayLike:
    """Mean over the last (frame) axis ignoring NaN; NaN where no frame is defined."""
    tensor = torch.as_tensor(values, dtype=torch.float64)
    defined = ~torch.isnan(tensor)
    count = defined.sum(dim=-1)
    total = torch.where(defined, tensor, 0.0).sum(dim=-1)
    out = torch.where(count > 0, total / count.clamp(min=1), math.nan)
    return like_input(values, out)


def silence_scores(references: ArrayLike, estimates: ArrayLike, sample_rate: float,
                   window: float | None = 1.0, hop: float | None = 1.0, *,
                   epsilon: float = DEFAULT_EPSILON) -> dict[str, ArrayLike]:
    """``{"pes", "eps"}``: window means per signal, (..., L) pair -> each (...)."""
    kwargs = {"window": window, "hop": hop, "epsilon": epsilon}
    return {"pes": nanmean_frames(pes(references, estimates, sample_rate, **kwargs)),
            "eps": nanmean_frames(eps(references, estimates, sample_rate, **kwargs))}

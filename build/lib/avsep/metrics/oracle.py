"""Oracle rows for result tables: the mixture as every estimate (lower bound) and the ideal
ratio / binary mask estimates computed from the true sources (upper bounds for maskers).

The masks come from :mod:`avsep.audio.masks` and are applied to the mixture STFT
(:func:`avsep.audio.stft`), then inverted with :func:`avsep.audio.istft` at the sources'
length. ``"ibm"`` uses the "largest source wins" binary mask by default (the masks of all
sources then partition every bin); ``binary_mode="threshold"`` gives conditioned-U-Net eq. 3.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from avsep.audio import STFTConfig, apply_mask, ideal_binary_mask, ideal_ratio_mask, istft, stft
from avsep.metrics._checks import ArrayLike, as_real_tensor
from avsep.metrics.bss_eval import aggregate_frames, bss_eval

ORACLE_KINDS = ("mixture", "irm", "ibm")
_LAYOUT = "(..., sources, channels, samples)"


def oracle_estimates(
    sources: ArrayLike, config: STFTConfig, kind: str, *, power: float = 1.0,
    binary_mode: Literal["largest", "threshold"] = "largest",
) -> torch.Tensor:
    """Oracle estimates of every source: (..., S, C, L) -> float64 (..., S, C, L).

    ``kind``: ``"mixture"`` (the sum of the sources, for each source), ``"irm"`` (ideal
    ratio mask ``|X_i|^power / sum_j |X_j|^power``) or ``"ibm"`` (ideal binary mask).
    """
    if kind not in ORACLE_KINDS:
        raise ValueError(f"kind: expected one of {ORACLE_KINDS}, got {kind!r}")
    src = as_real_tensor(sources, "sources", min_ndim=3, layout=_LAYOUT)
    mixture = src.sum(dim=-3)  # (..., C, L)
    if kind == "mixture":
        return mixture.unsqueeze(-3).expand_as(src).clone()
    spec = stft(src, config)  # (..., S, C, F, N)
    mags = spec.abs()
    if kind == "irm":
        mask = ideal_ratio_mask(mags, power)
    else:
        mask = ideal_binary_mask(mags, mode=binary_mode)
    return istft(apply_mask(mask, stft(mixture, config)), config, length=src.shape[-1])


def oracle_scores(
    sources: ArrayLike, config: STFTConfig, window: float | None = 1.0, hop: float | None = 1.0,
    kinds: tuple[str, ...] = ORACLE_KINDS,
) -> dict[str, dict[str, np.ndarray]]:
    """Median BSS Eval v4 scores of each oracle: sources (S, C, L) at ``config.sample_rate``.

    Returns ``{kind: {"sdr","isr","sir","sar": (S,)}}`` (median over non-silent windows).
    """
    src = as_real_tensor(sources, "sources", min_ndim=3, layout="(sources, channels, samples)")
    if src.ndim != 3:
        raise ValueError(f"sources: expected (sources, channels, samples), got "
                         f"shape {tuple(src.shape)}")
    refs = src.transpose(-1, -2)  # museval order (S, L, C)
    rows: dict[str, dict[str, np.ndarray]] = {}
    for kind in kinds:
        est = oracle_estimates(src, config, kind).transpose(-1, -2)
        frames = bss_eval(refs, est, config.sample_rate, window, hop)
        rows[kind] = aggregate_frames(frames)  # type: ignore[assignment]
    return rows

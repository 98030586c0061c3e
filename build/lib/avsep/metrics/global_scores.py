"""GNSDR, GSIR, GSAR: length-weighted global scores over clips, MIR-1K style.

Hsu & Jang's MIR-1K protocol (used by Huang et al. 2014 and by Swaminathan & Lerch):
each clip ``k`` gets whole-clip BSS Eval scores; the normalised SDR is the improvement over
using the mixture itself as the estimate, ``NSDR_k = SDR(ŝ_k, s_k) - SDR(x_k, s_k)``, and the
global scores are means over clips weighted by clip length ``w_k``:
``GNSDR = sum_k w_k NSDR_k / sum_k w_k`` and likewise GSIR, GSAR from SIR, SAR.
Clips whose score is NaN (silent) are left out of that score's mean.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from avsep.metrics._checks import ArrayLike, as_real_tensor, to_numpy
from avsep.metrics.bss_eval import bss_eval_tensors


def weighted_mean(values: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """Mean over the first axis of ``values`` (clips, ...) weighted by ``weights`` (clips,).

    NaN entries are skipped (their weight is dropped); all-NaN columns give NaN.
    """
    vals = as_real_tensor(values, "values", layout="(clips, ...)")
    w = as_real_tensor(weights, "weights", layout="(clips,)")
    if w.ndim != 1 or w.shape[0] != vals.shape[0]:
        raise ValueError(f"weights: expected shape ({vals.shape[0]},) (one per clip), "
                         f"got {tuple(w.shape)}")
    if bool((w < 0).any()):
        raise ValueError("weights: expected non-negative clip lengths")
    w = w.reshape(-1, *([1] * (vals.ndim - 1)))
    defined = ~torch.isnan(vals)
    total_w = torch.where(defined, w, 0.0).sum(dim=0)
    total = torch.where(defined, vals * w, 0.0).sum(dim=0)
    return to_numpy(torch.where(total_w > 0, total / total_w.clamp(min=1e-300), math.nan))


def clip_scores(references: ArrayLike, estimates: ArrayLike, mixture: ArrayLike,
                sample_rate: float) -> dict[str, np.ndarray]:
    """Whole-clip BSS Eval v4 scores of one clip plus its NSDR.

    references, estimates: (sources, samples, channels) (museval order); mixture:
    (samples, channels). Returns ``{"sdr", "isr", "sir", "sar", "sdr_mixture", "nsdr"}`` each
    (sources,).
    """
    refs = as_real_tensor(references, "references", min_ndim=2,
                          layout="(sources, samples, channels)")
    mix = as_real_tensor(mixture, "mixture", min_ndim=1, layout="(samples, channels)",
                         device=refs.device)
    if mix.shape != refs.shape[1:]:
        raise ValueError(f"mixture: expected shape {tuple(refs.shape[1:])} (samples, channels) "
                         f"matching the references, got {tuple(mix.shape)}")
    ours = bss_eval_tensors(refs, estimates, sample_rate, window=None, hop=None)
    base = bss_eval_tensors(refs, mix.expand_as(refs), sample_rate, window=None, hop=None)
    out = {k: to_numpy(v[..., 0]) for k, v in ours.items()}
    out["sdr_mixture"] = to_numpy(base["sdr"][..., 0])
    out["nsdr"] = out["sdr"] - out["sdr_mixture"]
    return out


def global_scores(nsdr: ArrayLike, sir: ArrayLike, sar: ArrayLike, lengths: ArrayLike
                  ) -> dict[str, np.ndarray]:
    """``{"gnsdr", "gsir", "gsar"}`` from per-clip scores (clips, ...) and lengths (clips,)."""
    return {"gnsdr": weighted_mean(nsdr, lengths), "gsir": weighted_mean(sir, lengths),
            "gsar": weighted_mean(sar, lengths)}

"""Separation metrics: BSS Eval v4 (museval-exact, batched torch), SI-SDR, SD-SDR, PES/EPS,
GNSDR/GSIR/GSAR and oracle rows.

Conventions: :func:`bss_eval` takes museval's (sources, samples, channels); everything else
takes the project's time-last layout (..., samples).
"""

from avsep.metrics.bss_eval import (
    METRIC_NAMES,
    aggregate_frames,
    bss_eval,
    bss_eval_batch,
    bss_eval_tensors,
)
from avsep.metrics.global_scores import clip_scores, global_scores, weighted_mean
from avsep.metrics.oracle import ORACLE_KINDS, oracle_estimates, oracle_scores
from avsep.metrics.sdr import sd_sdr, si_sdr, snr
from avsep.metrics.silence import eps, nanmean_frames, pes, silence_scores

__all__ = [
    "METRIC_NAMES",
    "ORACLE_KINDS",
    "aggregate_frames",
    "bss_eval",
    "bss_eval_batch",
    "bss_eval_tensors",
    "clip_scores",
    "eps",
    "global_scores",
    "nanmean_frames",
    "oracle_estimates",
    "oracle_scores",
    "pes",
    "sd_sdr",
    "si_sdr",
    "silence_scores",
    "snr",
    "weighted_mean",
]

"""Frame-level vocal activity labels at a model's STFT frame rate, and their perturbation.

Frame ``n`` of an STFT with ``center=True`` is centred on sample ``n * hop``; the label of a frame
is 1 when the target vocal is active there. Two sources of truth:

* :func:`energy_labels` — the vocal's own energy: a frame is active when its RMS over the
  ``n_fft`` samples around it is within ``threshold_db`` of the clip's RMS (and above silence);
* :func:`annotation_labels` — a cached annotation (e.g. MIR-1K's vocal labels, or the synthetic
  corpus' ``vad``) sampled at the frame centres.

:func:`perturb` injects label errors as in Swaminathan & Lerch (Case I.b).
"""

from __future__ import annotations

import numpy as np

from avsep.audio.stft import STFTConfig
from avsep.data.datasets.mixing import SILENCE_RMS, db_to_gain


def frame_centres(config: STFTConfig, num_samples: int) -> np.ndarray:
    """float64 (N,) centre sample of each STFT frame of a ``num_samples`` signal."""
    n = np.arange(config.num_frames(num_samples), dtype=np.float64) * config.hop_length
    return n if config.center else n + config.n_fft / 2


def energy_labels(vocal: np.ndarray, config: STFTConfig, threshold_db: float = -20.0) -> np.ndarray:
    """float32 (N,) activity of ``vocal`` (C, L): frame RMS above ``threshold_db`` re. clip RMS.

    Frame RMS uses a rectangular ``n_fft`` window (zero outside the clip), computed from a
    cumulative sum in O(L).
    """
    power = np.square(vocal, dtype=np.float64).mean(axis=0)
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    centres = frame_centres(config, power.shape[0])
    half = config.n_fft // 2
    lo = np.clip(centres.astype(np.int64) - half, 0, power.shape[0])
    hi = np.clip(centres.astype(np.int64) + config.n_fft - half, 0, power.shape[0])
    frame_rms = np.sqrt((cumulative[hi] - cumulative[lo]) / config.n_fft)
    clip_rms = float(np.sqrt(power.mean())) if power.size else 0.0
    threshold = max(SILENCE_RMS, clip_rms * db_to_gain(threshold_db))
    return (frame_rms > threshold).astype(np.float32)


def annotation_labels(
    values: np.ndarray, rate: float, start: int, num_samples: int, config: STFTConfig
) -> np.ndarray:
    """float32 (N,) labels from an annotation ``values`` (frames,) at ``rate`` Hz.

    ``start`` is the clip's first sample in the annotated track; each STFT frame takes the
    annotation frame at its centre (values >= 0.5 are active).
    """
    times = (start + frame_centres(config, num_samples)) / config.sample_rate
    index = np.clip(np.floor(times * rate).astype(np.int64), 0, len(values) - 1)
    return (np.asarray(values)[index] >= 0.5).astype(np.float32)


def perturb(
    labels: np.ndarray, fraction: float, rng: np.random.Generator, segment: int = 1
) -> np.ndarray:
    """A copy of ``labels`` (N,) with exactly ``round(fraction * N)`` frames flipped.

    Swaminathan & Lerch inject errors "drawn from a uniform distribution" over frames
    (``segment=1``, the default). With ``segment > 1`` the flipped frames form non-overlapping
    contiguous runs of ``segment`` frames (the last run shorter when needed) placed uniformly
    at random, which looks more like a real detector's errors.
    """
    if segment < 1:
        raise ValueError(f"segment must be >= 1 frame, got {segment}")
    n = labels.shape[0]
    k = int(round(fraction * n))
    out = labels.copy()
    if k == 0:
        return out
    runs = [segment] * (k // segment) + ([k % segment] if k % segment else [])
    rng.shuffle(runs)
    q = len(runs)
    # stars and bars: q sorted slots among the n - k unflipped frames + q runs
    slots = np.sort(rng.choice(n - k + q, size=q, replace=False))
    offsets = np.concatenate([[0], np.cumsum(runs)[:-1]])
    starts = slots - np.arange(q) + offsets
    for s, length in zip(starts, runs, strict=True):
        out[s : s + length] = 1.0 - out[s : s + length]
    return out

"""Deterministic structured test excerpts for the metric tests and the speed benchmark.

Sources are harmonic notes (a few partials, vibrato, attack/decay envelopes) over a little
broadband noise, so that every reference spans the full band (the BSS Eval filters are then
well posed); estimates are what a separator leaves: the source, some leakage of the others,
a short filter and additive noise.
"""

from __future__ import annotations

import numpy as np


def structured_sources(num_sources: int, seconds: float, sample_rate: int, channels: int = 2,
                       seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """(sources, samples, channels) float64 notes-plus-noise excerpts, one timbre per source."""
    rng = np.random.default_rng(seed)
    length = int(round(seconds * sample_rate))
    t = np.arange(length) / sample_rate
    out = np.empty((num_sources, length, channels))
    for s in range(num_sources):
        note_len = rng.uniform(0.2, 0.5)
        starts = np.arange(0.0, seconds, note_len)
        signal = np.zeros(length)
        for start in starts:
            f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
            on = (t >= start) & (t < start + note_len)
            local = t[on] - start
            env = (1 - np.exp(-local / 0.01)) * np.exp(-local / rng.uniform(0.1, 0.6))
            phase = 2 * np.pi * f0 * local + 0.3 * np.sin(2 * np.pi * 5.5 * local)
            for k in range(1, 6):
                if k * f0 < sample_rate / 2:
                    signal[on] += env * np.sin(k * phase) / k ** (1 + 0.3 * s)
        for c in range(channels):
            gain = 1.0 - 0.3 * c * (s % 2)
            out[s, :, c] = gain * signal + noise * rng.standard_normal(length)
    return out


def degraded_estimates(references: np.ndarray, seed: int = 0, leak: float = 0.15,
                       noise: float = 0.02) -> np.ndarray:
    """Estimates (sources, samples, channels): scaled, 3-tap filtered source + leakage + noise."""
    rng = np.random.default_rng(seed)
    mixture = references.sum(axis=0)
    taps = np.array([0.8, 0.15, 0.05])
    out = np.empty_like(references)
    for s in range(references.shape[0]):
        filtered = np.apply_along_axis(lambda x: np.convolve(x, taps)[: x.size], 0, references[s])
        out[s] = (filtered + leak * (mixture - references[s])
                  + noise * rng.standard_normal(references[s].shape))
    return out


def recorded_sources(num_sources: int, seconds: float, sample_rate: int, channels: int = 2,
                     seed: int = 0, floor_db: float = -80.0) -> np.ndarray:
    """(sources, samples, channels) instrument stems as a recording gives them.

    The notes of :func:`structured_sources` without their broadband noise, each stem scaled
    to a peak of -1 dBFS, plus white noise ``floor_db`` dB below full scale (any recording's
    noise floor; -90 to -60 dB for real stems). The floor keeps BSS Eval's Gram matrix
    invertible; noiseless notes (:func:`structured_sources` with ``noise=0``) leave it
    numerically singular, like SoundFont renders and pure tones.
    """
    if not isinstance(floor_db, (int, float)) or not -200.0 <= floor_db < 0.0:
        raise ValueError(f"floor_db: expected a noise floor in dB below full scale "
                         f"(e.g. -80), got {floor_db!r}")
    stems = structured_sources(num_sources, seconds, sample_rate, channels, seed, noise=0.0)
    peak = np.abs(stems).max(axis=(1, 2), keepdims=True)
    stems *= 10 ** (-1 / 20) / np.where(peak > 0, peak, 1.0)
    rng = np.random.default_rng(seed + 10_000)
    return stems + 10 ** (floor_db / 20) * rng.standard_normal(stems.shape)

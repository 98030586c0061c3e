"""Signal helpers shared by the synthesisers: seeded generators, additive tones, envelopes.

Everything is vectorised numpy: the only Python loops run over notes or events, never over
samples. Audio arrays are float32 mono ``(L,)`` at the corpus sample rate.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
from scipy import signal

# Amplitude envelopes and harmonic gains are computed at this control hop (samples) and
# linearly interpolated to the sample rate: 32 samples = 1.45 ms at 22.05 kHz.
CONTROL_HOP = 32


def child_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the ``keys`` (stable across runs).

    Keys are hashed with CRC32 of their ``str`` so adding a new component never shifts the
    random streams of the others.
    """
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    """Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def smooth_noise(rng: np.random.Generator, n: int, rate: float, cutoff_hz: float) -> np.ndarray:
    """A smooth random curve ``(n,)`` with unit standard deviation.

    White noise low-passed (zero phase) at ``cutoff_hz`` for a signal sampled at ``rate``.
    """
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    pad = int(2 * rate / max(cutoff_hz, 1e-3)) + 8
    white = rng.standard_normal(max(n, int(20 * rate / max(cutoff_hz, 1e-3))) + 2 * pad)
    sos = signal.butter(2, min(cutoff_hz / (rate / 2), 0.99), output="sos")
    filtered = signal.sosfiltfilt(sos, white)
    # normalise by the long-run deviation so short curves stay small and smooth
    return (filtered[pad : pad + n] / (filtered.std() + 1e-9)).astype(np.float32)


def control_to_audio(control: np.ndarray, length: int, hop: int = CONTROL_HOP) -> np.ndarray:
    """Linearly interpolate a control-rate curve ``(..., M)`` to ``(..., length)`` samples."""
    positions = np.arange(length, dtype=np.float64) / hop
    grid = np.arange(control.shape[-1], dtype=np.float64)
    if control.ndim == 1:
        return np.interp(positions, grid, control).astype(np.float32)
    flat = control.reshape(-1, control.shape[-1])
    out = np.stack([np.interp(positions, grid, row) for row in flat])
    return out.reshape(*control.shape[:-1], length).astype(np.float32)


def phase_from_f0(f0: np.ndarray, sample_rate: int) -> np.ndarray:
    """Instantaneous phase (radians, float64) of a tone following ``f0`` (Hz) ``(L,)``."""
    return 2.0 * np.pi * np.cumsum(f0.astype(np.float64)) / sample_rate


def additive(
    f0_control: np.ndarray,
    gains: Callable[[int, np.ndarray], np.ndarray],
    num_harmonics: int,
    length: int,
    sample_rate: int,
    hop: int = CONTROL_HOP,
) -> np.ndarray:
    """Sum of harmonics ``k = 1..num_harmonics`` of a tone whose pitch (Hz) is given at
    control rate ``f0_control`` ``(M,)`` (one value every ``hop`` samples).

    ``gains(k, f0_control)`` returns the linear gain of harmonic ``k`` at control rate
    ``(M,)``; harmonics above 0.45·sample_rate are muted so nothing aliases.
    Returns float32 ``(length,)``.
    """
    f0 = control_to_audio(f0_control, length, hop)
    phase = phase_from_f0(f0, sample_rate)
    out = np.zeros(length, dtype=np.float32)
    nyquist_guard = 0.45 * sample_rate
    for k in range(1, num_harmonics + 1):
        gain = gains(k, f0_control) * (k * f0_control < nyquist_guard)
        if not np.any(gain > 1e-5):
            continue
        out += control_to_audio(gain, length, hop) * np.sin(k * phase).astype(np.float32)
    return out


def control_length(length: int, hop: int = CONTROL_HOP) -> int:
    """Number of control points covering ``length`` samples (one every ``hop``, plus one)."""
    return length // hop + 2


def resonances(
    freqs: np.ndarray, centers: np.ndarray, bandwidths: np.ndarray, gains: np.ndarray
) -> np.ndarray:
    """Spectral envelope at ``freqs`` ``(M,)``: a sum of Lorentzian peaks.

    ``centers``/``bandwidths``/``gains`` are ``(P,)`` or ``(M, P)`` (time-varying formants).
    Returns ``(M,)``.
    """
    freqs = freqs[:, None]
    return np.sum(gains / (1.0 + ((freqs - centers) / bandwidths) ** 2), axis=-1)


def adsr(
    length: int, attack: float, decay: float, sustain: float, release: float, sample_rate: int
) -> np.ndarray:
    """Attack-decay-sustain-release envelope ``(length + release samples,)`` peaking at 1.

    ``length`` is the held part in samples; times are in seconds.
    """
    a = max(1, int(attack * sample_rate))
    d = max(1, int(decay * sample_rate))
    r = max(1, int(release * sample_rate))
    t = np.arange(length + r, dtype=np.float32)
    env = np.where(
        t < a,
        t / a,
        sustain + (1 - sustain) * np.exp(-(t - a) / d),
    ).astype(np.float32)
    end_level = env[min(length, len(env) - 1)] if length > 0 else 0.0
    tail = t >= length
    env[tail] = end_level * np.exp(-(t[tail] - length) / (r / 5.0))
    return env


def bandpass_noise(
    rng: np.random.Generator, length: int, low_hz: float, high_hz: float, sample_rate: int
) -> np.ndarray:
    """White noise band-passed to ``[low_hz, high_hz]``, unit RMS, float32 ``(length,)``."""
    nyq = sample_rate / 2
    low, high = max(low_hz / nyq, 1e-3), min(high_hz / nyq, 0.98)
    sos = signal.butter(2, [low, high], btype="band", output="sos")
    noise = signal.sosfilt(sos, rng.standard_normal(length))
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-9)).astype(np.float32)


def place_events(
    hit: np.ndarray, onsets: np.ndarray, gains: np.ndarray, length: int, sample_rate: int
) -> np.ndarray:
    """Add copies of ``hit`` at ``onsets`` (s) scaled by ``gains``: an impulse train convolved
    with the hit (FFT convolution), float32 ``(length,)``."""
    train = np.zeros(length, dtype=np.float64)
    idx = np.round(np.asarray(onsets) * sample_rate).astype(int)
    keep = (idx >= 0) & (idx < length)
    np.add.at(train, idx[keep], np.asarray(gains, dtype=np.float64)[keep])
    return signal.fftconvolve(train, hit.astype(np.float64))[:length].astype(np.float32)


def frame_means(curve: np.ndarray, rate: float, fps: float, num_frames: int) -> np.ndarray:
    """Average a curve sampled at ``rate`` over video frames of ``1/fps`` s: ``(num_frames,)``."""
    edges = np.round(np.arange(num_frames + 1) * rate / fps).astype(int)
    edges = np.clip(edges, 0, len(curve))
    sums = np.concatenate([[0.0], np.cumsum(curve, dtype=np.float64)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    return ((sums[edges[1:]] - sums[edges[:-1]]) / counts).astype(np.float32)

"""Additive models of the 13 URMP instruments (plus the accompaniment's bass and keys).

Each :class:`Timbre` fixes what makes an instrument recognisable: the harmonic profile
(spectral roll-off, odd/even balance for the clarinet, body or bore resonances), the
articulation (attack/decay/sustain/release), vibrato, breath or bow noise, and for brass a
brightness that grows with loudness. :func:`render_line` plays a monophonic note list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avsep.data.records import URMP_INSTRUMENTS
from avsep.data.synth import dsp
from avsep.data.synth.score import Note


@dataclass(frozen=True)
class Timbre:
    """Synthesis parameters of one instrument. Times in seconds, ranges in MIDI numbers."""

    name: str
    family: str  # "bowed" | "woodwind" | "brass" | "plucked" | "keys"
    low: int
    high: int
    rolloff: float  # harmonic k has gain k**-rolloff
    even_gain: float = 1.0  # gain of even harmonics (clarinet ≈ 0.15)
    resonances: tuple[tuple[float, float, float], ...] = ()  # (centre Hz, bandwidth Hz, gain)
    attack: float = 0.04
    decay: float = 0.2
    sustain: float = 0.8
    release: float = 0.12
    vibrato_rate: float = 0.0
    vibrato_depth: float = 0.0  # semitones
    noise: float = 0.0  # breath / bow noise relative to the tone
    noise_band: tuple[float, float] = (1000.0, 6000.0)
    brightness: float = 0.0  # brass: harmonic k scaled by env**(brightness*(k-1))
    harmonics: int = 30


TIMBRES: dict[str, Timbre] = {
    t.name: t
    for t in (
        Timbre("violin", "bowed", 62, 86, 0.9, resonances=((450, 150, 1.5), (2800, 900, 2.0)),
               attack=0.07, decay=0.3, sustain=0.85, release=0.15, vibrato_rate=5.8,
               vibrato_depth=0.25, noise=0.05, noise_band=(2000, 8000)),
        Timbre("viola", "bowed", 53, 76, 1.0, resonances=((350, 120, 1.6), (1800, 700, 1.4)),
               attack=0.08, decay=0.3, sustain=0.85, release=0.15, vibrato_rate=5.5,
               vibrato_depth=0.22, noise=0.05, noise_band=(1500, 6000)),
        Timbre("cello", "bowed", 40, 67, 1.05, resonances=((220, 90, 1.8), (1000, 500, 1.0)),
               attack=0.09, decay=0.35, sustain=0.85, release=0.2, vibrato_rate=5.2,
               vibrato_depth=0.2, noise=0.04, noise_band=(800, 4000)),
        Timbre("double_bass", "bowed", 31, 55, 1.15, resonances=((110, 60, 2.0), (600, 300, 0.8)),
               attack=0.1, decay=0.3, sustain=0.8, release=0.25, vibrato_rate=4.8,
               vibrato_depth=0.15, noise=0.04, noise_band=(400, 2500), harmonics=40),
        Timbre("flute", "woodwind", 67, 93, 2.2, attack=0.05, decay=0.2, sustain=0.9,
               release=0.08, vibrato_rate=5.0, vibrato_depth=0.15, noise=0.12,
               noise_band=(1500, 9000), harmonics=10),
        Timbre("oboe", "woodwind", 60, 86, 0.6, resonances=((1100, 300, 2.5), (3000, 600, 1.2)),
               attack=0.03, decay=0.15, sustain=0.9, release=0.06, vibrato_rate=5.2,
               vibrato_depth=0.08, noise=0.02, noise_band=(2000, 6000)),
        Timbre("clarinet", "woodwind", 52, 82, 1.1, even_gain=0.12, attack=0.03, decay=0.2,
               sustain=0.92, release=0.06, noise=0.03, noise_band=(1000, 5000)),
        Timbre("bassoon", "woodwind", 36, 65, 0.9, resonances=((480, 150, 2.2), (1200, 400, 1.0)),
               attack=0.04, decay=0.2, sustain=0.9, release=0.08, vibrato_rate=4.8,
               vibrato_depth=0.06, noise=0.03, noise_band=(500, 3000), harmonics=40),
        Timbre("saxophone", "woodwind", 51, 79, 0.75,
               resonances=((600, 300, 1.5), (1700, 500, 1.6)),
               attack=0.03, decay=0.15, sustain=0.85, release=0.08, vibrato_rate=5.5,
               vibrato_depth=0.2, noise=0.07, noise_band=(1500, 7000)),
        Timbre("trumpet", "brass", 58, 82, 0.7, resonances=((1300, 500, 1.6),), attack=0.025,
               decay=0.15, sustain=0.85, release=0.07, vibrato_rate=5.0, vibrato_depth=0.05,
               noise=0.02, brightness=0.25),
        Timbre("horn", "brass", 43, 72, 1.3, resonances=((400, 200, 1.5),), attack=0.05,
               decay=0.2, sustain=0.85, release=0.12, noise=0.01, brightness=0.18),
        Timbre("trombone", "brass", 40, 70, 0.85, resonances=((550, 250, 1.5),), attack=0.04,
               decay=0.2, sustain=0.85, release=0.1, noise=0.015, brightness=0.22, harmonics=36),
        Timbre("tuba", "brass", 28, 53, 1.4, resonances=((230, 100, 1.8),), attack=0.06,
               decay=0.25, sustain=0.85, release=0.15, noise=0.01, brightness=0.15,
               harmonics=40),
        # accompaniment only
        Timbre("bass", "plucked", 28, 50, 1.3, attack=0.008, decay=0.35, sustain=0.3,
               release=0.08, harmonics=24),
        Timbre("keys", "keys", 52, 76, 1.6, attack=0.01, decay=0.6, sustain=0.25, release=0.3,
               harmonics=14),
    )
}

assert all(name in TIMBRES for name in URMP_INSTRUMENTS)


def _control_curves(
    notes: list[Note], timbre: Timbre, length: int, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Control-rate pitch (Hz), envelope (0..1) and time-since-onset (s), each ``(M,)``."""
    rate = sample_rate / dsp.CONTROL_HOP
    m = dsp.control_length(length)
    f0 = np.zeros(m)
    env = np.zeros(m, dtype=np.float32)
    since = np.full(m, 10.0)
    for note in notes:
        i0 = int(note.onset * rate)
        held = max(1, int(note.duration * rate))
        shape = dsp.adsr(held, timbre.attack, timbre.decay, timbre.sustain, timbre.release, rate)
        i1 = min(m, i0 + len(shape))
        if i0 >= m:
            continue
        env[i0:i1] = np.maximum(env[i0:i1], note.velocity * shape[: i1 - i0])
        f0[i0:i1] = dsp.midi_to_hz(note.pitch)
        since[i0:i1] = np.arange(i1 - i0) / rate
    # hold the last pitch through silences so the phase stays continuous
    filled = np.maximum.accumulate(np.where(f0 > 0, np.arange(m), 0))
    first = f0[f0 > 0][0] if np.any(f0 > 0) else 220.0
    f0 = np.where(f0 > 0, f0, f0[filled])
    f0[f0 <= 0] = first
    # 15 ms portamento between notes
    width = max(1, int(0.015 * rate))
    log_f0 = np.convolve(np.pad(np.log(f0), width, mode="edge"), np.ones(width) / width, "same")
    return np.exp(log_f0[width:-width]), env, since


def render_line(
    timbre: Timbre | str, notes: list[Note], length: int, sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Play a monophonic ``notes`` list on ``timbre``: float32 ``(length,)`` samples."""
    timbre = TIMBRES[timbre] if isinstance(timbre, str) else timbre
    if not notes:
        return np.zeros(length, dtype=np.float32)
    rate = sample_rate / dsp.CONTROL_HOP
    f0, env, since = _control_curves(notes, timbre, length, sample_rate)
    if timbre.vibrato_depth > 0:
        ramp = np.clip((since - 0.25) / 0.3, 0, 1)  # vibrato sets in after the attack
        rate_jitter = 1 + 0.05 * dsp.smooth_noise(rng, len(f0), rate, 0.5)
        lfo = np.sin(2 * np.pi * timbre.vibrato_rate * np.cumsum(rate_jitter) / rate
                     + rng.uniform(0, 2 * np.pi))
        f0 = f0 * 2.0 ** (timbre.vibrato_depth / 12 * ramp * lfo)
    res = timbre.resonances
    centers = np.array([r[0] for r in res]) if res else None
    widths = np.array([r[1] for r in res]) if res else None
    peak_gains = np.array([r[2] for r in res]) if res else None

    def gains(k: int, f0c: np.ndarray) -> np.ndarray:
        g = np.full_like(f0c, k ** -timbre.rolloff)
        if k % 2 == 0:
            g *= timbre.even_gain
        if res:
            g *= 0.4 + dsp.resonances(k * f0c, centers, widths, peak_gains)
        if timbre.brightness > 0:
            g *= np.maximum(env, 1e-4) ** (timbre.brightness * (k - 1))
        return g * env

    tone = dsp.additive(f0, gains, timbre.harmonics, length, sample_rate)
    if timbre.noise > 0:
        # breath/bow noise follows the envelope, with an extra burst at each attack
        chiff = np.exp(-since / max(timbre.attack, 0.01)) * (env > 1e-3)
        noise_env = dsp.control_to_audio(env * (1 + 2 * chiff), length)
        low, high = timbre.noise_band
        noise = dsp.bandpass_noise(rng, length, low, high, sample_rate)
        tone = tone + timbre.noise * float(np.sqrt(np.mean(tone**2)) * 3 + 1e-3) * noise_env * noise
    return tone.astype(np.float32)

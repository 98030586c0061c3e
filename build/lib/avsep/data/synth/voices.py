"""Voice-like sources: a glottal harmonic series shaped by moving vowel formants.

A singer (:class:`VoiceProfile`) has a register, a formant scale (vocal-tract length), a
vibrato and a breathiness. :func:`sing` turns a melody into syllables: each note is one
syllable with a consonant gap before it, a vowel (formants F1–F3 glide between vowels), an
attack-sustain-release loudness envelope and a short fricative burst at its start. The
syllable envelope it returns is what the singer's mouth follows on screen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from avsep.data.synth import dsp
from avsep.data.synth.score import Note

# (F1, F2, F3) in Hz for an adult vocal tract, and how open the mouth is for the vowel.
VOWELS: dict[str, tuple[tuple[float, float, float], float]] = {
    "a": ((800.0, 1200.0, 2600.0), 1.0),
    "e": ((500.0, 1900.0, 2600.0), 0.8),
    "i": ((300.0, 2300.0, 3000.0), 0.7),
    "o": ((500.0, 900.0, 2500.0), 0.9),
    "u": ((320.0, 800.0, 2400.0), 0.75),
}
VOWEL_NAMES = tuple(VOWELS)


@dataclass(frozen=True)
class VoiceProfile:
    """What a singer sounds like."""

    low: int  # MIDI register
    high: int
    formant_scale: float  # 0.85 (long tract, darker) .. 1.2 (short tract, brighter)
    tilt: float  # spectral roll-off exponent of the glottal source
    vibrato_rate: float  # Hz
    vibrato_depth: float  # semitones
    breathiness: float  # noise relative to the voiced part

    def to_json(self) -> dict:
        return asdict(self)


def random_voice(rng: np.random.Generator) -> VoiceProfile:
    """A random singer: low (bass) to high (soprano) register, with matching formants."""
    register = rng.uniform(0, 1)
    low = int(round(43 + 22 * register))
    return VoiceProfile(
        low=low,
        high=low + int(rng.integers(12, 17)),
        formant_scale=float(0.86 + 0.3 * register + rng.normal(0, 0.03)),
        tilt=float(rng.uniform(1.0, 1.6)),
        vibrato_rate=float(rng.uniform(4.5, 6.8)),
        vibrato_depth=float(rng.uniform(0.15, 0.6)),
        breathiness=float(rng.uniform(0.02, 0.1)),
    )


@dataclass
class Performance:
    """A sung line: audio ``(L,)`` and the syllable envelope ``(L,)`` at the sample rate
    (0 = mouth closed, 1 = fully open; includes the vowel's openness)."""

    audio: np.ndarray
    envelope: np.ndarray
    vowels: list[str]


def _syllable_curves(
    notes: list[Note], m: int, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Control-rate f0 (Hz), loudness, openness, formants ``(M, 3)`` and the vowel list."""
    f0 = np.zeros(m)
    loud = np.zeros(m, dtype=np.float32)
    openness = np.zeros(m, dtype=np.float32)
    formants = np.zeros((m, 3))
    marks = np.zeros(m, dtype=bool)
    vowels: list[str] = []
    for note in notes:
        vowel = VOWEL_NAMES[int(rng.integers(len(VOWEL_NAMES)))]
        vowels.append(vowel)
        targets, open_amount = VOWELS[vowel]
        gap = rng.uniform(0.04, 0.1)  # consonant before the vowel
        i0 = int((note.onset + gap) * rate)
        i1 = min(m, int(note.end * rate))
        if i1 - i0 < 4:
            continue
        n = i1 - i0
        t = np.arange(n) / rate
        attack, release = rng.uniform(0.04, 0.08), rng.uniform(0.06, 0.12)
        shape = np.minimum(np.minimum(t / attack, 1.0), np.maximum((n / rate - t) / release, 0))
        shape = shape * (1 - 0.15 * t / max(t[-1], 1e-3))  # slight decay over the syllable
        loud[i0:i1] = note.velocity * shape
        openness[i0:i1] = open_amount * shape
        f0[i0:i1] = dsp.midi_to_hz(note.pitch)
        formants[i0:i1] = targets
        marks[i0:i1] = True
    if not marks.any():
        return np.full(m, 220.0), loud, openness, np.tile(VOWELS["a"][0], (m, 1)), vowels
    index = np.maximum.accumulate(np.where(marks, np.arange(m), 0))
    first = int(np.argmax(marks))
    index[:first] = first
    f0, formants = f0[index], formants[index]
    # formants glide (30 ms) and pitch has a 20 ms portamento
    for width, arr in ((int(0.03 * rate), formants), (int(0.02 * rate), f0[:, None])):
        kernel = np.ones(max(width, 1)) / max(width, 1)
        padded = np.pad(arr, ((width, width), (0, 0)), mode="edge")
        arr[:] = np.stack([np.convolve(padded[:, j], kernel, "same")[width:-width]
                           for j in range(arr.shape[1])], axis=1)
    return f0, loud, openness, formants, vowels


def sing(
    profile: VoiceProfile, notes: list[Note], length: int, sample_rate: int,
    rng: np.random.Generator,
) -> Performance:
    """Sing ``notes`` (already in the singer's register) as ``length`` samples."""
    rate = sample_rate / dsp.CONTROL_HOP
    m = dsp.control_length(length)
    f0, loud, openness, formants, vowels = _syllable_curves(notes, m, rate, rng)
    jitter = 1 + 0.05 * dsp.smooth_noise(rng, m, rate, 0.7)
    lfo = np.sin(2 * np.pi * profile.vibrato_rate * np.cumsum(jitter) / rate)
    drift = 0.08 * dsp.smooth_noise(rng, m, rate, 2.0)  # small pitch wander (semitones)
    f0 = f0 * 2.0 ** ((profile.vibrato_depth * lfo * np.minimum(loud * 2, 1) + drift) / 12)
    centers = formants * profile.formant_scale
    widths = np.array([80.0, 110.0, 160.0]) * profile.formant_scale
    peaks = np.array([1.0, 0.6, 0.35])

    # harmonic gains (K, M), normalised per control frame so that the voiced power follows
    # the syllable loudness whatever the vowel and pitch (the audible link to the mouth)
    num = 48
    table = np.stack([k ** -profile.tilt * (0.03 + dsp.resonances(k * f0, centers, widths, peaks))
                      * (k * f0 < 0.45 * sample_rate) for k in range(1, num + 1)])
    table *= loud / np.sqrt(np.sum(table**2, axis=0) + 1e-12)

    def gains(k: int, f0c: np.ndarray) -> np.ndarray:
        return table[k - 1]

    voiced = dsp.additive(f0, gains, num, length, sample_rate)
    # aspiration follows the loudness; a short fricative burst marks each syllable onset
    voiced_rms = float(np.sqrt(np.mean(voiced**2))) + 1e-4
    breath = dsp.bandpass_noise(rng, length, 1500, 7000, sample_rate)
    onset_burst = np.clip(np.diff(loud, prepend=0.0) * rate * 0.02, 0, 1)
    burst = np.convolve(onset_burst, np.ones(int(0.04 * rate)), "same")
    noise_env = dsp.control_to_audio(
        profile.breathiness * loud + 0.12 * np.minimum(burst, 1), length)
    audio = voiced + voiced_rms * 2.0 * noise_env * breath
    envelope = dsp.control_to_audio(openness, length)
    return Performance(audio=audio.astype(np.float32), envelope=envelope, vowels=vowels)

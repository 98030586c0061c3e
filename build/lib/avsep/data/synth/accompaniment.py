"""Accompaniment for a song: drums, a bass line and chords, on the song's beat grid."""

from __future__ import annotations

import numpy as np

from avsep.data.synth import dsp, instruments, score


def _drum_hits(sample_rate: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One sample ``(n,)`` per drum: kick (pitch-swept sine), snare (tone + noise), hi-hat."""
    t = np.arange(int(0.35 * sample_rate)) / sample_rate
    kick_f = 45 + 90 * np.exp(-t / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(kick_f) / sample_rate) * np.exp(-t / 0.12)
    tn = t[: int(0.25 * sample_rate)]
    snare_noise = dsp.bandpass_noise(rng, len(tn), 1500, 8000, sample_rate)
    snare = (0.5 * np.sin(2 * np.pi * 190 * tn) * np.exp(-tn / 0.05)
             + 0.6 * snare_noise * np.exp(-tn / 0.07))
    th = t[: int(0.08 * sample_rate)]
    hat = dsp.bandpass_noise(rng, len(th), 6000, 10500, sample_rate) * np.exp(-th / 0.02)
    return {"kick": kick.astype(np.float32), "snare": snare.astype(np.float32),
            "hat": (0.35 * hat).astype(np.float32)}


def drums(song: score.Song, length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A rock pattern: kick on 1 and 3, snare on 2 and 4, hi-hat on eighths. ``(length,)``"""
    hits = _drum_hits(sample_rate, rng)
    seconds = length / sample_rate
    beats = np.arange(0, seconds, song.beat)
    beat_index = np.arange(len(beats))
    eighths = np.arange(0, seconds, song.beat / 2)
    out = np.zeros(length, dtype=np.float32)
    kick_on = beats[beat_index % 2 == 0]
    extra = beats[(beat_index % 4 == 2)] + song.beat / 2  # an occasional pushed kick
    extra = extra[rng.random(len(extra)) < 0.4]
    for name, onsets in (("kick", np.concatenate([kick_on, extra])),
                         ("snare", beats[beat_index % 2 == 1]), ("hat", eighths)):
        gains = rng.uniform(0.7, 1.0, len(onsets))
        out += dsp.place_events(hits[name], onsets, gains, length, sample_rate)
    return out


def chords(song: score.Song, length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Three chord voices on the keys timbre, each with its own rhythm. ``(length,)``"""
    seconds = length / sample_rate
    keys = instruments.TIMBRES["keys"]
    out = np.zeros(length, dtype=np.float32)
    for voice, center in enumerate((58, 62, 66)):
        notes = score.chord_voice(song, rng, seconds, center - 6, center + 6, voice,
                                  style="harmony", legato=0.9)
        out += instruments.render_line(keys, notes, length, sample_rate, rng)
    return out


def accompaniment(
    song: score.Song, length: int, sample_rate: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Stems ``drums``, ``bass``, ``chords`` (each ``(length,)``) balanced to equal RMS."""
    seconds = length / sample_rate
    bass_notes = score.bass_line(song, rng, seconds, 33, 48)
    stems = {
        "drums": drums(song, length, sample_rate, rng),
        "bass": instruments.render_line("bass", bass_notes, length, sample_rate, rng),
        "chords": chords(song, length, sample_rate, rng),
    }
    levels = {"drums": 1.0, "bass": 0.9, "chords": 0.7}
    for name, audio in stems.items():
        rms = float(np.sqrt(np.mean(audio**2))) + 1e-9
        stems[name] = (audio * (0.1 * levels[name] / rms)).astype(np.float32)
    return stems

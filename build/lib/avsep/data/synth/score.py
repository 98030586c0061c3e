"""Tiny composer: tempo, key, chord progression and the note lists of every part.

A :class:`Song` fixes the harmony bar by bar; parts (melody, bass line, chord voices,
ensemble voices) are drawn from it, so everything played together is in time (shared beat
grid) and in harmony (notes are chord tones, melody passing notes are scale tones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# Progressions as scale degrees (0 = tonic), one chord per bar.
PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (0, 3, 4, 0),
    (5, 3, 0, 4),
    (0, 3, 5, 4),
    (1, 4, 0, 0),
)


@dataclass(frozen=True)
class Note:
    """One note: onset and duration in seconds, pitch as a MIDI number, velocity 0..1."""

    onset: float
    duration: float
    pitch: int
    velocity: float = 0.8

    @property
    def end(self) -> float:
        return self.onset + self.duration


@dataclass(frozen=True)
class Song:
    """Tempo, key and one chord per bar (4/4)."""

    bpm: float
    tonic: int  # MIDI pitch class 0..11
    minor: bool
    chords: tuple[int, ...]  # scale degree of each bar's chord root

    @property
    def beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar(self) -> float:
        return 4 * self.beat

    @property
    def scale(self) -> tuple[int, ...]:
        return MINOR if self.minor else MAJOR

    def chord_pitch_classes(self, bar: int) -> tuple[int, int, int]:
        """Pitch classes (0..11) of the triad of ``bar``."""
        degree = self.chords[bar % len(self.chords)]
        scale = self.scale
        return tuple((self.tonic + scale[(degree + 2 * i) % 7]) % 12 for i in range(3))

    def scale_pitch_classes(self) -> set[int]:
        return {(self.tonic + s) % 12 for s in self.scale}

    def num_bars(self, seconds: float) -> int:
        return max(1, int(np.ceil(seconds / self.bar)))


def random_song(rng: np.random.Generator, seconds: float) -> Song:
    """A song long enough for ``seconds``: tempo 72–132 bpm, random key and progression."""
    base = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    bpm = float(rng.uniform(72, 132))
    song = Song(bpm=bpm, tonic=int(rng.integers(12)), minor=bool(rng.random() < 0.4), chords=base)
    bars = song.num_bars(seconds)
    return Song(bpm, song.tonic, song.minor, tuple(base[i % len(base)] for i in range(bars)))


def nearest_pitch(pitch_class: int, center: float, low: int, high: int) -> int:
    """The MIDI pitch of ``pitch_class`` nearest ``center`` inside ``[low, high]``."""
    candidates = np.arange(low, high + 1)
    candidates = candidates[candidates % 12 == pitch_class]
    if candidates.size == 0:
        return int(np.clip(round(center), low, high))
    return int(candidates[np.argmin(np.abs(candidates - center))])


# Rhythm patterns: note lengths in beats filling one bar (negative = rest).
RHYTHMS = {
    "melody": ((1, 1, 1, 1), (1.5, 0.5, 1, 1), (0.5, 0.5, 1, 2), (1, 0.5, 0.5, 2), (2, 1, 1),
               (1, 1, 2), (0.5, 0.5, 0.5, 0.5, 1, -1), (3, -1)),
    "harmony": ((2, 2), (1.5, 1.5, 1), (4,), (1, 2, 1), (-1, 1, -1, 1), (3, 1)),
    "bass": ((2, 2), (1, 1, 1, 1), (3, 1), (1.5, 0.5, 2), (4,)),
}


def _rhythm_part(
    song: Song,
    rng: np.random.Generator,
    seconds: float,
    style: str,
    pick_pitch,
    legato: float,
) -> list[Note]:
    """Notes of one part: per bar, a rhythm of ``style`` and a pitch from ``pick_pitch``."""
    notes: list[Note] = []
    patterns = RHYTHMS[style]
    for bar in range(song.num_bars(seconds)):
        start = bar * song.bar
        pattern = patterns[int(rng.integers(len(patterns)))]
        position = 0.0
        for length in pattern:
            onset = start + position * song.beat
            position += abs(length)
            if length < 0 or onset >= seconds:
                continue
            duration = min(length * song.beat * legato, seconds - onset)
            if duration < 0.05:
                continue
            pitch = pick_pitch(bar, position - length, rng)
            notes.append(Note(onset, duration, pitch, float(rng.uniform(0.6, 1.0))))
    return notes


def melody(
    song: Song, rng: np.random.Generator, seconds: float, low: int, high: int,
    legato: float = 0.85,
) -> list[Note]:
    """A melody in ``[low, high]``: chord tones on strong beats, scale steps between."""
    center = (low + high) / 2
    scale = sorted(song.scale_pitch_classes())
    state = {"pitch": nearest_pitch(song.chord_pitch_classes(0)[0], center, low, high)}

    def pick(bar: int, beat: float, rng: np.random.Generator) -> int:
        previous = state["pitch"]
        if beat % 2 == 0:
            options = [nearest_pitch(pc, previous + rng.normal(0, 3), low, high)
                       for pc in song.chord_pitch_classes(bar)]
        else:
            options = [p for p in range(previous - 4, previous + 5)
                       if p % 12 in scale and low <= p <= high] or [previous]
        # pull back toward the centre of the range
        weights = np.exp(-np.abs(np.array(options) - (previous + center) / 2) / 4)
        state["pitch"] = int(options[int(rng.choice(len(options), p=weights / weights.sum()))])
        return state["pitch"]

    return _rhythm_part(song, rng, seconds, "melody", pick, legato)


def chord_voice(
    song: Song, rng: np.random.Generator, seconds: float, low: int, high: int, voice: int,
    style: str = "harmony", legato: float = 0.95,
) -> list[Note]:
    """A harmony part playing chord tone ``voice`` (0 root, 1 third, 2 fifth) of each bar."""
    center = (low + high) / 2

    def pick(bar: int, beat: float, rng: np.random.Generator) -> int:
        return nearest_pitch(song.chord_pitch_classes(bar)[voice % 3], center, low, high)

    return _rhythm_part(song, rng, seconds, style, pick, legato)


def bass_line(
    song: Song, rng: np.random.Generator, seconds: float, low: int, high: int
) -> list[Note]:
    """Chord roots (and fifths on off-beats) in ``[low, high]``."""
    center = (low + high) / 2

    def pick(bar: int, beat: float, rng: np.random.Generator) -> int:
        chord = song.chord_pitch_classes(bar)
        pc = chord[0] if beat % 2 == 0 or rng.random() < 0.6 else chord[2]
        return nearest_pitch(pc, center - 2, low, high)

    return _rhythm_part(song, rng, seconds, "bass", pick, legato=0.9)


def ensemble_parts(
    song: Song, rng: np.random.Generator, seconds: float, ranges: list[tuple[int, int]]
) -> list[list[Note]]:
    """Note lists for an ensemble; ``ranges`` are the (low, high) MIDI ranges of the players.

    The highest-pitched player takes the melody, the lowest (when there are three or more)
    the bass line, the others chord tones (third, fifth, root...) with their own rhythms.
    """
    centers = np.array([(lo + hi) / 2 for lo, hi in ranges])
    order = list(np.argsort(-centers))  # highest first
    parts: list[list[Note]] = [[] for _ in ranges]
    for rank, index in enumerate(order):
        low, high = ranges[index]
        if rank == 0:
            parts[index] = melody(song, rng, seconds, low, high)
        elif rank == len(order) - 1 and len(order) >= 3:
            parts[index] = bass_line(song, rng, seconds, low, high)
        else:
            parts[index] = chord_voice(song, rng, seconds, low, high, voice=rank)
    return parts

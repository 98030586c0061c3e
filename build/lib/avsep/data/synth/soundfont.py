"""Optional SoundFont rendering of the instrument parts (``avsep synth --soundfont SF2``).

Uses the ``tinysoundfont`` package (TinySoundFont bindings; install it with
``pip install --no-deps tinysoundfont`` — its only dependency, pyaudio, is for live playback,
which is not used here). Each URMP instrument is played with its General MIDI program
(:data:`GM_PROGRAMS`); a SoundFont without that program falls back to its first preset.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from avsep.data.synth.score import Note

# General MIDI program numbers (0-based) of the 13 URMP instruments.
GM_PROGRAMS: dict[str, int] = {
    "violin": 40, "viola": 41, "cello": 42, "double_bass": 43, "trumpet": 56, "trombone": 57,
    "tuba": 58, "horn": 60, "saxophone": 65, "oboe": 68, "bassoon": 70, "clarinet": 71,
    "flute": 73,
}


class SoundFontUnavailable(RuntimeError):
    """SoundFont rendering was asked for but cannot run here."""


class SoundFontRenderer:
    """Renders monophonic note lists with the programs of one SoundFont file."""

    def __init__(self, path: Path, sample_rate: int):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: SoundFont file not found")
        try:
            import tinysoundfont
        except ImportError as err:
            raise SoundFontUnavailable(
                f"{path}: SoundFont rendering is not available: the 'tinysoundfont' package "
                "is not installed (pip install --no-deps tinysoundfont); run without "
                "--soundfont to use the built-in additive instruments"
            ) from err
        self.path = path
        self.sample_rate = sample_rate
        self._module = tinysoundfont
        self._data = path.read_bytes()
        self._new_synth()  # fail now, not halfway through the corpus, on a bad file
        self._warned: set[str] = set()

    def _new_synth(self):
        synth = self._module.Synth(samplerate=self.sample_rate)
        try:
            sfid = synth.sfload(self._data)
        except Exception as err:  # noqa: BLE001 - the C extension raises plain exceptions
            raise ValueError(f"{self.path}: not a readable SoundFont ({err})") from err
        return synth, sfid

    def _select(self, synth, sfid: int, instrument: str) -> None:
        try:
            synth.program_select(0, sfid, 0, GM_PROGRAMS[instrument])
        except RuntimeError:
            if instrument not in self._warned:
                warnings.warn(f"{self.path}: no General MIDI program "
                              f"{GM_PROGRAMS[instrument]} for {instrument}; using preset 0",
                              stacklevel=3)
                self._warned.add(instrument)
            synth.program_select(0, sfid, 0, 0)

    def render(self, instrument: str, notes: list[Note], length: int) -> np.ndarray:
        """Play ``notes`` on ``instrument``'s program: mono float32 ``(length,)``."""
        synth, sfid = self._new_synth()
        self._select(synth, sfid, instrument)
        events = sorted(
            [(int(round(n.onset * self.sample_rate)), 1, n) for n in notes]
            + [(int(round(n.end * self.sample_rate)), 0, n) for n in notes],
            key=lambda e: (e[0], e[1]),
        )
        out = np.zeros(length, dtype=np.float32)
        position = 0
        for when, is_on, note in events:
            when = min(when, length)
            if when > position:
                out[position:when] = self._generate(synth, when - position)
                position = when
            if is_on:
                synth.noteon(0, int(note.pitch), int(np.clip(note.velocity * 127, 1, 127)))
            else:
                synth.noteoff(0, int(note.pitch))
        if position < length:
            out[position:] = self._generate(synth, length - position)
        return out

    @staticmethod
    def _generate(synth, count: int) -> np.ndarray:
        stereo = np.frombuffer(synth.generate(count), dtype=np.float32).reshape(count, 2)
        return stereo.mean(axis=1)

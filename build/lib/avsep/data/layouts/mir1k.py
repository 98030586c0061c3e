"""MIR-1K (Hsu & Jang): 1000 Chinese karaoke clips, 16 kHz, two channels per file.

Supported tree (the released archive)::

    ROOT/Wavfile/<singer>_<song>_<clip>.wav        left = accompaniment, right = vocals
    ROOT/vocal-nonvocalLabel/<same stem>.vocal     optional: one 0/1 per line, 40 ms frames,
                                                   20 ms hop (annotation "vad")
    ROOT/PitchLabel/<same stem>.pv                 optional: semitones per 20 ms ("pitch")
    ROOT/UndividedWavfile/<singer>_<song>.wav      the 110 whole songs (``variant="undivided"``)

Both sources of a track live in one stereo file: ``track.extra["channel_map"]`` gives the
channel of each source (``{"accompaniment": 0, "vocals": 1}``) and there is no mixture file (the
mixture is their sum). Records report ``channels=1`` (each source is mono).

Names: a clip ``abjones_1_01`` is singer ``abjones`` (``performer``), song ``abjones_1``
(``piece``), clip ``01``.

Split: this reader assigns the paper split (Huang et al., ISMIR 2014, also used by
Swaminathan & Lerch): clips of the singers ``abjones`` and ``amy`` train, the other 17
singers test. The papers do not list which training clips they held out for validation, so the
last ``val_fraction`` (default 0.1) of the training singers' songs, in sorted order and whole
songs at a time, are ``val``. ``avsep prepare`` keeps it only with ``--split-policy paper``;
by default :mod:`avsep.data.splits` replaces it with a seeded singer-disjoint split.

Options: ``variant`` ("clips" | "undivided"), ``val_fraction``, ``sample_rate`` (16000),
``min_seconds``.
"""

from __future__ import annotations

import math
from pathlib import Path

from avsep.data.layouts._common import Collector, finish, require_root
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord

TRAIN_SINGERS = ("abjones", "amy")
CHANNEL_MAP = {"accompaniment": 0, "vocals": 1}
VAD_FRAME_S, VAD_HOP_S = 0.040, 0.020


def _song(stem: str) -> str:
    return "_".join(stem.split("_")[:2])


def _splits(stems: list[str], val_fraction: float) -> dict[str, str]:
    songs = sorted({_song(s) for s in stems if s.split("_")[0] in TRAIN_SINGERS})
    val = set(songs[len(songs) - math.ceil(val_fraction * len(songs)):]) if songs else set()
    return {s: ("test" if s.split("_")[0] not in TRAIN_SINGERS else
                "val" if _song(s) in val else "train") for s in stems}


def _track(path: Path, root: Path, split: str, variant: str) -> TrackRecord:
    stem = path.stem
    annotations = {}
    if variant == "clips":
        for name, folder, suffix in (("vad", "vocal-nonvocalLabel", ".vocal"),
                                     ("pitch", "PitchLabel", ".pv")):
            candidate = root / folder / f"{stem}{suffix}"
            if candidate.is_file():
                annotations[name] = candidate
    sources = [SourceRecord(name=name, role=name, audio_path=path) for name in CHANNEL_MAP]
    return TrackRecord(layout="mir1k", track_id=stem, split=split, sources=sources,
                       performer=stem.split("_")[0], piece=_song(stem), annotations=annotations,
                       extra={"channel_map": dict(CHANNEL_MAP), "variant": variant,
                              "vad_frame_s": VAD_FRAME_S, "vad_hop_s": VAD_HOP_S})


def read(root: Path, *, skip_bad: bool = False, variant: str = "clips",
         val_fraction: float = 0.1, sample_rate: int | None = 16000,
         min_seconds: float | None = None,
         check_video: bool = False) -> tuple[list[TrackRecord], list[Problem]]:
    root = require_root(root, "MIR-1K")
    folders = {"clips": "Wavfile", "undivided": "UndividedWavfile"}
    if variant not in folders:
        raise DataError(root, f"unknown MIR-1K variant {variant!r}; "
                              f"expected one of {list(folders)}")
    folder = root / folders[variant]
    files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    if not files:
        raise DataError(folder, f"no .wav files: expected MIR-1K {folders[variant]}/<singer>_*.wav")
    splits = _splits([f.stem for f in files], val_fraction)
    builders = [lambda f=f: _track(f, root, splits[f.stem], variant) for f in files]
    records, problems = finish(Collector(skip_bad), builders, sample_rate=sample_rate, channels=2,
                               min_seconds=min_seconds, check_video=False)
    for record in records:
        record.channels = 1
    return records, problems

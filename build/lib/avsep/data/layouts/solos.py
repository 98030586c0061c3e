"""Solos (Montesinos, Slizovskaia & Haro, MMSP 2020): 755 YouTube solo performances of the 13
URMP instruments, resampled to 25 fps, with OpenPose skeletons and useful-segment timestamps.

The public release ships YouTube ids and metadata (``solos_ids.json``,
``solos_timestamps.json``); the videos are downloaded by the user into one folder per
instrument, named by YouTube id. Supported tree::

    ROOT/solos_ids.json                    optional {"Violin": ["<ytid>", ...], ...}
    ROOT/solos_timestamps.json             optional {"Violin": {"<ytid>": [[f0, f1], ...]}}
                                           (useful segments in 25 fps frames; kept in extra)
    ROOT/videos/<Instrument>/<ytid>.mp4    (or ROOT/<Instrument>/<ytid>.mp4)
    ROOT/audio/<Instrument>/<ytid>.wav     optional extracted audio; else the video's sound track
    ROOT/avsep_splits.json                 optional {"<ytid>": "train"|"val"|"test"}

Instrument folders use the release's names (``Bassoon``, ``Cello``, ``Clarinet``,
``DoubleBass``, ``Flute``, ``Horn``, ``Oboe``, ``Saxophone``, ``Trombone``, ``Trumpet``,
``Tuba``, ``Viola``, ``Violin``). A track is one video with one source named by its
instrument. Split: ``avsep_splits.json`` (keyed by YouTube id), else "unknown": the paper
defines no split, so :mod:`avsep.data.splits` assigns a seeded hash split by video.

Options: ``sample_rate``, ``min_seconds``, ``check_video`` (default True).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avsep.data.layouts._common import (
    Collector,
    check_instrument,
    finish,
    load_json,
    load_splits,
    require_root,
)
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord

ALIASES = {"doublebass": "double_bass"}
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm")


def _timestamps(root: Path) -> dict[str, Any]:
    path = root / "solos_timestamps.json"
    if not path.is_file():
        return {}
    data = load_json(path)
    return {ytid: stamps for per_instrument in data.values() for ytid, stamps in
            per_instrument.items()} if isinstance(data, dict) else {}


def _track(video: Path, root: Path, split: str, stamps: Any) -> TrackRecord:
    instrument = check_instrument(video.parent.name, video.parent, ALIASES)
    audio = root / "audio" / video.parent.name / f"{video.stem}.wav"
    source = SourceRecord(name=instrument, role="instrument", instrument=instrument,
                          audio_path=audio if audio.is_file() else video, video_path=video)
    extra = {"youtube_id": video.stem}
    if stamps is not None:
        extra["timestamps"] = stamps
    return TrackRecord(layout="solos", track_id=f"{video.parent.name}_{video.stem}", split=split,
                       sources=[source], video_path=video, extra=extra)


def read(root: Path, *, skip_bad: bool = False, sample_rate: int | None = None,
         min_seconds: float | None = None,
         check_video: bool = True) -> tuple[list[TrackRecord], list[Problem]]:
    root = require_root(root, "Solos")
    base = root / "videos" if (root / "videos").is_dir() else root
    splits = load_splits(root / "avsep_splits.json")
    stamps = _timestamps(root)
    videos = sorted(p for folder in base.iterdir() if folder.is_dir() and folder.name != "audio"
                    for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise DataError(base, "no videos: expected <Instrument>/<youtube id>.mp4 folders")
    builders = [lambda v=v: _track(v, root, splits.get(v.stem, "unknown"), stamps.get(v.stem))
                for v in videos]
    return finish(Collector(skip_bad), builders, sample_rate=sample_rate, channels=None,
                  min_seconds=min_seconds, check_video=check_video)

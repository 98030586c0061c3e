"""MUSDB18, the wav variant (``musdb18hq`` or ``musdb convert``) — audio only.

Supported tree (the one ``musdb`` reads with ``is_wav=True``)::

    ROOT/train/<Artist - Title>/{mixture,vocals,drums,bass,other}.wav   (44.1 kHz stereo)
    ROOT/test/<Artist - Title>/...

Splits: ``test`` for ROOT/test; in ROOT/train the 14 tracks of musdb's official validation list
(:data:`avsep.data.splits.MUSDB18_VALIDATION`, the ``validation_tracks`` of the ``musdb``
package's ``configs/mus.yaml``) are ``val``, the rest ``train``.

Options: ``sample_rate`` (default 44100; ``None`` accepts any consistent rate),
``channels`` (default 2), ``min_seconds``, ``check_video`` (no effect: no video).
"""

from __future__ import annotations

from pathlib import Path

from avsep.data.layouts._common import Collector, finish, require_file, require_root
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord
from avsep.data.splits import MUSDB18_VALIDATION

STEMS = ("vocals", "drums", "bass", "other")


def validation_tracks() -> frozenset[str]:
    """musdb's official validation track names (14 tracks of train/)."""
    return MUSDB18_VALIDATION


def _track(folder: Path, split: str) -> TrackRecord:
    mixture = require_file(folder / "mixture.wav", "MUSDB18 track: mixture.wav + " + ", ".join(
        f"{s}.wav" for s in STEMS))
    sources = [SourceRecord(name=s, role=s, audio_path=require_file(
        folder / f"{s}.wav", f"MUSDB18 stem {s}.wav")) for s in STEMS]
    return TrackRecord(layout="musdb18", track_id=folder.name, split=split, sources=sources,
                       mixture_path=mixture, piece=folder.name,
                       performer=folder.name.split(" - ")[0])


def read(root: Path, *, skip_bad: bool = False, sample_rate: int | None = 44100,
         channels: int | None = 2, min_seconds: float | None = None,
         check_video: bool = False) -> tuple[list[TrackRecord], list[Problem]]:
    root = require_root(root, "MUSDB18 (wav)")
    if not (root / "train").is_dir() and not (root / "test").is_dir():
        raise DataError(root, "no train/ or test/ folder: expected MUSDB18 wav "
                              "(ROOT/train/<track>/mixture.wav ...)")
    val = validation_tracks()
    builders = []
    for subset in ("train", "test"):
        folder = root / subset
        if not folder.is_dir():
            continue
        for track in sorted(p for p in folder.iterdir() if p.is_dir()):
            split = "test" if subset == "test" else ("val" if track.name in val else "train")
            builders.append(lambda t=track, s=split: _track(t, s))
    return finish(Collector(skip_bad), builders, sample_rate=sample_rate, channels=channels,
                  min_seconds=min_seconds, check_video=False)

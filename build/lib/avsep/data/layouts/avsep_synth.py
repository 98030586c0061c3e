"""The singing layout of the synthetic corpus (``avsep synth --out DIR`` writes it to
``DIR/singing``).

Tree (names from :mod:`avsep.data.synth.naming`)::

    ROOT/<split>/<track id>/            split: train | val | test
        track.json                      singer, extra singer, piece, sample rate, fps, ...
        mixture.wav                     vocals + accompaniment (mono, 16-bit)
        vocals.wav                      the on-screen singer           (role "vocals")
        accompaniment.wav               drums + bass + chords          (role "accompaniment")
        extra_vocals.wav                a voice nobody on screen sings (role "extra_vocals")
        video.mp4                       25 fps face video, H.264, with the mixture sound track
        video.boxes.json                per-frame mouth box of "vocals" (docs/contracts.md)
        vad.npy, envelope.npy           float32 (frames,) at 100 Hz: vocal activity, syllables

``ROOT`` may also be the corpus folder itself (the one holding ``corpus.json``).
Options: ``sample_rate``, ``channels``, ``min_seconds``, ``check_video`` (as for every reader).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avsep.data.layouts._common import Collector, finish, load_json, require_file, require_root
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord
from avsep.data.synth import naming

SPLITS = ("train", "val", "test")
ROLES = {"vocals": "vocals", "accompaniment": "accompaniment", "extra_vocals": "extra_vocals"}
REQUIRED_KEYS = ("track_id", "split", "piece", "singer", "sample_rate", "fps")


def _track(folder: Path, split: str) -> TrackRecord:
    meta = load_json(require_file(folder / naming.TRACK_JSON, "track metadata track.json"))
    meta_path = folder / naming.TRACK_JSON
    if not isinstance(meta, dict):
        raise DataError(meta_path, "expected a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise DataError(meta_path, f"missing keys {missing}")
    if meta["split"] != split:
        raise DataError(meta_path, f"split {meta['split']!r} does not match the folder "
                                   f"{split!r} it is in")
    video = require_file(folder / naming.VIDEO, "singer video video.mp4")
    boxes = require_file(folder / (video.stem + ".boxes.json"), "mouth boxes video.boxes.json")
    annotations = {name: require_file(folder / file, f"{name} annotation {file}")
                   for name, file in naming.ANNOTATION_FILES.items()}
    sources = []
    for name, file in naming.SOURCE_FILES.items():
        audio = require_file(folder / file, f"{name} stem {file}")
        on_screen = name == "vocals"
        sources.append(SourceRecord(
            name=name, role=ROLES[name], audio_path=audio,
            video_path=video if on_screen else None,
            annotations=dict(annotations) if on_screen else {},
        ))
    return TrackRecord(
        layout="avsep_synth",
        track_id=str(meta["track_id"]),
        split=split,
        sources=sources,
        mixture_path=require_file(folder / naming.MIXTURE, "mixture.wav"),
        video_path=video,
        performer=str(meta["singer"]),
        piece=str(meta["piece"]),
        annotations={**annotations, "boxes": boxes},
        extra={"fps": meta["fps"], "annotation_rate": meta.get("annotation_rate"),
               "extra_singer": meta.get("extra_singer"), "expected_sample_rate":
               meta["sample_rate"]},
    )


def read(root: Path, *, skip_bad: bool = False, sample_rate: int | None = None,
         channels: int | None = None, min_seconds: float | None = None, check_video: bool = True,
         **_: Any) -> tuple[list[TrackRecord], list[Problem]]:
    """All tracks under ``root``; see the module docstring for the tree."""
    root = require_root(root, "avsep_synth")
    if not any((root / s).is_dir() for s in SPLITS) and (root / "singing").is_dir():
        root = root / "singing"
    folders = [(split, f) for split in SPLITS if (root / split).is_dir()
               for f in sorted((root / split).iterdir()) if f.is_dir()]
    if not folders:
        raise DataError(root, "no tracks found: expected <split>/<track id>/track.json with "
                              "split in train/val/test (the 'singing' folder of avsep synth)")

    builders = [lambda f=f, s=s: _track(f, s) for s, f in folders]
    records, problems = finish(Collector(skip_bad), builders,
                               sample_rate=sample_rate, channels=channels,
                               min_seconds=min_seconds, check_video=check_video)
    # the files must have the rate track.json states
    kept = []
    for record in records:
        expected = int(record.extra.pop("expected_sample_rate"))
        if record.sample_rate != expected:
            error = DataError(record.mixture_path, f"wrong sample rate: {record.sample_rate} Hz, "
                                                   f"track.json declares {expected} Hz")
            if not skip_bad:
                raise error
            problems.append(Problem(error.path, error.problem))
            continue
        kept.append(record)
    return kept, problems

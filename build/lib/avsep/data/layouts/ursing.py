"""URSing (Li, Wang & Duan): audio-visual solo singing with separate accompaniment tracks.

Its on-disk layout is not published, so this reader is driven by a small description of the
tree: ``ROOT/avsep_layout.json`` (or ``.yaml``), a ``description=PATH`` option, or the same keys
passed as options (options win). Patterns are relative to ROOT; ``{track}`` is a track
folder's name::

    {
      "tracks": "*",                                   glob of track folders under ROOT
      "mixture": "{track}/mixture.wav",                optional
      "video": "{track}/video.mp4",                    optional, the singer video
      "sources": {
        "vocals": {"audio": "{track}/vocals.wav", "role": "vocals", "video": true},
        "accompaniment": {"audio": "{track}/accompaniment.wav", "role": "accompaniment"}
      },
      "annotations": {"vad": "{track}/vad.json"},      optional, per track
      "split": null,                                   split of every track (null: avsep.data.splits
                                                       assigns one; the paper tests on all)
      "splits_file": "splits.json"                     optional {"<track>": split}, wins
    }

The defaults are the values shown (an assumption, not URSing's published naming). A source's
``"video": true`` means the track video; a string is its own pattern. ``"instrument"`` may be
given for role "instrument". Mouth boxes come from the video's ``<stem>.boxes.json`` sidecar.

Options: the keys above, ``description``, ``sample_rate``, ``channels``, ``min_seconds``,
``check_video``.
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
    require_file,
    require_root,
)
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord

DEFAULT: dict[str, Any] = {
    "tracks": "*",
    "mixture": "{track}/mixture.wav",
    "video": "{track}/video.mp4",
    "sources": {
        "vocals": {"audio": "{track}/vocals.wav", "role": "vocals", "video": True},
        "accompaniment": {"audio": "{track}/accompaniment.wav", "role": "accompaniment"},
    },
    "annotations": {},
    "split": None,
    "splits_file": None,
}
ROLES = ("vocals", "accompaniment", "instrument", "extra_vocals", "drums", "bass", "other")


def load_description(root: Path, description: Path | str | None = None,
                     **overrides: Any) -> dict[str, Any]:
    """DEFAULT, updated from the description file, then from ``overrides``."""
    merged = dict(DEFAULT)
    candidates = [Path(description)] if description else [
        root / "avsep_layout.json", root / "avsep_layout.yaml", root / "avsep_layout.yml"]
    for path in candidates:
        if path.is_file():
            if path.suffix == ".json":
                data = load_json(path)
            else:
                import yaml

                try:
                    data = yaml.safe_load(path.read_text())
                except yaml.YAMLError as err:
                    raise DataError(path, f"unreadable YAML ({err})") from err
            if not isinstance(data, dict):
                raise DataError(path, "expected a mapping of layout keys")
            unknown = set(data) - set(DEFAULT)
            if unknown:
                raise DataError(path, f"unknown layout keys {sorted(unknown)}; "
                                      f"expected {list(DEFAULT)}")
            merged.update(data)
            break
        if description:
            raise DataError(path, "missing file (layout description)")
    unknown = set(overrides) - set(DEFAULT)
    if unknown:
        raise ValueError(f"unknown URSing option(s) {sorted(unknown)}; layout keys are "
                         f"{list(DEFAULT)}")
    merged.update(overrides)
    return merged


def _path(root: Path, pattern: str | None, track: str) -> Path | None:
    return None if not pattern else root / pattern.format(track=track)


def _track(folder: Path, root: Path, desc: dict[str, Any], split: str) -> TrackRecord:
    name = folder.name
    video = _path(root, desc.get("video"), name)
    if video is not None and not video.is_file():
        raise DataError(video, "missing file (track video)")
    sources = []
    for source_name, spec in desc["sources"].items():
        audio = require_file(_path(root, spec["audio"], name), f"source {source_name!r}")
        role = spec.get("role", source_name)
        if role not in ROLES:
            raise DataError(audio, f"unknown role {role!r} for source {source_name!r}; "
                                   f"expected one of {list(ROLES)}")
        instrument = spec.get("instrument")
        if instrument is not None:
            instrument = check_instrument(instrument, audio)
        own = spec.get("video")
        source_video = video if own is True else _path(root, own, name) if own else None
        if source_video is not None and not source_video.is_file():
            raise DataError(source_video, f"missing file (video of source {source_name!r})")
        sources.append(SourceRecord(name=source_name, role=role, audio_path=audio,
                                    instrument=instrument, video_path=source_video))
    mixture = _path(root, desc.get("mixture"), name)
    if mixture is not None:
        require_file(mixture, "track mixture")
    annotations = {key: path for key, pattern in (desc.get("annotations") or {}).items()
                   if (path := _path(root, pattern, name)) is not None and path.is_file()}
    return TrackRecord(layout="ursing", track_id=name, split=split, sources=sources,
                       mixture_path=mixture, video_path=video, annotations=annotations)


def read(root: Path, *, skip_bad: bool = False, description: Path | str | None = None,
         sample_rate: int | None = None, channels: int | None = None,
         min_seconds: float | None = None, check_video: bool = True,
         **options: Any) -> tuple[list[TrackRecord], list[Problem]]:
    root = require_root(root, "URSing")
    desc = load_description(root, description, **options)
    if not desc["sources"]:
        raise DataError(root, "the layout description names no sources")
    splits = load_splits(root / desc["splits_file"]) if desc.get("splits_file") else {}
    folders = sorted(p for p in root.glob(desc["tracks"]) if p.is_dir())
    if not folders:
        raise DataError(root, f"no track folders match {desc['tracks']!r}")
    default = desc["split"] or "unknown"
    builders = [lambda f=f: _track(f, root, desc, splits.get(f.name, default)) for f in folders]
    return finish(Collector(skip_bad), builders, sample_rate=sample_rate, channels=channels,
                  min_seconds=min_seconds, check_video=check_video)

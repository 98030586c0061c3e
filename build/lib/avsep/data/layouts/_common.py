"""Helpers every layout reader shares: problem collection, track probing, name checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from avsep.data.audio_io import check_audio
from avsep.data.records import URMP_INSTRUMENTS, DataError, Problem, TrackRecord

T = TypeVar("T")

# Two sources of one track may differ by this much in length (encoder padding) before the
# track is reported as inconsistent.
LENGTH_TOLERANCE_S = 0.1


class Collector:
    """Runs per-track work; a :class:`DataError` is raised, or with ``skip_bad`` recorded as a
    :class:`Problem` and the item skipped."""

    def __init__(self, skip_bad: bool):
        self.skip_bad = skip_bad
        self.problems: list[Problem] = []

    def attempt(self, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except DataError as err:
            if not self.skip_bad:
                raise
            self.problems.append(Problem(err.path, err.problem))
            return None


def require_root(root: Path | str, layout: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(root, f"not a directory: expected the root of a {layout} copy")
    return root


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(path, f"missing file ({what})")
    return path


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(path, f"unreadable JSON ({err})") from err


def load_splits(path: Path) -> dict[str, str]:
    """``{"<track id>": "train"|"val"|"test"}`` from ``path`` (empty when the file is absent)."""
    if not path.is_file():
        return {}
    data = load_json(path)
    if not isinstance(data, dict) or not all(
        v in ("train", "val", "test", "unknown") for v in data.values()
    ):
        raise DataError(path, 'expected {"<track>": "train"|"val"|"test", ...}')
    return {str(k): str(v) for k, v in data.items()}


def check_instrument(name: str, path: Path, aliases: dict[str, str] | None = None) -> str:
    """The URMP instrument name for ``name`` (an alias or the name itself), or DataError."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    key = (aliases or {}).get(key, key)
    if key not in URMP_INSTRUMENTS:
        known = sorted(set(URMP_INSTRUMENTS) | set(aliases or {}))
        raise DataError(path, f"unknown instrument name {name!r}; expected one of {known}")
    return key


def probe_track(
    track: TrackRecord,
    *,
    sample_rate: int | None = None,
    channels: int | None = None,
    min_seconds: float | None = None,
    check_video: bool = True,
) -> TrackRecord:
    """Check every audio file of ``track`` and fill its sample rate, channels and duration.

    All files must share one sample rate (``sample_rate`` when given) and one channel count
    (``channels`` when given, else the mixture's or the first source's), be at least
    ``min_seconds`` long and agree in length within ``LENGTH_TOLERANCE_S``. Videos are opened
    and their first and last frames decoded when ``check_video``.
    """
    paths: list[Path] = [s.audio_path for s in track.sources]
    if track.mixture_path is not None:
        paths.insert(0, track.mixture_path)
    infos = [check_audio(p, sample_rate=sample_rate, channels=channels, min_seconds=min_seconds)
             for p in paths]
    first = infos[0]
    for info in infos[1:]:
        if info.sample_rate != first.sample_rate:
            raise DataError(info.path, f"wrong sample rate: {info.sample_rate} Hz, but "
                                       f"{first.path.name} has {first.sample_rate} Hz")
        if info.channels != first.channels:
            raise DataError(info.path, f"mono/stereo mismatch: {info.channels} channel(s), but "
                                       f"{first.path.name} has {first.channels}")
    shortest = min(infos, key=lambda i: i.duration_s)
    longest = max(infos, key=lambda i: i.duration_s)
    if longest.duration_s - shortest.duration_s > LENGTH_TOLERANCE_S:
        raise DataError(shortest.path, f"audio shorter than the rest of the track: "
                                       f"{shortest.duration_s:.3f} s, {longest.path.name} has "
                                       f"{longest.duration_s:.3f} s")
    track.sample_rate = first.sample_rate
    track.channels = first.channels
    track.duration_s = shortest.duration_s
    if check_video:
        from avsep.data.video import video_info

        for video in unique(
            [track.video_path] + [s.video_path for s in track.sources]
        ):
            if video is not None and video.suffix.lower() != ".npy":
                video_info(video, validate=True)
    return track


def unique(items: Iterable[T | None]) -> list[T]:
    seen: list[T] = []
    for item in items:
        if item is not None and item not in seen:
            seen.append(item)
    return seen


def finish(collector: Collector, tracks: Iterable[Callable[[], TrackRecord]],
           **probe: Any) -> tuple[list[TrackRecord], list[Problem]]:
    """Build and probe each track through ``collector``; sorted by track id."""
    records = []
    for build in tracks:
        record = collector.attempt(lambda build=build: probe_track(build(), **probe))
        if record is not None:
            records.append(record)
    records.sort(key=lambda r: r.track_id)
    return records, collector.problems

"""Read the prepared cache written by ``avsep prepare`` (docs/contracts.md, "The prepared cache").

Layout::

    CACHE/index.json                      version, layout, sample_rate, fps, crop, video_channels,
                                          tracks [{id, split, dir, duration_s, sources, ...}]
    CACHE/tracks/<id>/audio/<src>.npy     int16 (C, L), scale 1/32768
    CACHE/tracks/<id>/audio/mixture.npy   int16 (C, L): the track's own mix, when the dataset
                                          ships one (URMP AuMix, MUSDB18, synthetic songs)
    CACHE/tracks/<id>/video/<src>.npy     uint8 (T, H, W, Cv)
    CACHE/tracks/<id>/annotations/<n>.npy float32 (frames,) at a rate given in index.json

:func:`load_cache` parses and validates the index and every array *header* (shape and dtype,
read without mapping the data), so a cache that breaks the contract fails at construction with
a :class:`~avsep.data.records.DataError` naming the file and the problem. The files' recorded
sizes and sha256 (``files`` of each track, :mod:`avsep.data.integrity`) are checked when a file
is first opened in a process. The arrays themselves
are opened lazily by :class:`ArrayStore` inside each loader worker (``numpy.load(mmap_mode="r")``)
and never in the parent before a fork.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avsep.data.integrity import FileRecord, check_tracks, rewrite_command, verify_once
from avsep.data.records import DataError

INDEX_NAME = "index.json"
SUPPORTED_VERSIONS = (1,)
DEFAULT_ANNOTATION_RATE = 100.0


@dataclass(frozen=True)
class Annotation:
    """A frame-level annotation file (e.g. ``vad``): float32 (frames,) at ``rate`` Hz."""

    path: Path
    rate: float
    frames: int


@dataclass(frozen=True)
class SourceEntry:
    """One source of a cached track: audio int16 (C, L), optional video uint8 (T, H, W, Cv)."""

    name: str
    role: str
    instrument: str | None
    audio: Path
    channels: int
    samples: int
    video: Path | None = None
    frames: int = 0
    annotations: dict[str, Annotation] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackEntry:
    """One cached track with its sources (paths are absolute)."""

    id: str
    split: str
    dir: Path
    duration_s: float
    sources: tuple[SourceEntry, ...]
    performer: str | None = None
    piece: str | None = None
    annotations: dict[str, Annotation] = field(default_factory=dict)
    mixture: Path | None = None  # the track's own mix file, int16 (C, L), when it has one

    def by_role(self, *roles: str) -> list[SourceEntry]:
        """The sources whose role is one of ``roles``."""
        return [s for s in self.sources if s.role in roles]


@dataclass(frozen=True)
class CacheIndex:
    """The parsed, validated ``index.json`` of a cache."""

    root: Path
    layout: str
    sample_rate: int
    fps: float | None
    crop: tuple[int, int] | None
    video_channels: int
    tracks: tuple[TrackEntry, ...]
    #: recorded size and sha256 of each file (absolute path); empty for an index written before
    #: they were recorded (:mod:`avsep.data.integrity`)
    checks: dict[Path, FileRecord] = field(default_factory=dict)
    fix: str = ""  # the ``avsep prepare`` command that rewrites this cache

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_NAME

    def split(self, name: str) -> list[TrackEntry]:
        """Tracks of split ``name``, sorted by id (independent of the index order)."""
        return sorted((t for t in self.tracks if t.split == name), key=lambda t: t.id)

    def splits(self) -> list[str]:
        return sorted({t.split for t in self.tracks})


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file, read from its header only."""
    if not path.is_file():
        raise DataError(path, "missing file (listed in index.json)")
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError) as err:
        raise DataError(path, f"not a readable .npy array ({err})") from err
    return tuple(shape), np.dtype(dtype)


def _require(entry: dict[str, Any], key: str, where: Path, what: str) -> Any:
    if key not in entry:
        raise DataError(where, f"{what} has no {key!r} field (see docs/contracts.md)")
    return entry[key]


def _parse_annotations(raw: Any, root: Path, where: Path, what: str) -> dict[str, Annotation]:
    """Annotations as ``{name: {"path": rel, "rate": Hz}}`` or ``{name: rel}`` (rate 100 Hz)."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise DataError(where, f"{what}: 'annotations' must be an object name -> file")
    out: dict[str, Annotation] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            rel, rate = value, DEFAULT_ANNOTATION_RATE
        elif isinstance(value, dict):
            rel = value.get("path") or value.get("file")
            rate = float(value.get("rate", DEFAULT_ANNOTATION_RATE))
            if not rel:
                raise DataError(where, f"{what}: annotation {name!r} has no 'path'")
        else:
            raise DataError(where, f"{what}: annotation {name!r} must be a path or an object")
        path = root / rel
        shape, dtype = _npy_header(path)
        if len(shape) != 1 or dtype.kind != "f":
            raise DataError(path, f"annotation must be float (frames,), found {dtype} {shape}")
        out[name] = Annotation(path=path, rate=rate, frames=shape[0])
    return out


def _parse_source(
    raw: dict[str, Any], root: Path, where: Path, track_id: str, meta: dict[str, Any]
) -> SourceEntry:
    what = f"track {track_id!r} source {raw.get('name')!r}"
    name = _require(raw, "name", where, f"track {track_id!r} source")
    role = _require(raw, "role", where, what)
    audio = root / _require(raw, "audio", where, what)
    shape, dtype = _npy_header(audio)
    if len(shape) != 2 or dtype != np.int16:
        raise DataError(audio, f"audio must be int16 (C, L), found {dtype} {shape}")
    video_rel = raw.get("video")
    video, frames = None, 0
    if video_rel:
        video = root / video_rel
        vshape, vdtype = _npy_header(video)
        cv = meta["video_channels"]
        crop = meta["crop"]
        if len(vshape) != 4 or vdtype != np.uint8:
            raise DataError(video, f"video must be uint8 (T, H, W, Cv), found {vdtype} {vshape}")
        if crop is not None and tuple(vshape[1:3]) != crop:
            raise DataError(video, f"frames are {vshape[1:3]}, index.json says crop {list(crop)}")
        if vshape[3] != cv:
            raise DataError(video, f"frames have {vshape[3]} channels, index.json says {cv}")
        frames = vshape[0]
    return SourceEntry(
        name=str(name),
        role=str(role),
        instrument=raw.get("instrument"),
        audio=audio,
        channels=shape[0],
        samples=shape[1],
        video=video,
        frames=frames,
        annotations=_parse_annotations(raw.get("annotations"), root, where, what),
    )


def load_cache(cache_dir: str | Path) -> CacheIndex:
    """Parse ``CACHE/index.json`` and check every listed array header against the contract.

    Raises:
        DataError: missing ``index.json``, invalid JSON, a missing field, a listed file that is
            missing, or an array whose dtype/shape is not the contract's;
            :class:`~avsep.data.integrity.CacheIntegrityError` when a file's size is not the one
            the index records.
    """
    root = Path(cache_dir).resolve()
    where = root / INDEX_NAME
    if not where.is_file():
        raise DataError(where, "missing index.json: not a prepared cache (run `avsep prepare`)")
    try:
        raw = json.loads(where.read_text())
    except json.JSONDecodeError as err:
        raise DataError(where, f"invalid JSON ({err})") from err
    if not isinstance(raw, dict):
        raise DataError(where, "expected a JSON object at the top level")
    version = _require(raw, "version", where, "index")
    if version not in SUPPORTED_VERSIONS:
        raise DataError(
            where, f"cache version {version!r}; this reader supports {SUPPORTED_VERSIONS}"
        )
    crop = raw.get("crop")
    meta = {
        "crop": tuple(int(v) for v in crop) if crop else None,
        "video_channels": int(raw.get("video_channels", 3)),
    }
    fps = raw.get("fps")
    tracks = []
    fix = rewrite_command(raw, root)
    # sizes first: a truncated file is named with its fix before its header is parsed
    checks = check_tracks(_require(raw, "tracks", where, "index"), root, fix)
    for t in raw["tracks"]:
        track_id = str(_require(t, "id", where, "a track"))
        sources = tuple(
            _parse_source(s, root, where, track_id, meta)
            for s in _require(t, "sources", where, f"track {track_id!r}")
        )
        mixture = t.get("mixture")
        if mixture:
            shape, dtype = _npy_header(root / mixture)
            if len(shape) != 2 or dtype != np.int16:
                raise DataError(root / mixture, f"mixture must be int16 (C, L), found {dtype} "
                                                f"{shape}")
        tracks.append(
            TrackEntry(
                id=track_id,
                split=str(t.get("split", "unknown")),
                dir=root / t.get("dir", f"tracks/{track_id}"),
                duration_s=float(t.get("duration_s", 0.0)),
                sources=sources,
                performer=t.get("performer"),
                piece=t.get("piece"),
                annotations=_parse_annotations(
                    t.get("annotations"), root, where, f"track {track_id!r}"
                ),
                mixture=root / mixture if mixture else None,
            )
        )
    return CacheIndex(
        root=root,
        layout=str(raw.get("layout", "unknown")),
        sample_rate=int(_require(raw, "sample_rate", where, "index")),
        fps=float(fps) if fps else None,
        crop=meta["crop"],
        video_channels=meta["video_channels"],
        tracks=tuple(tracks),
        checks=checks,
        fix=fix,
    )


class ArrayStore:
    """Lazily opened, per-process memory maps of cache arrays.

    Nothing is opened at construction; :meth:`get` maps a file on first use in the calling
    process. The maps are dropped when the object is pickled (DataLoader workers with the
    ``spawn`` start method) and when the process id changes (``fork``), so each worker opens its
    own maps and pages are shared through the OS page cache.

    Given the cache's ``index``, the first use of a file in a process also checks it against
    the size and sha256 the index records (:func:`avsep.data.integrity.verify_once`: once per
    process and file, not per epoch), raising a
    :class:`~avsep.data.integrity.CacheIntegrityError` that names the file and the
    ``avsep prepare`` command that rewrites it.
    """

    def __init__(self, index: CacheIndex | None = None) -> None:
        self._pid = -1
        self._arrays: dict[Path, np.ndarray] = {}
        self._checks = index.checks if index is not None else {}
        self._fix = index.fix if index is not None else ""

    def get(self, path: Path) -> np.ndarray:
        if self._pid != os.getpid():
            self._arrays = {}
            self._pid = os.getpid()
        array = self._arrays.get(path)
        if array is None:
            verify_once(path, self._checks.get(path), self._fix)
            array = np.load(path, mmap_mode="r")
            self._arrays[path] = array
        return array

    def __len__(self) -> int:
        return len(self._arrays) if self._pid == os.getpid() else 0

    def __getstate__(self) -> dict[str, Any]:
        return {"_pid": -1, "_arrays": {}, "_checks": self._checks, "_fix": self._fix}

    def audio(self, source: SourceEntry, start: int, length: int) -> np.ndarray:
        """float32 (C, length) samples of ``source`` from ``start`` (scale 1/32768)."""
        if start < 0 or start + length > source.samples:
            raise DataError(
                source.audio,
                f"window [{start}, {start + length}) outside the {source.samples} samples",
            )
        window = self.get(source.audio)[:, start : start + length]
        return np.multiply(window, np.float32(1.0 / 32768.0), dtype=np.float32)

    def mixture(self, track: TrackEntry, start: int, length: int) -> np.ndarray:
        """float32 (C, length) samples of ``track``'s own mix file from ``start``."""
        if track.mixture is None:
            raise DataError(track.dir, f"track {track.id!r} has no mixture in the cache")
        samples = self.get(track.mixture).shape[1]
        if start < 0 or start + length > samples:
            raise DataError(track.mixture,
                            f"window [{start}, {start + length}) outside the {samples} samples")
        window = self.get(track.mixture)[:, start : start + length]
        return np.multiply(window, np.float32(1.0 / 32768.0), dtype=np.float32)

    def frames(self, source: SourceEntry, index: np.ndarray) -> np.ndarray:
        """uint8 (T, H, W, Cv) frames of ``source`` at the integer ``index`` (T,)."""
        if source.video is None:
            raise DataError(source.audio, f"source {source.name!r} has no video in the cache")
        video = self.get(source.video)
        if len(index) and np.all(np.diff(index) == 1):
            return np.asarray(video[index[0] : index[-1] + 1])
        return video[index]

"""``avsep prepare``: decode, crop, resample and cache a dataset (layout in docs/contracts.md).

For each track a reader returns, every source's audio is resampled to the cache's rate and
stored int16 ``(C, L)``; every source with a picture gets its video decoded with decord at the
cache's fps, cropped around the source (mouth or player) and stored uint8 ``(T, H, W, Cv)``;
known annotations are converted to float32 sequences at 100 Hz.

Where the crop box comes from, first match wins (recorded per source as ``crop_from``):

1. ``boxes``     — the ``<video stem>.boxes.json`` sidecar (synthetic corpus, or a user's own),
                   keyed by source name (or instrument name);
2. ``landmarks`` — the dataset's 68-point face landmarks (Acappella): a square around the mouth
                   points with side 1.2x their horizontal extent, URSing's recipe (paper 1);
3. ``detector``  — singers only (role vocals/extra_vocals): OpenCV's bundled Haar frontal-face
                   cascade (``opencv-python-headless`` 4.x; nothing is downloaded) on every 5th
                   frame, mouth box placed in the face box, interpolated in time;
4. ``strips``    — a video shared by N sources with none of the above (a real URMP ensemble):
                   N equal vertical strips, left to right in part order (URMP seats players
                   in score order; an assumption, not checked);
5. ``centre``    — the largest centred box of the crop's aspect ratio (one player, or no face
                   found, or OpenCV missing).

Writes are atomic: a track is written into ``tracks/.<dir>.partial`` and renamed into place
when complete, ``index.json`` is written to a temporary file and renamed. Re-running skips
tracks whose ``track.json`` records the same settings. Source files are only read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avsep.data.audio_io import read_audio, to_int16
from avsep.data.layouts import read_layout
from avsep.data.layouts._annotations import RATE as ANNOTATION_RATE
from avsep.data.layouts._annotations import read_annotation
from avsep.data.layouts._common import load_json
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord

INDEX_VERSION = 1
MOUTH_POINTS = slice(48, 68)  # dlib's 68-point layout: outer and inner lip contour
MOUTH_SCALE = 1.2
SINGER_ROLES = ("vocals", "extra_vocals")


@dataclass(frozen=True)
class PrepareSettings:
    """What the cache holds: audio rate, and video fps/crop/channels (``fps`` None: no video)."""

    sample_rate: int
    fps: float | None = None
    crop: tuple[int, int] | None = None  # (H, W)
    video_channels: int = 3

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.fps is not None and (self.fps <= 0 or self.crop is None):
            raise ValueError(f"video needs a positive fps and a crop (H, W); got fps={self.fps}, "
                             f"crop={self.crop}")
        if self.video_channels not in (1, 3):
            raise ValueError(f"video_channels must be 1 or 3, got {self.video_channels}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop"] = list(self.crop) if self.crop else None
        return data


@dataclass
class PrepareResult:
    index_path: Path
    written: int
    reused: int
    problems: list[Problem]


def settings_from_model(name: str) -> tuple[PrepareSettings, float]:
    """Settings and clip length (s) of model ``name`` at its paper preset."""
    from avsep.models import build

    spec = build({"name": name, "preset": "paper"}).spec
    crop = tuple(spec.crop) if spec.crop else None
    fps = spec.fps if crop else None
    return (PrepareSettings(int(spec.stft.sample_rate), fps, crop, int(spec.video_channels)),
            float(spec.clip_seconds))


def safe_dir_name(track_id: str) -> str:
    """A portable folder name for a track id (spaces, '&', ':' ... become '_')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", track_id).strip("._") or "track"
    return name


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- audio


def _source_audio(record: TrackRecord, source: SourceRecord, rate: int) -> np.ndarray:
    audio, _ = read_audio(source.audio_path, sample_rate=rate)
    channel = record.extra.get("channel_map", {}).get(source.name)
    return audio[channel:channel + 1] if channel is not None else audio


def _write_audio(record: TrackRecord, rate: int, folder: Path) -> tuple[dict[str, str], int]:
    """Write ``audio/<name>.npy`` for each source (and the mixture); all cut to one length."""
    arrays = {s.name: _source_audio(record, s, rate) for s in record.sources}
    if record.mixture_path is not None:
        arrays["mixture"] = read_audio(record.mixture_path, sample_rate=rate)[0]
    length = min(a.shape[1] for a in arrays.values())
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, audio in arrays.items():
        np.save(folder / "audio" / f"{name}.npy", to_int16(audio[:, :length]))
        paths[name] = f"audio/{name}.npy"
    return paths, length


# ---------------------------------------------------------------------------- video


def _sidecar_boxes(video: Path, source: SourceRecord, frame_times: np.ndarray,
                   default_fps: float) -> np.ndarray | None:
    """Boxes ``(T, 4)`` for ``source`` from ``<video stem>.boxes.json`` at ``frame_times``."""
    sidecar = video.with_name(video.stem + ".boxes.json")
    if not sidecar.is_file():
        return None
    data = load_json(sidecar)
    boxes_by_name = data.get("boxes", {}) if isinstance(data, dict) else {}
    key = next((k for k in (source.name, source.instrument) if k in boxes_by_name), None)
    if key is None:
        raise DataError(sidecar, f"no boxes for source {source.name!r}; the sidecar has "
                                 f"{sorted(boxes_by_name)}")
    boxes = np.asarray(boxes_by_name[key], dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) == 0:
        raise DataError(sidecar, f"boxes of {key!r} must be [[x0, y0, x1, y1], ...], found "
                                 f"shape {boxes.shape}")
    fps = float(data.get("fps", default_fps))
    idx = np.clip(np.floor(frame_times * fps + 0.5).astype(np.int64), 0, len(boxes) - 1)
    return boxes[idx]


def _landmark_boxes(path: Path, source_idx: np.ndarray) -> np.ndarray:
    """Square mouth boxes ``(T, 4)`` from 68-point landmarks ``(N, 68, 2)`` (x, y)."""
    try:
        points = np.load(path, mmap_mode="r")
    except Exception as err:  # noqa: BLE001
        raise DataError(path, f"unreadable landmarks ({err})") from err
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise DataError(path, f"expected landmarks (T, 68, 2), found {points.shape}")
    mouth = np.asarray(points[np.clip(source_idx, 0, len(points) - 1), MOUTH_POINTS], np.float64)
    lo, hi = mouth.min(axis=1), mouth.max(axis=1)
    centre, side = (lo + hi) / 2, MOUTH_SCALE * (hi[:, 0] - lo[:, 0])
    side = np.maximum(side, 2.0)[:, None]
    return np.concatenate([centre - side / 2, centre + side / 2], axis=1)


def _write_videos(record: TrackRecord, settings: PrepareSettings, duration_s: float,
                  folder: Path) -> dict[str, tuple[str, str]]:
    """Write ``video/<name>.npy`` for each source with a picture; ``{name: (path, crop_from)}``.

    Sources sharing one video (an ensemble recording) are cropped from one decode pass.
    """
    from avsep.data.video import (
        centre_boxes,
        crop_frames,
        detect_mouth_boxes,
        fit_boxes,
        frame_indices,
        iter_frames,
        open_video,
        strip_boxes,
    )

    assert settings.fps is not None and settings.crop is not None
    by_video: dict[Path, list[SourceRecord]] = {}
    for source in record.sources:
        if source.video_path is not None:
            by_video.setdefault(source.video_path, []).append(source)
    out: dict[str, tuple[str, str]] = {}
    (folder / "video").mkdir(parents=True, exist_ok=True)
    for video_path, sources in by_video.items():
        video = open_video(video_path, array_fps=float(record.extra.get("video_fps", 25.0)))
        frames_needed = int(np.floor(min(duration_s, video.frames / video.fps) * settings.fps
                                     + 1e-6))
        idx = frame_indices(video.fps, video.frames, settings.fps, frames_needed)
        times = np.arange(frames_needed) / settings.fps
        frame_wh = (video.width, video.height)
        plans = []
        for source in sources:
            boxes = _sidecar_boxes(video_path, source, times, video.fps)
            how = "boxes"
            if boxes is None and "landmarks" in source.annotations:
                boxes, how = _landmark_boxes(source.annotations["landmarks"], idx), "landmarks"
            if boxes is None and source.role in SINGER_ROLES:
                boxes, how = detect_mouth_boxes(video, idx), "detector"
            if boxes is None and len(sources) > 1:
                part = sources.index(source)
                boxes = strip_boxes(frames_needed, part, len(sources), settings.crop, frame_wh)
                how = "strips"
            if boxes is None:
                boxes, how = centre_boxes(frames_needed, settings.crop, frame_wh), "centre"
            boxes = fit_boxes(boxes, settings.crop, frame_wh)
            target = np.lib.format.open_memmap(
                folder / "video" / f"{source.name}.npy", mode="w+", dtype=np.uint8,
                shape=(frames_needed, *settings.crop, settings.video_channels))
            plans.append((source, boxes, target))
            out[source.name] = (f"video/{source.name}.npy", how)
        for part, frames in iter_frames(video, idx):
            for _, boxes, target in plans:
                target[part] = crop_frames(frames, boxes[part], settings.crop,
                                           gray=settings.video_channels == 1)
        for _, _, target in plans:
            target.flush()
    return out


# ---------------------------------------------------------------------------- annotations


def _write_annotations(items: dict[str, Path], duration_s: float, folder: Path,
                       prefix: str = "") -> dict[str, dict[str, Any]]:
    out = {}
    for name, path in items.items():
        values = read_annotation(name, path, duration_s)
        if values is None:
            continue
        (folder / "annotations").mkdir(parents=True, exist_ok=True)
        rel = f"annotations/{prefix}{name}.npy"
        np.save(folder / rel, values)
        out[name] = {"path": rel, "rate": ANNOTATION_RATE}
    return out


# ---------------------------------------------------------------------------- tracks


def _under(rel: str, annotations: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Annotation entries with paths relative to the cache root instead of the track."""
    return {k: {**v, "path": f"{rel}/{v['path']}"} for k, v in annotations.items()}


def prepare_track(record: TrackRecord, out: Path, dir_name: str,
                  settings: PrepareSettings) -> tuple[dict[str, Any], bool]:
    """Write one track under ``out/tracks/<dir_name>``; returns ``(index entry, reused)``."""
    final = out / "tracks" / dir_name
    marker = final / "track.json"
    if marker.is_file():
        done = load_json(marker)
        if done.get("settings") == settings.to_json():
            return done["entry"], True
    tmp = out / "tracks" / f".{dir_name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        audio, length = _write_audio(record, settings.sample_rate, tmp)
        duration = length / settings.sample_rate
        videos = (_write_videos(record, settings, duration, tmp)
                  if settings.fps is not None else {})
        rel = f"tracks/{dir_name}"
        sources = []
        for source in record.sources:
            video = videos.get(source.name)
            notes = _write_annotations(source.annotations, duration, tmp, f"{source.name}.")
            sources.append({
                "name": source.name, "role": source.role, "instrument": source.instrument,
                "audio": f"{rel}/{audio[source.name]}",
                "video": f"{rel}/{video[0]}" if video else None,
                "crop_from": video[1] if video else None,
                "annotations": _under(rel, notes),
            })
        track_notes = _write_annotations(record.annotations, duration, tmp)
        entry = {
            "id": record.track_id, "split": record.split, "dir": rel,
            "duration_s": duration, "channels": int(np.load(
                tmp / audio[record.sources[0].name], mmap_mode="r").shape[0]),
            "sources": sources, "performer": record.performer, "piece": record.piece,
            "mixture": f"{rel}/{audio['mixture']}" if "mixture" in audio else None,
            "annotations": _under(rel, track_notes),
        }
        (tmp / "track.json").write_text(json.dumps({"settings": settings.to_json(),
                                                    "entry": entry}, indent=1))
        if final.exists():
            if not marker.is_file():
                raise DataError(final, "exists but was not written by avsep prepare (no "
                                       "track.json): refusing to replace it")
            shutil.rmtree(final)  # our own track, prepared with other settings
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return entry, False


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _dir_names(records: list[TrackRecord]) -> list[str]:
    names, seen = [], set()
    for record in records:
        name = base = safe_dir_name(record.track_id)
        n = 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        names.append(name)
    return names


def prepare(
    layout: str,
    root: Path | str,
    out: Path | str,
    settings: PrepareSettings,
    *,
    skip_bad: bool = False,
    workers: int = 1,
    reader_options: dict[str, Any] | None = None,
    progress: Callable[[int], Any] | None = None,
) -> PrepareResult:
    """Read ``root`` with layout ``layout`` and write the cache at ``out``.

    ``progress(n)`` is called once per finished track (e.g. a tqdm ``update``). A bad track
    raises :class:`DataError`, or with ``skip_bad`` is reported in the result and the index's
    ``problems`` and left out.
    """
    out = Path(out)
    if out.resolve() == Path(root).resolve() or Path(root).resolve() in out.resolve().parents:
        raise DataError(out, f"the cache must not be the dataset root or inside it ({root}): "
                             "choose an --out outside the dataset")
    records, problems = read_layout(layout, root, skip_bad=skip_bad, **(reader_options or {}))
    out.mkdir(parents=True, exist_ok=True)
    (out / "tracks").mkdir(exist_ok=True)
    index_path = out / "index.json"
    if index_path.is_file():
        old = load_json(index_path)
        old_settings = {k: old.get(k) for k in settings.to_json()}
        if old.get("layout") != layout or old_settings != settings.to_json():
            raise DataError(index_path, f"this cache holds layout {old.get('layout')!r} with "
                                        f"{old_settings}; asked for {layout!r} with "
                                        f"{settings.to_json()}: choose another --out")
    names = _dir_names(records)
    entries: dict[int, dict[str, Any]] = {}
    reused = 0

    def handle(i: int, fn: Callable[[], tuple[dict[str, Any], bool]]) -> None:
        nonlocal reused
        try:
            entry, was_reused = fn()
        except DataError as err:
            if not skip_bad:
                raise
            problems.append(Problem(err.path, err.problem))
        else:
            entries[i] = entry
            reused += int(was_reused)
        if progress is not None:
            progress(1)

    if workers <= 1:
        for i, record in enumerate(records):
            handle(i, lambda r=record, i=i: prepare_track(r, out, names[i], settings))
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(prepare_track, r, out, names[i], settings): i
                       for i, r in enumerate(records)}
            for future in as_completed(futures):
                handle(futures[future], future.result)
    index = {"version": INDEX_VERSION, "layout": layout, **settings.to_json(),
             "tracks": [entries[i] for i in sorted(entries)],
             "problems": [{"path": str(p.path), "message": p.message} for p in problems]}
    _atomic_json(index_path, index)
    return PrepareResult(index_path, len(entries) - reused, reused, problems)

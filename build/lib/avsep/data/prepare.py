"""``avsep prepare``: decode, crop, resample and cache a dataset (layout in docs/contracts.md).

For each track a reader returns, every source's audio is resampled to the cache's rate and
stored int16 ``(C, L)``; every source with a picture gets its video decoded with decord at the
cache's fps, cropped around the source (mouth or player) and stored uint8 ``(T, H, W, Cv)``;
known annotations are converted to float32 sequences at 100 Hz.

The crop chain (boxes sidecar, landmarks, face detector, strips, centre; recorded per source as
``crop_from``) and the audio front-end (resampling, channels) are
:mod:`avsep.data.preprocess`'s, the functions serving applies to a user's file.

Splits: :mod:`avsep.data.splits` assigns every track a train/val/test split (the dataset's
official one, a seeded performer- and piece-disjoint hash, or a user's ``--splits`` file) and
the index records it: ``layout``, ``root``, ``split_policy`` and each track's ``split``.

Several caches at once (:func:`prepare_many`, ``avsep prepare --space``): the dataset is read
and split once, each track's audio is read once per sample rate, and each video is decoded once
for all caches (the union of the frames every cache's fps needs), each cache cropping its own.

Writes are atomic: a track is written into ``tracks/.<dir>.partial`` and renamed into place
when complete, ``index.json`` is written to a temporary file and renamed. Each track entry
records every file written with its size and sha256 (``files``, :mod:`avsep.data.integrity`),
which ``train``/``tune``/``eval``/``reproduce`` check. Re-running skips tracks whose
``track.json`` records the same settings and whose files still match their record; a track
whose files differ (or that records none: written before they were recorded) is rewritten.
Source files are only read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avsep.data.audio_io import read_audio, to_int16
from avsep.data.integrity import mismatched, record_files
from avsep.data.layouts import read_layout
from avsep.data.layouts._annotations import RATE as ANNOTATION_RATE
from avsep.data.layouts._annotations import read_annotation
from avsep.data.layouts._common import load_json
from avsep.data.preprocess import (
    CropJob,
    Preprocessing,
    Subject,
    audio_front_end,
    crop_plan,
    detector,
    fill_crops,
    frame_count,
    read_sidecar,
    sidecar_path,
)
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord

INDEX_VERSION = 1


@dataclass(frozen=True)
class PrepareSettings:
    """What the cache holds: audio rate, and video fps/crop/channels (``fps`` None: no video);
    ``channels`` the audio channels (None: as the files have them; 1: the mean of a stereo
    file; 2: a mono file twice)."""

    sample_rate: int
    fps: float | None = None
    crop: tuple[int, int] | None = None  # (H, W)
    video_channels: int = 3
    channels: int | None = None

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.fps is not None and (self.fps <= 0 or self.crop is None):
            raise ValueError(f"video needs a positive fps and a crop (H, W); got fps={self.fps}, "
                             f"crop={self.crop}")
        if self.video_channels not in (1, 3):
            raise ValueError(f"video_channels must be 1 or 3, got {self.video_channels}")
        if self.channels is not None and self.channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2 (or None: as the files), got "
                             f"{self.channels}")

    def preprocessing(self) -> Preprocessing:
        """These settings as the crop chain and audio front-end take them."""
        return Preprocessing(sample_rate=self.sample_rate, channels=self.channels, fps=self.fps,
                             crop=self.crop, video_channels=self.video_channels)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop"] = list(self.crop) if self.crop else None
        if self.channels is None:  # caches written before the option existed compare equal
            del data["channels"]
        return data


@dataclass
class PrepareResult:
    index_path: Path
    written: int
    reused: int
    problems: list[Problem]


def settings_from_model(name: str, preset: str = "paper") -> tuple[PrepareSettings, float]:
    """Settings and clip length (s) of model ``name`` at ``preset`` ("paper" or "tiny")."""
    from avsep.data.needs import needs_of_model

    need = needs_of_model(name, preset)[0]
    return need.settings, need.clip_seconds


def safe_dir_name(track_id: str) -> str:
    """A portable folder name for a track id (spaces, '&', ':' ... become '_')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", track_id).strip("._") or "track"
    return name


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- audio


def _source_audio(record: TrackRecord, source: SourceRecord) -> tuple[np.ndarray, int]:
    audio, rate = read_audio(source.audio_path)
    channel = record.extra.get("channel_map", {}).get(source.name)
    return (audio[channel:channel + 1] if channel is not None else audio), rate


def _read_audio(record: TrackRecord, rate: int,
                channels: int | None = None) -> dict[str, np.ndarray]:
    """float32 ``(channels, L)`` of each source (and ``"mixture"``) at ``rate``, through the
    audio front-end that serving uses (:func:`avsep.data.preprocess.audio_front_end`)."""
    arrays = {s.name: _source_audio(record, s) for s in record.sources}
    if record.mixture_path is not None:
        arrays["mixture"] = read_audio(record.mixture_path)
    return {name: audio_front_end(audio, file_rate, rate, channels)
            for name, (audio, file_rate) in arrays.items()}


def _write_audio(arrays: dict[str, np.ndarray], folder: Path) -> tuple[dict[str, str], int]:
    """Write ``audio/<name>.npy`` for each array, all cut to the shortest; (paths, length)."""
    length = min(a.shape[1] for a in arrays.values())
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, audio in arrays.items():
        np.save(folder / "audio" / f"{name}.npy", to_int16(audio[:, :length]))
        paths[name] = f"audio/{name}.npy"
    return paths, length


# ---------------------------------------------------------------------------- video


@dataclass
class _VideoJob:
    """One cache's video of one track: its settings, duration and output folder."""

    settings: PrepareSettings
    duration_s: float
    folder: Path


def _subject(source: SourceRecord, sources: list[SourceRecord]) -> Subject:
    """Who ``source``'s crop is around, among the ``sources`` sharing its video."""
    return Subject(name=source.name, role=source.role, instrument=source.instrument,
                   landmarks=source.annotations.get("landmarks"),
                   part=sources.index(source), parts=len(sources))


def _write_videos(record: TrackRecord, jobs: list[_VideoJob]) -> list[dict[str, tuple[str, str]]]:
    """Write ``video/<name>.npy`` of each source with a picture into each job's folder; per job
    ``{name: (path, crop_from)}``.

    Each video file is decoded once for all its sources and all jobs: the frames of every job's
    fps are read in one pass over their union, and each job crops its own frames (and crop size)
    from them (:func:`avsep.data.preprocess.fill_crops`, the path serving takes). The face
    detector, when needed, also runs once on that union.
    """
    from avsep.data.video import frame_indices, open_video

    by_video: dict[Path, list[SourceRecord]] = {}
    for source in record.sources:
        if source.video_path is not None:
            by_video.setdefault(source.video_path, []).append(source)
    outs: list[dict[str, tuple[str, str]]] = [{} for _ in jobs]
    for job in jobs:
        (job.folder / "video").mkdir(parents=True, exist_ok=True)
    for video_path, sources in by_video.items():
        video = open_video(video_path, array_fps=float(record.extra.get("video_fps", 25.0)))
        sidecar = read_sidecar(sidecar_path(video_path))
        indices = []
        for job in jobs:
            assert job.settings.fps is not None
            count = frame_count(video, job.settings.fps, job.duration_s)
            indices.append(frame_indices(video.fps, video.frames, job.settings.fps, count))
        union = np.unique(np.concatenate(indices)) if indices else np.zeros(0, np.int64)
        detected = detector(video, union)
        crops = []
        for j, (job, idx) in enumerate(zip(jobs, indices, strict=True)):
            positions = np.searchsorted(union, idx)
            settings = job.settings.preprocessing()
            for source in sources:
                boxes, how = crop_plan(video, sidecar, _subject(source, sources), settings, idx,
                                       lambda p=positions, d=detected: d(p))
                target = np.lib.format.open_memmap(
                    job.folder / "video" / f"{source.name}.npy", mode="w+", dtype=np.uint8,
                    shape=(len(idx), *settings.crop, settings.video_channels))
                crops.append(CropJob(positions, boxes, target, settings))
                outs[j][source.name] = (f"video/{source.name}.npy", how)
        fill_crops(video, union, crops)
        for crop in crops:
            crop.target.flush()
    return outs


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


def _reused(record: TrackRecord, out: Path, dir_name: str,
            settings: PrepareSettings) -> dict[str, Any] | None:
    """The index entry of a track already written with ``settings`` (its split refreshed)."""
    marker = out / "tracks" / dir_name / "track.json"
    if marker.is_file():
        done = load_json(marker)
        files = done.get("entry", {}).get("files")
        # a track is reused only when its files are still the bytes written (a track written
        # before sizes and checksums were recorded is rewritten, to record them)
        if done.get("settings") == settings.to_json() and files and not mismatched(out, files):
            return {**done["entry"], "split": record.split}
    return None


def _entry(record: TrackRecord, rel: str, tmp: Path, audio: dict[str, str], duration: float,
           videos: dict[str, tuple[str, str]]) -> dict[str, Any]:
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
    return {
        "id": record.track_id, "split": record.split, "dir": rel,
        "duration_s": duration, "channels": int(np.load(
            tmp / audio[record.sources[0].name], mmap_mode="r").shape[0]),
        "sources": sources, "performer": record.performer, "piece": record.piece,
        "mixture": f"{rel}/{audio['mixture']}" if "mixture" in audio else None,
        "annotations": _under(rel, track_notes),
    }


def _commit(tmp: Path, final: Path) -> None:
    """Move a finished ``tmp`` track folder to ``final`` (replacing our own older one)."""
    if final.exists():
        if not (final / "track.json").is_file():
            raise DataError(final, "exists but was not written by avsep prepare (no "
                                   "track.json): refusing to replace it; delete it or choose "
                                   "another --out")
        shutil.rmtree(final)  # our own track, prepared with other settings
    os.rename(tmp, final)


def prepare_tracks(record: TrackRecord, targets: list[tuple[Path, PrepareSettings]],
                   dir_name: str) -> list[tuple[dict[str, Any], bool]]:
    """Write one track under ``out/tracks/<dir_name>`` of every ``(out, settings)`` target,
    decoding each of its videos once; per target ``(index entry, reused)``."""
    results: list[tuple[dict[str, Any], bool] | None] = []
    for out, settings in targets:
        entry = _reused(record, out, dir_name, settings)
        results.append((entry, True) if entry is not None else None)
    todo = [i for i, r in enumerate(results) if r is None]
    tmps = {i: targets[i][0] / "tracks" / f".{dir_name}.partial" for i in todo}
    try:
        for tmp in tmps.values():
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        audio: dict[int, tuple[dict[str, str], float]] = {}
        arrays: dict[tuple[int, int | None], dict[str, np.ndarray]] = {}  # read once per kind
        for i in sorted(todo, key=lambda i: (targets[i][1].sample_rate,
                                             targets[i][1].channels or 0)):
            rate, channels = targets[i][1].sample_rate, targets[i][1].channels
            if (rate, channels) not in arrays:
                arrays = {(rate, channels): _read_audio(record, rate, channels)}
            paths, length = _write_audio(arrays[rate, channels], tmps[i])
            audio[i] = (paths, length / rate)
        jobs = [i for i in todo if targets[i][1].fps is not None]
        videos = dict(zip(jobs, _write_videos(record, [
            _VideoJob(targets[i][1], audio[i][1], tmps[i]) for i in jobs]), strict=True)) \
            if jobs else {}
        for i in todo:
            out, settings = targets[i]
            rel = f"tracks/{dir_name}"
            entry = _entry(record, rel, tmps[i], audio[i][0], audio[i][1], videos.get(i, {}))
            entry["files"] = record_files(tmps[i], rel)
            (tmps[i] / "track.json").write_text(json.dumps({"settings": settings.to_json(),
                                                            "entry": entry}, indent=1))
            _commit(tmps[i], out / "tracks" / dir_name)
            results[i] = (entry, False)
    except BaseException:
        for tmp in tmps.values():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results  # type: ignore[return-value]


def prepare_track(record: TrackRecord, out: Path, dir_name: str,
                  settings: PrepareSettings) -> tuple[dict[str, Any], bool]:
    """Write one track under ``out/tracks/<dir_name>``; returns ``(index entry, reused)``."""
    return prepare_tracks(record, [(out, settings)], dir_name)[0]


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


@dataclass
class CacheTarget:
    """One cache to write: folder, settings, and facts to record in its index (``info``)."""

    out: Path
    settings: PrepareSettings
    info: dict[str, Any] = field(default_factory=dict)


def _check_target(target: CacheTarget, layout: str, root: Path) -> None:
    out = target.out
    if out.resolve() == root or root in out.resolve().parents:
        raise DataError(out, f"the cache must not be the dataset root or inside it ({root}): "
                             "choose an --out outside the dataset")
    index_path = out / "index.json"
    if index_path.is_file():
        old = load_json(index_path)
        old_settings = {k: old.get(k) for k in target.settings.to_json()}
        if old.get("layout") != layout or old_settings != target.settings.to_json():
            raise DataError(index_path, f"this cache holds layout {old.get('layout')!r} with "
                                        f"{old_settings}; asked for {layout!r} with "
                                        f"{target.settings.to_json()}: choose another --out")
        if old.get("root") and Path(old["root"]) != root:
            raise DataError(index_path, f"this cache was prepared from {old['root']}, not "
                                        f"{root}: choose another --out")


def prepare_many(
    layout: str,
    root: Path | str,
    targets: list[CacheTarget],
    *,
    skip_bad: bool = False,
    workers: int = 1,
    reader_options: dict[str, Any] | None = None,
    split_options: dict[str, Any] | None = None,
    progress: Callable[[int], Any] | None = None,
    on_start: Callable[[int], Any] | None = None,
) -> list[PrepareResult]:
    """Read ``root`` with layout ``layout`` once, split it (:func:`avsep.data.splits.
    assign_splits` with ``split_options``) and write every target cache, decoding each video
    once for all of them.

    ``on_start(n)`` is called with the number of tracks once they are read, ``progress(n)``
    once per finished track (e.g. a tqdm ``update``). A bad track
    raises :class:`DataError`, or with ``skip_bad`` is reported in the results and the indexes'
    ``problems`` and left out. Each index records the layout, the dataset root, the split
    policy and each track's split.
    """
    from avsep.data.splits import assign_splits

    root = Path(root).expanduser().resolve()
    if not targets:
        raise ValueError("nothing to prepare: no target cache given")
    for target in targets:
        _check_target(target, layout, root)
    records, problems = read_layout(layout, root, skip_bad=skip_bad, **(reader_options or {}))
    policy = assign_splits(layout, root, records, **(split_options or {}))
    for target in targets:
        (target.out / "tracks").mkdir(parents=True, exist_ok=True)
    names = _dir_names(records)
    if on_start is not None:
        on_start(len(records))
    pairs = [(t.out, t.settings) for t in targets]
    entries: dict[int, list[tuple[dict[str, Any], bool]]] = {}

    def handle(i: int, fn: Callable[[], list[tuple[dict[str, Any], bool]]]) -> None:
        try:
            entries[i] = fn()
        except DataError as err:
            if not skip_bad:
                raise
            problems.append(Problem(err.path, err.problem))
        if progress is not None:
            progress(1)

    if workers <= 1:
        for i, record in enumerate(records):
            handle(i, lambda r=record, i=i: prepare_tracks(r, pairs, names[i]))
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(prepare_tracks, r, pairs, names[i]): i
                       for i, r in enumerate(records)}
            for future in as_completed(futures):
                handle(futures[future], future.result)
    results = []
    done = sorted(entries)
    for t, target in enumerate(targets):
        kept = [entries[i][t] for i in done]
        index = {"version": INDEX_VERSION, "layout": layout, "root": str(root),
                 **target.settings.to_json(), "split_policy": policy.to_json(), **target.info,
                 "tracks": [entry for entry, _ in kept],
                 "problems": [{"path": str(p.path), "message": p.message} for p in problems]}
        index_path = target.out / "index.json"
        _atomic_json(index_path, index)
        reused = sum(was_reused for _, was_reused in kept)
        results.append(PrepareResult(index_path, len(kept) - reused, reused, problems))
    return results


def prepare(layout: str, root: Path | str, out: Path | str, settings: PrepareSettings,
            **options: Any) -> PrepareResult:
    """:func:`prepare_many` for one cache at ``out``."""
    return prepare_many(layout, root, [CacheTarget(Path(out), settings)], **options)[0]

"""Model input from a user's file: the one crop chain and audio front-end of prepare and serve.

``avsep prepare`` (:mod:`avsep.data.prepare`) caches what this module makes from a dataset's
files; ``avsep separate``, ``avsep serve`` and the pyfunc (:mod:`avsep.serve.engine`) make the
same from a user's upload with the parameters the model package recorded
(:class:`Preprocessing`), so training and serving data cannot drift.

Video: where the crop box comes from, first match wins (recorded as ``crop_from``):

1. ``boxes``     — the ``<video stem>.boxes.json`` sidecar (synthetic corpus, or a user's own;
                   ``avsep serve`` takes it as the ``boxes`` upload field), keyed by source name
                   (or instrument name);
2. ``landmarks`` — the dataset's 68-point face landmarks (Acappella): a square around the mouth
                   points with side ``mouth_scale`` (1.2) x their horizontal extent, URSing's
                   recipe (paper 1);
3. ``detector``  — singers only (role vocals/extra_vocals): OpenCV's bundled Haar frontal-face
                   cascade on every ``detector_every``-th (5) frame, mouth box placed in the face
                   box, interpolated in time;
4. ``strips``    — a video shared by N sources with none of the above (a real URMP ensemble):
                   N equal vertical strips, left to right in part order;
5. ``centre``    — the largest centred box of the crop's aspect ratio (one player, or no face
                   found, or OpenCV missing).

Frames are decoded at the target fps (nearest source frame, :func:`avsep.data.video.
frame_indices`), cropped with ``roi_align`` (:func:`avsep.data.video.crop_frames`) to uint8
``(T, H, W, Cv)``. Audio: float32 ``(C, L)`` resampled with one band-limited polyphase filter
(:func:`avsep.data.audio_io.resample`) and fitted to the channel count (:func:`fit_channels`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avsep.data.audio_io import resample
from avsep.data.records import DataError

MOUTH_POINTS = slice(48, 68)  # dlib's 68-point layout: outer and inner lip contour
MOUTH_SCALE = 1.2
DETECTOR_EVERY = 5
SINGER_ROLES = ("vocals", "extra_vocals")
MOUTH_METHODS = ("boxes", "landmarks", "detector")  # crops around a mouth (or a player's box)
CROP_METHODS = (*MOUTH_METHODS, "strips", "centre")


# ---------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Preprocessing:
    """What a model was trained on, as its package records it (``config.json`` key
    ``preprocessing``): the cache's audio rate/channels and video fps, crop ``(H, W)``, video
    channels, crop parameters and the crop methods the cache's sources came from
    (``{method: count}``; empty when unknown, e.g. a package saved without a cache)."""

    sample_rate: int
    channels: int | None = None
    fps: float | None = None
    crop: tuple[int, int] | None = None
    video_channels: int = 3
    mouth_scale: float = MOUTH_SCALE
    detector_every: int = DETECTOR_EVERY
    crop_from: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "channels": self.channels, "fps": self.fps,
                "crop": list(self.crop) if self.crop else None,
                "video_channels": self.video_channels, "mouth_scale": self.mouth_scale,
                "detector_every": self.detector_every, "crop_from": dict(self.crop_from or {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocessing:
        crop = data.get("crop")
        return cls(sample_rate=int(data["sample_rate"]), channels=data.get("channels"),
                   fps=None if data.get("fps") is None else float(data["fps"]),
                   crop=tuple(int(v) for v in crop) if crop else None,  # type: ignore[arg-type]
                   video_channels=int(data.get("video_channels", 3)),
                   mouth_scale=float(data.get("mouth_scale", MOUTH_SCALE)),
                   detector_every=int(data.get("detector_every", DETECTOR_EVERY)),
                   crop_from={str(k): int(v) for k, v in (data.get("crop_from") or {}).items()})

    @classmethod
    def from_cache_index(cls, index: dict[str, Any]) -> Preprocessing:
        """The settings a prepared cache's ``index.json`` records, and the crop methods its
        sources' videos came from."""
        counts: dict[str, int] = {}
        for track in index.get("tracks", []):
            for source in track.get("sources", []):
                how = source.get("crop_from")
                if how:
                    counts[how] = counts.get(how, 0) + 1
        return cls.from_json({**index, "crop_from": counts})


@dataclass(frozen=True)
class Subject:
    """Who a crop is around: a source's name, instrument and role; its landmarks file (or
    None); its part number and the number of parts sharing the video (for strips)."""

    name: str
    role: str
    instrument: str | None = None
    landmarks: Path | None = None
    part: int = 0
    parts: int = 1


# ---------------------------------------------------------------------------- boxes


def sidecar_path(video: Path) -> Path:
    """The boxes sidecar of a video: ``<video stem>.boxes.json`` beside it."""
    return video.with_name(video.stem + ".boxes.json")


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The parsed boxes sidecar at ``path``, or None when there is none."""
    if not path.is_file():
        return None
    return parse_sidecar(path.read_bytes(), str(path))


def parse_sidecar(data: bytes, where: str) -> dict[str, Any]:
    """A boxes sidecar's bytes -> ``{"fps": ..., "boxes": {name: [[x0, y0, x1, y1], ...]}}``;
    ``where`` names it in errors (a path or an upload field)."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(Path(where), f"the boxes sidecar is not valid JSON ({err}); expected "
                                     '{"fps": 25, "boxes": {"vocals": [[x0, y0, x1, y1], ...]}}'
                        ) from err
    if not isinstance(parsed, dict) or not isinstance(parsed.get("boxes", {}), dict):
        raise DataError(Path(where), 'the boxes sidecar must be an object {"fps": 25, "boxes": '
                                     '{name: [[x0, y0, x1, y1], ...]}}')
    return {**parsed, "_where": where}


def sidecar_boxes(sidecar: dict[str, Any], subject: Subject, frame_times: np.ndarray,
                  default_fps: float) -> np.ndarray:
    """Boxes ``(T, 4)`` of ``subject`` from a parsed sidecar at ``frame_times`` (s), the sidecar's
    frame nearest each time."""
    where = Path(sidecar.get("_where", "boxes.json"))
    boxes_by_name = sidecar.get("boxes", {})
    key = next((k for k in (subject.name, subject.instrument) if k in boxes_by_name), None)
    if key is None:
        raise DataError(where, f"no boxes for source {subject.name!r}; the sidecar has "
                               f"{sorted(boxes_by_name)}")
    boxes = np.asarray(boxes_by_name[key], dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) == 0:
        raise DataError(where, f"boxes of {key!r} must be [[x0, y0, x1, y1], ...], found "
                               f"shape {boxes.shape}")
    fps = float(sidecar.get("fps", default_fps))
    idx = np.clip(np.floor(frame_times * fps + 0.5).astype(np.int64), 0, len(boxes) - 1)
    return boxes[idx]


def landmark_boxes(path: Path, source_idx: np.ndarray, scale: float = MOUTH_SCALE) -> np.ndarray:
    """Square mouth boxes ``(T, 4)`` from 68-point landmarks ``(N, 68, 2)`` (x, y)."""
    try:
        points = np.load(path, mmap_mode="r")
    except Exception as err:  # noqa: BLE001
        raise DataError(path, f"unreadable landmarks ({err})") from err
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise DataError(path, f"expected landmarks (T, 68, 2), found {points.shape}")
    mouth = np.asarray(points[np.clip(source_idx, 0, len(points) - 1), MOUTH_POINTS], np.float64)
    lo, hi = mouth.min(axis=1), mouth.max(axis=1)
    centre, side = (lo + hi) / 2, scale * (hi[:, 0] - lo[:, 0])
    side = np.maximum(side, 2.0)[:, None]
    return np.concatenate([centre - side / 2, centre + side / 2], axis=1)


def crop_plan(video: Any, sidecar: dict[str, Any] | None, subject: Subject,
              settings: Preprocessing, idx: np.ndarray,
              detected: Callable[[], np.ndarray | None]) -> tuple[np.ndarray, str]:
    """Boxes ``(T, 4)`` of ``subject`` at the source frames ``idx`` of ``video`` (an
    :func:`avsep.data.video.open_video` source) and the method they came from (module
    docstring); ``detected()`` gives the face detector's mouth boxes at ``idx`` (None: no face
    found)."""
    from avsep.data.video import centre_boxes, fit_boxes, strip_boxes

    assert settings.fps is not None and settings.crop is not None
    frame_wh = (video.width, video.height)
    boxes, how = None, "boxes"
    if sidecar is not None:
        times = np.arange(len(idx)) / settings.fps
        boxes = sidecar_boxes(sidecar, subject, times, video.fps)
    if boxes is None and subject.landmarks is not None:
        boxes = landmark_boxes(subject.landmarks, idx, settings.mouth_scale)
        how = "landmarks"
    if boxes is None and subject.role in SINGER_ROLES:
        boxes, how = detected(), "detector"
    if boxes is None and subject.parts > 1:
        boxes = strip_boxes(len(idx), subject.part, subject.parts, settings.crop, frame_wh)
        how = "strips"
    if boxes is None:
        boxes, how = centre_boxes(len(idx), settings.crop, frame_wh), "centre"
    return fit_boxes(boxes, settings.crop, frame_wh), how


# ---------------------------------------------------------------------------- frames


def frame_count(video: Any, fps: float, duration_s: float | None = None) -> int:
    """Frames at ``fps`` covering ``duration_s`` (None: the whole video), at most the video's."""
    seconds = video.frames / video.fps
    if duration_s is not None:
        seconds = min(duration_s, seconds)
    return int(np.floor(seconds * fps + 1e-6))


@dataclass
class CropJob:
    """One crop to fill from a decoded union of frames: the rows of the union it takes
    (``positions``, ``(T,)``), its boxes ``(T, 4)``, the uint8 ``(T, H, W, Cv)`` array it writes
    into (an array or a ``.npy`` memmap) and its settings."""

    positions: np.ndarray
    boxes: np.ndarray
    target: np.ndarray
    settings: Preprocessing


def fill_crops(video: Any, union: np.ndarray, jobs: list[CropJob]) -> None:
    """Decode the source frames ``union`` (sorted, unique) of ``video`` in chunks, once for all
    ``jobs``, and write each job's crops into its target."""
    from avsep.data.video import crop_frames, iter_frames

    for part, frames in iter_frames(video, union):
        for job in jobs:
            rows = np.nonzero((job.positions >= part.start) & (job.positions < part.stop))[0]
            if len(rows):
                assert job.settings.crop is not None
                job.target[rows] = crop_frames(frames[job.positions[rows] - part.start],
                                               job.boxes[rows], job.settings.crop,
                                               gray=job.settings.video_channels == 1)


def detector(video: Any, union: np.ndarray,
             every: int = DETECTOR_EVERY) -> Callable[[np.ndarray], np.ndarray | None]:
    """``detected(positions)``: the face detector's mouth boxes at rows ``positions`` of
    ``union``, the detector run at most once per video (on the union)."""
    from avsep.data.video import detect_mouth_boxes

    found: list[np.ndarray | None] = []

    def detected(positions: np.ndarray) -> np.ndarray | None:
        if not found:
            found.append(detect_mouth_boxes(video, union, every))
        return None if found[0] is None else found[0][positions]

    return detected


def crop_video(video: Any, subject: Subject, settings: Preprocessing,
               sidecar: dict[str, Any] | None = None,
               duration_s: float | None = None) -> tuple[np.ndarray, str]:
    """One subject's crops of ``video``: uint8 ``(T, H, W, Cv)`` at ``settings.fps`` and the
    method of the boxes; the same frames ``avsep prepare`` caches for it."""
    from avsep.data.video import frame_indices

    assert settings.fps is not None and settings.crop is not None
    idx = frame_indices(video.fps, video.frames, settings.fps,
                        frame_count(video, settings.fps, duration_s))
    union = np.unique(idx)
    positions = np.searchsorted(union, idx)
    detected = detector(video, union, settings.detector_every)
    boxes, how = crop_plan(video, sidecar, subject, settings, idx, lambda: detected(positions))
    out = np.zeros((len(idx), *settings.crop, settings.video_channels), np.uint8)
    fill_crops(video, union, [CropJob(positions, boxes, out, settings)])
    return out, how


# ---------------------------------------------------------------------------- audio


def fit_channels(audio: np.ndarray, channels: int | None) -> np.ndarray:
    """``(C, L)`` -> ``(channels, L)``: the mean of the channels for mono, a mono file repeated
    for stereo; unchanged for ``None``."""
    if channels is None or audio.shape[0] == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if audio.shape[0] == 1:
        return np.repeat(audio, channels, axis=0)
    raise ValueError(f"cannot turn {audio.shape[0]} audio channels into {channels}")


def audio_front_end(audio: np.ndarray, rate: int, sample_rate: int,
                    channels: int | None = None) -> np.ndarray:
    """float32 ``(C, L)`` at ``rate`` -> ``(channels, L')`` at ``sample_rate`` (band-limited
    polyphase resampling, then :func:`fit_channels`)."""
    return fit_channels(resample(np.asarray(audio, dtype=np.float32), int(rate),
                                 int(sample_rate)), channels)


def cache_preprocessing(cache: Path | str | None) -> Preprocessing | None:
    """What the prepared cache at ``cache`` was made with (its ``index.json``), or None when
    there is no cache index to read."""
    if cache is None or not (Path(cache) / "index.json").is_file():
        return None
    return Preprocessing.from_cache_index(json.loads((Path(cache) / "index.json").read_text()))


__all__ = ["CROP_METHODS", "CropJob", "MOUTH_METHODS", "Preprocessing", "Subject",
           "audio_front_end", "cache_preprocessing", "crop_plan", "crop_video", "detector",
           "fill_crops", "fit_channels", "frame_count", "landmark_boxes", "parse_sidecar",
           "read_sidecar", "resample", "sidecar_boxes", "sidecar_path"]

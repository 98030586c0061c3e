"""Video reading at a target frame rate (decord), validation, and box crops.

decord is imported after torch (importing it first can break torch's own libraries) and only
inside the functions, so importing this module stays cheap. Frames are uint8 ``(T, H, W, 3)``
RGB; crops are uint8 ``(T, h, w, Cv)`` with ``Cv`` 3 (RGB) or 1 (luma, ITU-R BT.601).

Without boxes, :func:`detect_mouth_boxes` finds singers' mouths with OpenCV's bundled Haar
face cascade (optional: ``opencv-python-headless`` 4.x; without it the caller falls back).

A frame array already decoded by a dataset's own preprocessing (Acappella's ``frames/*.npy``,
uint8 ``(T, H, W, 3)``) is read through the same :func:`open_video` interface.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np

from avsep.data.records import DataError

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frames: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


class _DecordSource:
    """Random-access frames from a video file (or an upload's bytes, named ``path`` in errors)
    through ``decord.VideoReader``."""

    def __init__(self, path: Path, data: bytes | None = None):
        import torch  # noqa: F401, I001 - must precede decord
        import decord

        try:
            self.reader = decord.VideoReader(BytesIO(data) if data is not None else str(path),
                                             ctx=decord.cpu(0), num_threads=1)
            first = self.reader[0].shape
        except Exception as err:  # noqa: BLE001 - decord raises DECORDError and others
            raise DataError(path, f"corrupt or truncated video: decord cannot open it "
                                  f"({err})") from err
        self.path = path
        self.fps = float(self.reader.get_avg_fps())
        self.frames = len(self.reader)
        self.height, self.width = int(first[0]), int(first[1])
        if self.frames <= 0 or not self.fps > 0:
            raise DataError(path, f"corrupt video: {self.frames} frames at {self.fps} fps")

    def get(self, indices: np.ndarray) -> np.ndarray:
        try:
            return self.reader.get_batch(list(map(int, indices))).asnumpy()
        except Exception as err:  # noqa: BLE001
            raise DataError(
                self.path,
                f"corrupt or truncated video: frames {int(indices[0])}..{int(indices[-1])} "
                f"of {self.frames} cannot be decoded ({err})",
            ) from err


class _ArraySource:
    """Frames stored as a uint8 ``(T, H, W, 3)`` ``.npy`` array (memory-mapped), or given as
    that array (``array``; ``path`` then names it in errors)."""

    def __init__(self, path: Path, fps: float, array: np.ndarray | None = None):
        try:
            self.array = np.load(path, mmap_mode="r") if array is None else array
        except Exception as err:  # noqa: BLE001
            raise DataError(path, f"unreadable frame array ({err})") from err
        shape = self.array.shape
        if self.array.ndim != 4 or shape[-1] not in (1, 3) or self.array.dtype != np.uint8:
            raise DataError(
                path,
                f"expected a uint8 (T, H, W, 3) frame array, found {self.array.dtype} "
                f"{tuple(self.array.shape)}",
            )
        self.path = path
        self.fps = float(fps)
        self.frames, self.height, self.width = (int(s) for s in self.array.shape[:3])

    def get(self, indices: np.ndarray) -> np.ndarray:
        frames = np.asarray(self.array[np.asarray(indices, dtype=np.int64)])
        return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def open_video(path: Path | str | bytes | np.ndarray, *, array_fps: float = 25.0,
               name: str = "upload") -> _DecordSource | _ArraySource:
    """Open a video file (decord), a ``.npy`` frame array (at ``array_fps``), a video file's
    bytes, or a uint8 ``(T, H, W, 3)`` frame array (at ``array_fps``); ``name`` names the
    last two in errors."""
    if isinstance(path, bytes):
        return _DecordSource(Path(name), path)
    if isinstance(path, np.ndarray):
        return _ArraySource(Path(name), array_fps, path)
    path = Path(path)
    if not path.exists():
        raise DataError(path, "missing file")
    if path.suffix.lower() == ".npy":
        return _ArraySource(path, array_fps)
    return _DecordSource(path)


def video_info(path: Path | str, *, validate: bool = True) -> VideoInfo:
    """Header facts of a video; with ``validate`` also decode its first and last frames, which
    catches files truncated after the header (the index claims frames the data lacks)."""
    source = open_video(path)
    if validate:
        source.get(np.array([0, source.frames - 1]))
    return VideoInfo(Path(path), source.fps, source.frames, source.width, source.height)


def frame_indices(source_fps: float, source_frames: int, fps: float,
                  num_frames: int | None = None) -> np.ndarray:
    """Source frame index for each output frame ``k`` at time ``k / fps`` (nearest frame).

    Returns int64 ``(T,)`` with ``T = floor(source_frames / source_fps * fps)`` unless
    ``num_frames`` is given; indices past the end are clipped to the last frame.
    """
    if num_frames is None:
        num_frames = int(math.floor(source_frames / source_fps * fps + 1e-6))
    times = np.arange(num_frames, dtype=np.float64) / fps
    return np.clip(np.floor(times * source_fps + 0.5).astype(np.int64), 0, source_frames - 1)


def iter_frames(source: _DecordSource | _ArraySource, indices: np.ndarray,
                chunk: int = 64) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(slice of output frames, frames uint8 (n, H, W, 3))`` in chunks of ``chunk``,
    so a long high-resolution video never sits in memory whole."""
    for start in range(0, len(indices), chunk):
        part = indices[start:start + chunk]
        yield slice(start, start + len(part)), source.get(part)


def fit_boxes(boxes: np.ndarray, out_hw: tuple[int, int], frame_wh: tuple[int, int]) -> np.ndarray:
    """Grow each box ``(T, 4)`` ``[x0, y0, x1, y1]`` about its centre to the aspect ratio of
    ``out_hw`` (so the crop is not distorted), then shift it inside the frame where possible."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out_h, out_w = out_hw
    width, height = frame_wh
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    aspect = out_w / out_h
    w, h = np.maximum(w, h * aspect), np.maximum(h, w / aspect)
    w, h = np.minimum(w, width), np.minimum(h, height)
    x0 = np.clip(cx - w / 2, 0, width - w)
    y0 = np.clip(cy - h / 2, 0, height - h)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def centre_boxes(num_frames: int, out_hw: tuple[int, int], frame_wh: tuple[int, int]) -> np.ndarray:
    """The largest centred box of the crop's aspect ratio inside the frame, repeated ``(T, 4)``."""
    return strip_boxes(num_frames, 0, 1, out_hw, frame_wh)


def strip_boxes(num_frames: int, part: int, parts: int, out_hw: tuple[int, int],
                frame_wh: tuple[int, int]) -> np.ndarray:
    """The largest box of the crop's aspect ratio centred in vertical strip ``part`` (0-based,
    left to right) of ``parts`` equal strips, repeated ``(T, 4)``."""
    width, height = frame_wh
    strip = width / parts
    aspect = out_hw[1] / out_hw[0]
    w = min(strip, height * aspect)
    h = w / aspect
    x0, y0 = part * strip + (strip - w) / 2, (height - h) / 2
    return np.repeat(np.array([[x0, y0, x0 + w, y0 + h]]), num_frames, axis=0)


def crop_frames(frames: np.ndarray, boxes: np.ndarray, out_hw: tuple[int, int],
                gray: bool = False) -> np.ndarray:
    """Crop and resize: uint8 ``(T, H, W, 3)`` + boxes ``(T, 4)`` -> uint8 ``(T, h, w, Cv)``.

    Uses ``torchvision.ops.roi_align`` (bilinear samples averaged over each output cell, so
    large downscales are anti-aliased) — one batched call instead of a per-frame loop.
    """
    import torch
    from torchvision.ops import roi_align

    if len(frames) == 0:
        return np.zeros((0, *out_hw, 1 if gray else 3), dtype=np.uint8)
    # Only the region the boxes cover (plus a pixel) is converted to float: a chunk of
    # full-HD frames would otherwise take gigabytes.
    boxes = np.asarray(boxes, dtype=np.float64)
    height, width = frames.shape[1:3]
    x0 = int(np.clip(np.floor(boxes[:, 0].min()) - 1, 0, width - 1))
    y0 = int(np.clip(np.floor(boxes[:, 1].min()) - 1, 0, height - 1))
    x1 = int(np.clip(np.ceil(boxes[:, 2].max()) + 1, x0 + 1, width))
    y1 = int(np.clip(np.ceil(boxes[:, 3].max()) + 1, y0 + 1, height))
    region = np.ascontiguousarray(frames[:, y0:y1, x0:x1])
    x = torch.from_numpy(region).permute(0, 3, 1, 2).float()
    rois = torch.cat([torch.arange(len(frames), dtype=torch.float32)[:, None],
                      torch.as_tensor(boxes - [x0, y0, x0, y0], dtype=torch.float32)], dim=1)
    out = roi_align(x, rois, output_size=tuple(out_hw), spatial_scale=1.0, sampling_ratio=-1,
                    aligned=True)  # (T, 3, h, w)
    out = out.permute(0, 2, 3, 1).numpy()
    if gray:
        out = (out @ LUMA)[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- face detection

# Where the mouth sits in an OpenCV frontal-face box (x, y, w, h): centre at
# (x + w/2, y + MOUTH_Y * h), a square of side MOUTH_SIDE * w.
MOUTH_Y, MOUTH_SIDE = 0.80, 0.45
# The detector's working resolution: a frame whose shorter side is longer is scaled down
# (area interpolation) to this shorter side first, boxes scaled back. The Haar cascade's cost
# grows with the pixels it scans (about 10x the padded frame's over its scales), so a 640x480
# frame cost ~15x a 112x112 one; at 240 it costs ~4x less than at full size and finds faces
# from 24 px at the working size up (48 px in 640x480, 108 px in 1080p). Frames at or below
# 240 px (the synthetic corpus's 112x112) are detected exactly as before.
DETECT_SIDE = 240


def _face_cascade():  # noqa: ANN202 - cv2 types
    """OpenCV's bundled Haar frontal-face cascade, or ``None`` when OpenCV (4.x with
    ``cv2.data``; 5.0 no longer ships the cascades) is not installed."""
    try:
        import cv2
    except ImportError:
        return None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder or "") / "haarcascade_frontalface_alt2.xml"
    if not folder or not path.is_file():
        return None
    return cv2.CascadeClassifier(str(path))


def mouth_from_faces(faces: np.ndarray) -> np.ndarray:
    """Face boxes ``(n, 4)`` as ``[x, y, w, h]`` -> square mouth boxes ``(n, 4)`` as
    ``[x0, y0, x1, y1]``."""
    faces = np.asarray(faces, dtype=np.float64).reshape(-1, 4)
    cx = faces[:, 0] + faces[:, 2] / 2
    cy = faces[:, 1] + MOUTH_Y * faces[:, 3]
    half = MOUTH_SIDE * faces[:, 2] / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def interpolate_boxes(positions: np.ndarray, boxes: np.ndarray, num_frames: int) -> np.ndarray:
    """Boxes found at output frames ``positions`` (sorted) -> one box per frame ``(T, 4)``,
    linear in between and held constant before the first and after the last."""
    frames = np.arange(num_frames)
    return np.stack([np.interp(frames, positions, boxes[:, c]) for c in range(4)], axis=1)


def detect_mouth_boxes(source: _DecordSource | _ArraySource, indices: np.ndarray,
                       every: int = 5) -> np.ndarray | None:
    """Mouth boxes ``(T, 4)`` for the frames ``indices`` from a face detector run on every
    ``every``-th of them (largest face per frame), interpolated in time.

    Returns ``None`` when OpenCV is missing or no face is found in any probed frame. A frame
    whose shorter side exceeds :data:`DETECT_SIDE` is detected at that shorter side (boxes in
    the frame's own pixels); the frame is padded by half its size first, so a face that fills
    the frame is still found.
    """
    cascade = _face_cascade()
    if cascade is None or len(indices) == 0:
        return None
    import cv2

    positions = np.arange(0, len(indices), every)
    found_at, found = [], []
    for part, frames in iter_frames(source, indices[positions]):
        for pos, frame in zip(positions[part], frames, strict=True):
            gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
            scale = min(1.0, DETECT_SIDE / min(gray.shape))
            if scale < 1.0:
                size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))
                gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            pad = max(gray.shape) // 2
            gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            faces = cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=3,
                                             minSize=(24, 24))
            if len(faces):
                x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
                found_at.append(pos)
                found.append(np.array([x - pad, y - pad, w, h], np.float64) / scale)
    if not found:
        return None
    return interpolate_boxes(np.array(found_at), mouth_from_faces(np.array(found)), len(indices))


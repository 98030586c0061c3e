"""Write H.264 MP4 files (PyAV's bundled FFmpeg, libx264) with an AAC sound track, and the
per-frame boxes sidecar of docs/contracts.md."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

VIDEO_CODEC = "libx264"
CRF = "16"  # near-transparent: decoded frames stay well above 30 dB PSNR of the drawing


def write_mp4(
    path: Path,
    frames: np.ndarray,
    fps: int,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
) -> None:
    """Encode uint8 RGB ``frames`` ``(T, H, W, 3)`` (H, W even) at ``fps`` as H.264 (yuv420p)
    and, when given, mono ``audio`` ``(L,)`` float in -1..1 as AAC at ``sample_rate``."""
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 frames (T, H, W, 3), got "
                         f"{frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"{path}: H.264 4:2:0 needs even frame sizes, got {frames.shape[1:3]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream(VIDEO_CODEC, rate=Fraction(fps))
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": CRF, "preset": "veryfast", "g": str(2 * fps)}
        sound = None
        if audio is not None:
            if sample_rate is None:
                raise ValueError(f"{path}: audio given without a sample rate")
            sound = container.add_stream("aac", rate=sample_rate, layout="mono")
        for image in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            _encode_audio(container, sound, audio, sample_rate)


def _encode_audio(container, stream, audio: np.ndarray, sample_rate: int) -> None:
    """Feed mono float audio to the AAC encoder in 1024-sample frames."""
    import av

    samples = np.clip(np.asarray(audio, dtype=np.float32), -1, 1)
    step = 1024
    for start in range(0, len(samples), step):
        chunk = samples[start : start + step]
        frame = av.AudioFrame.from_ndarray(chunk[None, :].copy(), format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def boxes_path(video_path: Path) -> Path:
    """The sidecar of a video: ``<video stem>.boxes.json`` beside it."""
    return video_path.with_name(video_path.stem + ".boxes.json")


def write_boxes(video_path: Path, fps: int, size: tuple[int, int],
                boxes: dict[str, np.ndarray | list]) -> Path:
    """Write the boxes sidecar ``{"fps", "size": [W, H], "boxes": {name: [[x0,y0,x1,y1]...]}}``
    (one box per frame, pixels, rounded to 0.01)."""
    payload = {
        "fps": fps,
        "size": [int(size[0]), int(size[1])],
        "boxes": {name: np.round(np.asarray(b, dtype=np.float64), 2).tolist()
                  for name, b in boxes.items()},
    }
    path = boxes_path(video_path)
    path.write_text(json.dumps(payload))
    return path

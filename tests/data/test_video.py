"""Video reading, validation and box crops on tiny real H.264 MP4s written with PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avsep.data.records import DataError
from avsep.data.video import (
    centre_boxes,
    crop_frames,
    fit_boxes,
    frame_indices,
    iter_frames,
    open_video,
    video_info,
)

WIDTH, HEIGHT = 128, 96


def pattern(x: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
    """Smooth RGB test content at pixel-centre coordinates ``x, y`` and time ``t`` (s):
    float (…, 3) in [0, 255]. Changes with position and time, so a crop at the wrong place or
    a frame from the wrong time scores a low PSNR."""
    phases = np.array([0.0, 2.0, 4.0])
    return (128 + 70 * np.sin(2 * np.pi * x[..., None] / 48 + 1.5 * t + phases)
            * np.cos(2 * np.pi * y[..., None] / 64 + phases / 2))


def render(t: float, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    return np.clip(np.rint(pattern(xs, ys, t)), 0, 255).astype(np.uint8)


def expected_crop(box: np.ndarray, t: float, out_hw: tuple[int, int]) -> np.ndarray:
    """What a crop of ``box`` resized to ``out_hw`` should show: the pattern sampled at the
    output cell centres inside the box."""
    x0, y0, x1, y1 = box
    h, w = out_hw
    xs = x0 + (np.arange(w) + 0.5) * (x1 - x0) / w
    ys = y0 + (np.arange(h) + 0.5) * (y1 - y0) / h
    return pattern(*np.meshgrid(xs, ys), t)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def write_mp4(path: Path, seconds: float = 2.0, fps: int = 25, *, audio: np.ndarray | None = None,
              sample_rate: int = 8000) -> Path:
    """An H.264 (yuv420p, crf 10) MP4 of :func:`render` frames, optionally with a sound track
    ``audio`` float (C, L)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        astream = None
        if audio is not None:
            layout = "mono" if audio.shape[0] == 1 else "stereo"
            astream = container.add_stream("aac", rate=sample_rate, layout=layout)
        for k in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(render(k / fps), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if astream is not None:
            samples = np.ascontiguousarray(audio.astype(np.float32))
            frame = av.AudioFrame.from_ndarray(samples, format="fltp",
                                               layout=astream.layout.name)
            frame.sample_rate = sample_rate
            container.mux(astream.encode(frame))
            container.mux(astream.encode())
    return path


def test_decoded_frames_match_what_was_written(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "clip.mp4")
    info = video_info(path)
    assert (info.frames, info.width, info.height) == (50, WIDTH, HEIGHT)
    assert info.fps == pytest.approx(25.0)
    source = open_video(path)
    frames = source.get(np.array([0, 17, 49]))
    for frame, k in zip(frames, (0, 17, 49), strict=True):
        assert psnr(frame, render(k / 25)) > 30


def test_frame_indices_resample_to_target_fps() -> None:
    assert frame_indices(25.0, 50, 12.5).tolist() == list(range(0, 50, 2))
    up = frame_indices(25.0, 10, 50.0)
    assert len(up) == 20 and up.tolist()[:6] == [0, 1, 1, 2, 2, 3]
    assert frame_indices(30.0, 30, 25.0, num_frames=30).max() == 29  # clipped to the last frame


def test_crop_from_boxes_matches_drawn_content(tmp_path: Path) -> None:
    source = open_video(write_mp4(tmp_path / "clip.mp4"))
    idx = frame_indices(source.fps, source.frames, 25.0)
    boxes = np.array([[10 + k, 20, 58 + k, 68] for k in range(len(idx))], dtype=np.float64)
    for part, frames in iter_frames(source, idx, chunk=16):
        crops = crop_frames(frames, boxes[part], (32, 32))
        assert crops.shape == (len(frames), 32, 32, 3) and crops.dtype == np.uint8
        for k, crop in zip(range(part.start, part.stop), crops, strict=True):
            assert psnr(crop, expected_crop(boxes[k], k / 25, (32, 32))) > 30
    # a box in the wrong place is far off: the test can fail
    wrong = crop_frames(source.get(np.array([0])), boxes[:1] + [40, 0, 40, 0], (32, 32))
    assert psnr(wrong[0], expected_crop(boxes[0], 0.0, (32, 32))) < 20


def test_gray_crop_is_luma() -> None:
    frames = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 200, 100, 50
    gray = crop_frames(frames, np.array([[0.0, 0.0, 8.0, 8.0]]), (4, 4), gray=True)
    assert gray.shape == (1, 4, 4, 1)
    assert np.all(gray == round(0.299 * 200 + 0.587 * 100 + 0.114 * 50))


def test_fit_and_centre_boxes_keep_aspect_inside_frame() -> None:
    fitted = fit_boxes(np.array([[50.0, 40.0, 60.0, 80.0]]), (48, 96), (128, 96))
    x0, y0, x1, y1 = fitted[0]
    assert (x1 - x0) / (y1 - y0) == pytest.approx(2.0)
    assert (x0 + x1) / 2 == pytest.approx(55.0) and (y0 + y1) / 2 == pytest.approx(60.0)
    edge = fit_boxes(np.array([[0.0, 0.0, 10.0, 10.0]]), (1, 1), (128, 96))[0]
    assert edge.tolist() == [0.0, 0.0, 10.0, 10.0]
    centre = centre_boxes(3, (1, 1), (128, 96))
    assert centre.shape == (3, 4) and centre[0].tolist() == [16.0, 0.0, 112.0, 96.0]


def test_missing_corrupt_and_truncated_videos_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing file") as err:
        video_info(tmp_path / "nope.mp4")
    assert err.value.path.name == "nope.mp4"
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(DataError, match="corrupt or truncated") as err:
        video_info(garbage)
    assert err.value.path == garbage
    good = write_mp4(tmp_path / "good.mp4")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="corrupt or truncated") as err:
        video_info(truncated)
    assert err.value.path == truncated


def test_frame_arrays_read_like_videos(tmp_path: Path) -> None:
    frames = np.stack([render(k / 25, 96, 128) for k in range(5)])
    np.save(tmp_path / "frames.npy", frames)
    source = open_video(tmp_path / "frames.npy", array_fps=25)
    assert (source.frames, source.width, source.height, source.fps) == (5, 96, 128, 25.0)
    assert np.array_equal(source.get(np.array([3])), frames[3:4])
    np.save(tmp_path / "bad.npy", np.zeros((5, 4), dtype=np.float32))
    with pytest.raises(DataError, match="uint8"):
        open_video(tmp_path / "bad.npy")


def test_mouth_geometry_and_interpolation() -> None:
    from avsep.data.video import interpolate_boxes, mouth_from_faces

    mouth = mouth_from_faces(np.array([[10, 20, 100, 100]]))
    assert mouth[0].tolist() == pytest.approx([37.5, 77.5, 82.5, 122.5])
    boxes = interpolate_boxes(np.array([2, 6]), np.array([[0, 0, 10, 10], [4, 8, 14, 18.0]]), 9)
    assert boxes.shape == (9, 4)
    assert boxes[0].tolist() == [0, 0, 10, 10] and boxes[8].tolist() == [4, 8, 14, 18]
    assert boxes[4].tolist() == [2, 4, 12, 14]


def test_detector_finds_no_face_in_noise(tmp_path: Path) -> None:
    from avsep.data.video import detect_mouth_boxes

    rng = np.random.default_rng(0)
    np.save(tmp_path / "noise.npy", rng.integers(0, 256, (10, 96, 96, 3), dtype=np.uint8))
    assert detect_mouth_boxes(open_video(tmp_path / "noise.npy"), np.arange(10)) is None

"""End to end: `avsep synth` -> `avsep prepare` on a tiny corpus (slow: ~1 min on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avsep.data.video import crop_frames, detect_mouth_boxes, fit_boxes, open_video
from tests.data import test_layouts as tl
from tests.data import test_video as tv


def pyav_frames(path: Path) -> np.ndarray:
    """All frames decoded with PyAV (a second decoder, independent of decord)."""
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.mark.slow
def test_synth_singing_to_cache(corpus: Path, tmp_path: Path) -> None:
    rate = json.loads(next((corpus / "singing").glob("*/*/track.json")).read_text())["sample_rate"]
    code, text = tl.run_cli("prepare", "--layout", "avsep_synth", "--root", str(corpus / "singing"),
                            "--out", str(tmp_path / "cache"), "--sample-rate", str(rate),
                            "--fps", "25", "--crop", "64x64")
    assert code == 0, text
    cache = tmp_path / "cache"
    index = json.loads((cache / "index.json").read_text())
    assert sorted(t["split"] for t in index["tracks"]) == ["test", "train", "val"]
    for track in index["tracks"]:
        folder = next((corpus / "singing").glob(f"*/{track['id']}"))
        vocals = next(s for s in track["sources"] if s["name"] == "vocals")
        assert vocals["crop_from"] == "boxes"
        assert all(s["video"] is None for s in track["sources"] if s["name"] != "vocals")
        # audio round-trips within 16-bit precision
        for source in track["sources"]:
            written, _ = sf.read(str(folder / f"{source['name']}.wav"), dtype="float32")
            cached = np.load(cache / source["audio"])[0] / 32768.0
            assert np.max(np.abs(cached - written[: len(cached)])) <= 1 / 32768
        # frames match the drawn video, decoded by another decoder and cropped at the boxes
        video = np.load(cache / vocals["video"])
        frames = pyav_frames(folder / "video.mp4")[: len(video)]
        sidecar = json.loads((folder / "video.boxes.json").read_text())
        boxes = fit_boxes(np.array(sidecar["boxes"]["vocals"])[: len(video)], (64, 64),
                          tuple(sidecar["size"]))
        reference = crop_frames(frames, boxes, (64, 64))
        assert video.shape == (75, 64, 64, 3)
        assert tv.psnr(video, reference) > 30
        vad = np.load(cache / track["annotations"]["vad"]["path"])
        assert np.array_equal(vad, np.load(folder / "vad.npy")[: len(vad)])


@pytest.mark.slow
def test_synth_urmp_to_cache_and_loader(corpus: Path, tmp_path: Path) -> None:
    code, text = tl.run_cli("prepare", "--layout", "urmp", "--root", str(corpus / "urmp"),
                            "--out", str(tmp_path / "cache"), "--sample-rate", "11025",
                            "--fps", "25", "--crop", "64x64")
    assert code == 0, text
    from avsep.data.datasets.cache import load_cache

    cache = load_cache(tmp_path / "cache")
    assert len(cache.tracks) == 3
    for track in cache.tracks:
        assert len(track.sources) >= 2
        for source in track.sources:
            assert source.frames == 75 and source.samples == int(3 * 11025)
            assert source.instrument is not None


@pytest.mark.slow
def test_face_detector_finds_the_mouth(corpus: Path) -> None:
    """Where OpenCV's cascade finds the drawn face, the mouth box lands on the true mouth."""
    pytest.importorskip("cv2")
    found = 0
    for video_path in sorted((corpus / "singing").glob("*/*/video.mp4")):
        source = open_video(video_path)
        idx = np.arange(source.frames)
        boxes = detect_mouth_boxes(source, idx)
        if boxes is None:
            continue
        found += 1
        truth = np.array(json.loads(video_path.with_name("video.boxes.json").read_text())
                         ["boxes"]["vocals"])
        centre_error = np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2
                                      - (truth[:, :2] + truth[:, 2:]) / 2, axis=1)
        side = truth[:, 2] - truth[:, 0]
        assert np.median(centre_error / side) < 0.5
    assert found >= 1

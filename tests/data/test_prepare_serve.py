"""One preprocessing path: the frames `avsep prepare` caches for a song are the frames the
serving engine makes from the same video (the same crop chain, fps, crop and channels, read
from the model package), and a crop that cannot be made as trained is said in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avsep.data.datasets.frames import cache_frame_index, to_model_frames
from avsep.data.preprocess import Preprocessing, read_sidecar, sidecar_path
from avsep.data.video import open_video
from avsep.models import build
from avsep.models.package import load_model_package, save_model_package
from avsep.serve.engine import Request, Separator, VideoInput
from tests.data import test_layouts as tl

MODEL = {"name": "av_mmdensenet", "preset": "tiny"}


@pytest.fixture(scope="module")
def singing_cache(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus's singing songs prepared at the tiny AV MMDenseNet's settings, gray 12.5 fps
    crops of 24x20 (not the model's 16x16 RGB at 25 fps, so every conversion is exercised)."""
    out = tmp_path_factory.mktemp("prepared") / "cache"
    spec = build(MODEL).spec
    code, text = tl.run_cli("prepare", "--layout", "avsep_synth", "--root",
                            str(corpus / "singing"), "--out", str(out), "--sample-rate",
                            str(spec.stft.sample_rate), "--fps", "12.5", "--crop", "24x20",
                            "--gray")
    assert code == 0, text
    return out


def _separator(cache: Path, tmp_path: Path) -> Separator:
    """An (untrained) tiny AV MMDenseNet whose package records ``cache``'s preprocessing."""
    index = json.loads((cache / "index.json").read_text())
    recorded = Preprocessing.from_cache_index(index).to_json()
    folder = save_model_package(build(MODEL), MODEL, tmp_path / "pkg", preprocessing=recorded,
                                wiener_iterations=2)
    model, payload = load_model_package(folder)
    return Separator(model, payload)


def _song(corpus: Path, cache: Path) -> tuple[dict, Path]:
    index = json.loads((cache / "index.json").read_text())
    track = next(t for t in index["tracks"] if t["split"] == "test")
    return track, next((corpus / "singing").glob(f"*/{track['id']}")) / "video.mp4"


def test_the_engine_feeds_the_model_the_frames_prepare_cached(corpus, singing_cache, tmp_path):
    separator = _separator(singing_cache, tmp_path)
    assert separator.preprocessing.crop_from == {"boxes": 3}
    assert (separator.preprocessing.fps, separator.preprocessing.crop,
            separator.preprocessing.video_channels) == (12.5, (24, 20), 1)
    track, video_path = _song(corpus, singing_cache)
    vocals = next(s for s in track["sources"] if s["name"] == "vocals")
    cached = np.load(singing_cache / vocals["video"])
    served, how = separator.video_frames(VideoInput(open_video(video_path.read_bytes()),
                                                    read_sidecar(sidecar_path(video_path))))
    assert how == "boxes" and served.dtype == np.uint8
    assert served.shape == cached.shape == (37, 24, 20, 1)
    assert np.array_equal(served, cached)

    # and the model's first chunk holds the cached frames as the training loader converts them
    rate = separator.rate
    mixture = np.load(singing_cache / track["mixture"]).astype(np.float32) / 32768.0
    jobs = separator.make_jobs(Request(mixture, rate, [VideoInput(
        open_video(video_path), read_sidecar(sidecar_path(video_path)))]))
    spec = separator.spec
    first = cache_frame_index(0, spec.frames_per_clip, spec.fps, 12.5)
    expected = to_model_frames(cached[first], spec.crop, spec.video_channels)
    assert np.array_equal(jobs.items[0]["video"][0].numpy(), expected)
    assert jobs.notices == [] and jobs.wiener_iterations == 2  # the package's validated count


def test_without_a_sidecar_the_detector_crops_and_the_answer_says_so(
        corpus, singing_cache, tmp_path):
    separator = _separator(singing_cache, tmp_path)
    _, video_path = _song(corpus, singing_cache)
    frames, how = separator.video_frames(VideoInput(open_video(video_path)))
    assert how == "detector" and frames.shape == (37, 24, 20, 1)
    # a mouth box found another way, at another scale than the sidecar's: said in one line
    detected = separator.crop_notice(how)
    assert detected is not None and "'detector'" in detected and "'boxes'" in detected
    assert separator.crop_notice("boxes") is None
    blank = np.full((40, 64, 48, 3), 90, np.uint8)  # no face: the centre of the frame
    frames, how = separator.video_frames(blank)
    assert how == "centre" and frames.shape == (40 // 2, 24, 20, 1)
    notice = separator.crop_notice(how)
    assert notice is not None and "\n" not in notice
    assert "no face was found" in notice and "boxes" in notice
    mixture = np.zeros((1, separator.rate), np.float32)
    jobs = separator.make_jobs(Request(mixture, separator.rate, [blank]))
    assert jobs.notices == [notice]


def test_a_sidecar_without_the_source_names_the_keys(corpus, singing_cache, tmp_path):
    separator = _separator(singing_cache, tmp_path)
    _, video_path = _song(corpus, singing_cache)
    boxes = json.loads(sidecar_path(video_path).read_text())["boxes"]["vocals"]
    sidecar = {"fps": 25, "boxes": {"singer": boxes, "drummer": boxes}, "_where": "boxes"}
    with pytest.raises(ValueError, match=r"no boxes for source 'vocals'.*\['drummer', 'singer'\]"):
        separator.video_frames(VideoInput(open_video(video_path), sidecar))
    only = {"fps": 25, "boxes": {"singer": boxes}}  # one source: it is the singer
    frames, how = separator.video_frames(VideoInput(open_video(video_path), only))
    named, _ = separator.video_frames(VideoInput(open_video(video_path),
                                                 read_sidecar(sidecar_path(video_path))))
    assert how == "boxes" and np.array_equal(frames, named)

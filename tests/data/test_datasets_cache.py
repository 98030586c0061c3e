"""The cache reader and the factory: contract checks and clear errors for bad caches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avsep.data.datasets import load_cache, make_dataset
from avsep.data.datasets.synthetic_cache import SourceArrays, TrackArrays
from avsep.data.records import DataError
from tests.data.cache_factory import frame_numbers, make_demo_cache, tiny_spec, write_cache


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_cache(tmp_path_factory.mktemp("cache"), seed=3)


@pytest.fixture
def copy(demo: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo, tmp_path / "cache"))


def edit_index(root: Path, change) -> None:
    index = json.loads((root / "index.json").read_text())
    change(index)
    (root / "index.json").write_text(json.dumps(index))


def test_index_is_parsed_with_headers(demo: Path) -> None:
    index = load_cache(demo)
    assert index.sample_rate == 8000 and index.fps == 25.0 and index.crop == (16, 16)
    assert index.splits() == ["test", "train", "val"]
    song = next(t for t in index.tracks if t.id == "train-song0")
    vocals = song.by_role("vocals")[0]
    assert (vocals.channels, vocals.samples, vocals.frames) == (1, 32000, 100)
    assert [t.id for t in index.split("val")] == sorted(t.id for t in index.split("val"))


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing index.json") as err:
        make_dataset("singing", tmp_path, tiny_spec(), "train")
    assert err.value.path == tmp_path.resolve() / "index.json"


def test_missing_track_file(copy: Path) -> None:
    victim = copy / "tracks" / "train-song1" / "video" / "vocals.npy"
    victim.unlink()
    with pytest.raises(DataError, match="missing file") as err:
        make_dataset("singing", copy, tiny_spec(), "train")
    assert err.value.path == victim


def test_wrong_dtype_and_crop(copy: Path) -> None:
    # a hand-written index (docs/contracts.md) records no file sizes: the header checks speak
    edit_index(copy, lambda index: [t.pop("files") for t in index["tracks"]])
    audio = copy / "tracks" / "train-song0" / "audio" / "vocals.npy"
    np.save(audio, np.zeros((1, 100), dtype=np.float32))
    with pytest.raises(DataError, match="int16") as err:
        load_cache(copy)
    assert err.value.path == audio
    np.save(audio, np.zeros((1, 100), dtype=np.int16))
    video = copy / "tracks" / "train-song0" / "video" / "vocals.npy"
    np.save(video, np.zeros((10, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="crop") as err:
        load_cache(copy)
    assert err.value.path == video


def test_sample_rate_mismatch(demo: Path) -> None:
    with pytest.raises(DataError, match="16000 Hz") as err:
        make_dataset("singing", demo, tiny_spec(sample_rate=16000), "train")
    assert err.value.path.name == "index.json"
    assert "8000 Hz" in str(err.value)


def test_mono_stereo_mismatch(demo: Path) -> None:
    with pytest.raises(DataError, match="mono/stereo") as err:
        make_dataset("singing", demo, tiny_spec(channels=2), "train")
    assert err.value.path.suffix == ".npy"


def test_clip_longer_than_every_track(demo: Path) -> None:
    with pytest.raises(DataError, match="long enough for a 5 s clip"):
        make_dataset("singing", demo, tiny_spec(clip_seconds=5.0), "train")
    with pytest.raises(DataError, match="long enough"):
        make_dataset("instruments", demo, tiny_spec(clip_seconds=5.0), "train")
    with pytest.raises(DataError, match="long enough"):
        make_dataset("lipsync", demo, tiny_spec(clip_seconds=3.5), "train")


def test_empty_split_and_unknown_instrument(copy: Path) -> None:
    edit_index(copy, lambda ix: [t.update(split="val") for t in ix["tracks"]])
    with pytest.raises(DataError, match="no tracks in split 'train'"):
        make_dataset("singing", copy, tiny_spec(), "train")
    edit_index(copy, lambda ix: ix["tracks"][-1]["sources"][0].update(instrument="banjo"))
    with pytest.raises(DataError, match="unknown instrument 'banjo'"):
        make_dataset("instruments", copy, tiny_spec(), "val")


def test_bad_json_and_version(copy: Path) -> None:
    edit_index(copy, lambda ix: ix.update(version=9))
    with pytest.raises(DataError, match="version 9"):
        load_cache(copy)
    (copy / "index.json").write_text("{not json")
    with pytest.raises(DataError, match="invalid JSON"):
        load_cache(copy)


def test_factory_rejects_unknown_kind_split_option(demo: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset kind 'speech'"):
        make_dataset("speech", demo, tiny_spec(), "train")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        make_dataset("singing", demo, tiny_spec(), "dev")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['num_sources'\]"):
        make_dataset("singing", demo, tiny_spec(), "train", num_sources=3)
    with pytest.raises(ValueError, match="fraction in \\[0, 1\\]"):
        make_dataset("singing", demo, tiny_spec(), "train", extra_vocal_share=50)


def test_arrays_open_lazily(demo: Path) -> None:
    ds = make_dataset("singing", demo, tiny_spec(), "train", length=4)
    assert len(ds.store) == 0
    ds[0]
    assert len(ds.store) >= 2
    assert all(isinstance(a, np.memmap) for a in ds.store._arrays.values())


def test_write_cache_round_trip(tmp_path: Path) -> None:
    audio = np.linspace(-0.5, 0.5, 800, dtype=np.float32)[None]
    track = TrackArrays("t0", "train", [SourceArrays("vocals", "vocals", audio)])
    write_cache(tmp_path, [track], sample_rate=8000)
    stored = np.load(tmp_path / "tracks" / "t0" / "audio" / "vocals.npy")
    assert stored.dtype == np.int16
    np.testing.assert_allclose(stored / 32768.0, audio, atol=1 / 32768)
    assert load_cache(tmp_path).tracks[0].duration_s == pytest.approx(0.1)


def test_cache_fps_crop_and_channels_are_converted(tmp_path: Path) -> None:
    cache = make_demo_cache(tmp_path, fps=50.0, crop=(32, 32), singers={"train": 2},
                            instruments=(), seed=8)
    spec = tiny_spec(clip_seconds=1.0, fps=25.0)  # 16x16 RGB at 25 fps
    ds = make_dataset("lipsync", make_demo_cache(tmp_path / "same", fps=50.0, crop=(16, 16),
                      singers={"train": 2}, instruments=(), seed=8), spec, "train", length=5)
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        frames = frame_numbers(ds.render(recipe)["video"][0].numpy())
        first = recipe.audio_frame + recipe.offset
        np.testing.assert_array_equal(frames, 2 * (first + np.arange(25)))  # every 2nd frame
    gray = make_dataset("singing", cache, tiny_spec(video_channels=1), "train", length=3)
    video = gray[0]["video"].numpy()
    assert video.shape == (1, 25, 1, 16, 16)
    shades = {90, 110}  # the faces of the two singers (equal RGB, so luma keeps them)
    assert int(video[0, 0, 0, 8, 1]) in shades and int(video[0, -1, 0, 15, 15]) in shades


def test_model_needs_video_the_cache_lacks(tmp_path: Path) -> None:
    audio = np.zeros((1, 16000), dtype=np.float32)
    tracks = [TrackArrays(f"t{i}", "train", [SourceArrays("vocals", "vocals", audio),
                                            SourceArrays("acc", "accompaniment", audio)])
              for i in range(2)]
    write_cache(tmp_path, tracks, sample_rate=8000, crop=(16, 16))
    with pytest.raises(DataError, match="needs video but no vocal source"):
        make_dataset("singing", tmp_path, tiny_spec(), "train")
    ds = make_dataset("singing", tmp_path, tiny_spec(video=False), "train", length=2,
                      extra_vocal_share=0.0)
    assert torch.equal(ds[0]["mixture"], torch.zeros(1, 8000))

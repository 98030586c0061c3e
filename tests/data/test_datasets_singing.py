"""Singing voice mixtures: shapes, levels, "v+" share, audio/video alignment, test excerpts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from avsep.data.datasets import SingingDataset, make_dataset
from avsep.data.datasets.mixing import rms
from tests.data.cache_factory import frame_numbers, make_demo_cache, tiny_spec

SPEC = tiny_spec(clip_seconds=1.0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_cache(
        tmp_path_factory.mktemp("singing"), singers={"train": 4, "val": 2, "test": 3},
        extra_vocals=2, instruments=(), seed=1,
    )


def db(x: float) -> float:
    return 20 * np.log10(x)


def test_item_shapes_and_dtypes(cache: Path) -> None:
    ds = make_dataset("singing", cache, SPEC, "train", vad=True, length=3)
    item = ds[1]
    expected = {
        "mixture": ((1, 8000), torch.float32),
        "sources": ((2, 1, 8000), torch.float32),
        "video": ((1, 25, 3, 16, 16), torch.uint8),
        "vad": ((SPEC.stft.num_frames(8000),), torch.float32),
    }
    assert {k: (tuple(v.shape), v.dtype) for k, v in item.items()} == expected
    audio_only = make_dataset("singing", cache, tiny_spec(video=False), "train", length=3)[0]
    assert set(audio_only) == {"mixture", "sources"}


def test_mixture_is_sum_and_levels(cache: Path) -> None:
    ds = make_dataset(
        "singing", cache, SPEC, "train", snr_db=(-6.0, 6.0), extra_vocal_share=0.0,
        level_db=-23.0, length=30,
    )
    snrs = []
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        item = ds.render(recipe)
        vocal, acc = item["sources"].numpy()
        np.testing.assert_allclose(item["mixture"].numpy(), vocal + acc, atol=1e-5)
        assert db(rms(vocal)) == pytest.approx(-23.0, abs=0.1)
        assert db(rms(vocal) / rms(acc)) == pytest.approx(recipe.snr_db, abs=0.1)
        snrs.append(recipe.snr_db)
    assert -6.0 <= min(snrs) < -2.0 and 2.0 < max(snrs) <= 6.0


def test_extra_vocal_share_and_level(cache: Path) -> None:
    ds = make_dataset("singing", cache, SPEC, "train", extra_vocal_share=0.3, length=1500,
                      extra_vocal_db=-3.0)
    recipes = [ds.recipe(i) for i in range(len(ds))]
    share = np.mean([r.extra is not None for r in recipes])
    assert share == pytest.approx(0.3, abs=0.035)
    for r in recipes:
        if r.extra is not None and r.extra[1].role == "vocals":  # another singer
            assert r.extra[0].id != r.target[0].id
            assert r.extra[0].performer != r.target[0].performer
    with_extra = next(r for r in recipes if r.extra is not None)
    full = ds.render(with_extra)["sources"].numpy()
    plain = ds.render(dataclasses.replace(with_extra, extra=None))["sources"].numpy()
    extra = full[1] - plain[1]
    np.testing.assert_allclose(full[0], plain[0])
    assert db(rms(extra) / rms(full[0])) == pytest.approx(-3.0, abs=0.1)
    roles = {r.extra[1].role for r in recipes if r.extra is not None}
    assert roles == {"vocals", "extra_vocals"}


def test_mouth_frames_cover_the_audio_window(cache: Path) -> None:
    ds = make_dataset("singing", cache, tiny_spec(clip_seconds=2.56, fps=25.0), "train", length=20)
    assert ds.frames_per_clip == 64
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        item = ds.render(recipe)
        frames = frame_numbers(item["video"][0].numpy())
        np.testing.assert_array_equal(frames, recipe.window.frame + np.arange(64))
        assert recipe.window.start == recipe.window.frame * 8000 // 25
        source = ds.store.audio(recipe.target[1], recipe.window.start, ds.clip)
        vocal = item["sources"][0].numpy()
        scale = rms(vocal) / rms(source)
        np.testing.assert_allclose(vocal, source * scale, atol=1e-5)


def test_own_accompaniment_pairing(cache: Path) -> None:
    ds = make_dataset("singing", cache, SPEC, "train", random_pairing=False, length=10)
    for i in range(len(ds)):
        r = ds.recipe(i)
        assert r.accompaniment.track.id == r.target[0].id
        assert r.accompaniment_start == r.window.start
    test = make_dataset("singing", cache, SPEC, "test", random_pairing=False, condition="plain")
    for r in (test.recipe(i) for i in range(len(test))):
        assert r.accompaniment.track.id == r.target[0].id and r.window.start == 0


def test_test_set_excerpts_plain_then_vplus(cache: Path) -> None:
    ds = make_dataset("singing", cache, SPEC, "test", test_seconds=3.0)
    assert isinstance(ds, SingingDataset) and len(ds) == 6
    recipes = [ds.recipe(i) for i in range(6)]
    assert [r.extra is not None for r in recipes] == [False] * 3 + [True] * 3
    assert len({r.accompaniment.track.id for r in recipes[:3]}) == 3  # a bijection
    for plain, vplus in zip(recipes[:3], recipes[3:], strict=True):
        assert plain.window == vplus.window and plain.snr_db == 0.0
        item = ds.render(vplus)
        assert item["mixture"].shape == (1, 24000) and item["video"].shape[1] == 75
        vocal, acc = item["sources"].numpy()
        extra = acc - ds.render(plain)["sources"][1].numpy()
        assert db(rms(extra) / rms(vocal)) == pytest.approx(0.0, abs=0.1)
    whole = make_dataset("singing", cache, SPEC, "test", condition="plain")
    assert len(whole) == 3 and whole[0]["mixture"].shape == (1, 32000)  # capped at 4 s tracks

"""Validation/test items are real mixtures; training stays random; num_sources caps; peak_mean."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from avsep.data.datasets import load_cache, make_dataset
from avsep.data.datasets.mixing import peak, rms
from avsep.data.records import URMP_INSTRUMENTS, DataError
from tests.data.cache_factory import (
    SourceArrays,
    TrackArrays,
    make_demo_cache,
    tiny_spec,
    write_cache,
)

SPEC = tiny_spec(clip_seconds=1.0)
AUDIO = tiny_spec(clip_seconds=1.0, video=False)
QUARTET = ("violin", "flute", "trumpet", "cello")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Songs with their own mix, and 4 instruments: a solo each and 2 ensembles per split."""
    return make_demo_cache(
        tmp_path_factory.mktemp("real"), singers={"train": 3, "val": 2, "test": 2},
        extra_vocals=1, instruments=QUARTET, solos=1, ensembles=2, seed=4,
    )


def mix_file(ds, track, start: int, length: int) -> np.ndarray:
    return ds.store.mixture(track, start, length)


def test_cached_mix_files_are_parsed(cache: Path) -> None:
    index = load_cache(cache)
    ensembles = [t for t in index.tracks if "ensemble" in t.id]
    solos = [t for t in index.tracks if "solo" in t.id]
    assert len(ensembles) == 6 and all(t.mixture is not None for t in ensembles)
    assert all(t.mixture is None for t in solos)
    assert all(t.mixture is not None for t in index.tracks if "song" in t.id)


@pytest.mark.parametrize("layout", ["instruments", "slots"])
def test_instrument_validation_items_are_windows_of_real_ensembles(cache: Path, layout) -> None:
    options = {"source_names": URMP_INSTRUMENTS} if layout == "instruments" else \
        {"num_sources": (2, 4)}
    ds = make_dataset("instruments", cache, SPEC, "val", seed=3, length=12, **options)
    assert ds.ensembles and {e.track.id for e in ds.ensembles} <= {"val-ensemble0",
                                                                   "val-ensemble1"}
    starts = set()
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        item = ds.render(recipe)
        track = recipe.parts[0].pick[0]
        assert {p.pick[0].id for p in recipe.parts} == {track.id}  # one piece, all its parts
        assert len(recipe.parts) == len(track.by_role("instrument"))
        start = recipe.parts[0].window.start
        assert {p.window.start for p in recipe.parts} == {start}  # at the same instant
        starts.add(start)
        mixture, sources = item["mixture"].numpy(), item["sources"].numpy()
        np.testing.assert_allclose(sources.sum(0), mixture, atol=1e-4)
        np.testing.assert_allclose(mix_file(ds, track, start, ds.clip), mixture, atol=1e-4)
        for part in recipe.parts:  # each part at its recorded level, in its slot
            raw = ds.store.audio(part.pick[1], start, ds.clip)
            np.testing.assert_array_equal(sources[part.slot], raw)
        present = sorted(URMP_INSTRUMENTS.index(p.instrument) for p in recipe.parts)
        assert list(np.flatnonzero(item["labels"].numpy())) == present
        assert int(item["num_sources"]) == len(recipe.parts)
        if layout == "instruments":
            assert sorted(p.slot for p in recipe.parts) == present
            absent = [k for k in range(13) if k not in present]
            assert not item["sources"][absent].any() and not item["video"][absent].any()
    assert len(starts) >= 6  # seeded offsets, not the first window again and again
    other = make_dataset("instruments", cache, SPEC, "val", seed=4, length=12, **options)
    assert [other.recipe(i).parts[0].window.start for i in range(12)] != \
        [ds.recipe(i).parts[0].window.start for i in range(12)]


def test_sub_ensembles_when_the_model_has_fewer_slots_than_players(cache: Path) -> None:
    largest = max(len(t.by_role("instrument")) for t in load_cache(cache).split("val")
                  if "ensemble" in t.id)
    assert largest > 2
    with pytest.warns(UserWarning, match="sub-ensembles of 2 parts"):
        ds = make_dataset("instruments", cache, SPEC, "val", num_sources=2, length=20)
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        item = ds.render(recipe)
        assert len(recipe.parts) == 2 == int(item["num_sources"])
        assert len({p.pick[0].id for p in recipe.parts}) == 1  # two parts of one real piece
        np.testing.assert_allclose(item["sources"].numpy().sum(0), item["mixture"].numpy(),
                                   atol=1e-4)


def test_test_items_are_the_real_mix(cache: Path) -> None:
    ds = make_dataset("instruments", cache, SPEC, "test", source_names=URMP_INSTRUMENTS)
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        item = ds.render(recipe)
        track, start = recipe.parts[0].pick[0], recipe.parts[0].window.start
        np.testing.assert_allclose(item["sources"].numpy().sum(0), item["mixture"].numpy(),
                                   atol=1e-4)
        np.testing.assert_allclose(mix_file(ds, track, start, ds.clip), item["mixture"].numpy(),
                                   atol=1e-4)


def test_training_stays_random(cache: Path) -> None:
    ds = make_dataset("instruments", cache, SPEC, "train", num_sources=(2, 4), length=30)
    recipes = [ds.recipe(i) for i in range(len(ds))]
    assert {r.mixing for r in recipes} == {"rms"}
    # parts come from different tracks at independent instants, levelled to -20 dBFS RMS
    assert sum(len({p.pick[0].id for p in r.parts}) > 1 for r in recipes) >= 25
    assert sum(len({p.window.start for p in r.parts}) > 1 for r in recipes) >= 25
    item = ds.render(recipes[0])
    for part in recipes[0].parts:
        assert 20 * np.log10(rms(item["sources"][part.slot].numpy())) == \
            pytest.approx(-20.0, abs=0.1)
    ds.set_epoch(1)
    assert [ds.recipe(i) for i in range(5)] != recipes[:5]
    real_off = make_dataset("instruments", cache, SPEC, "val", num_sources=(2, 4), length=5,
                            real_mixtures=False)
    assert not real_off.ensembles and real_off.recipe(0).mixing == "rms"


def test_num_sources_is_capped_to_the_instruments_of_the_split(cache: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        ds = make_dataset("instruments", cache, SPEC, "train", num_sources=(2, 7), length=40)
    message = str(caught[0].message)
    assert "data.options.num_sources" in message and "capped to 2..4" in message
    assert ds.num_sources == (2, 4)
    counts = [int(ds[i]["num_sources"]) for i in range(len(ds))]
    assert min(counts) == 2 and max(counts) == 4
    assert ds[0]["sources"].shape[0] == 7  # the model's slots stay as asked
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # within range: no warning
        make_dataset("instruments", cache, SPEC, "train", num_sources=(2, 4), length=4)


def test_fewer_than_two_instruments_is_an_error_naming_the_key(tmp_path: Path) -> None:
    solo = make_demo_cache(tmp_path, singers={"train": 0}, extra_vocals=0,
                           instruments=("violin",), solos=2, ensembles=0, seed=5)
    with pytest.raises(DataError, match=r"data\.options\.num_sources") as err:
        make_dataset("instruments", solo, SPEC, "train", num_sources=(2, 3))
    assert "1 different instrument" in str(err.value)


def test_peak_mean_mixing(cache: Path) -> None:
    ds = make_dataset("instruments", cache, SPEC, "train", mixing="peak_mean",
                      source_names=URMP_INSTRUMENTS, num_sources=(2, 4), length=20)
    seen = set()
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        item = ds.render(recipe)
        n = len(recipe.parts)
        seen.add(n)
        sources = item["sources"].numpy()
        for part in recipe.parts:
            assert peak(sources[part.slot]) == pytest.approx(1.0 / n, rel=1e-5)
        np.testing.assert_allclose(sources.sum(0), item["mixture"].numpy(), atol=1e-6)
        assert np.abs(item["mixture"].numpy()).max() <= 1.0
    assert seen == {2, 3, 4}
    with pytest.raises(ValueError, match=r"data\.options\.mixing"):
        make_dataset("instruments", cache, SPEC, "train", mixing="loudness")


def test_the_conditioned_unet_gets_peak_mean_mixing() -> None:
    from avsep.models import build
    from avsep.platform.data import model_dataset_options

    with torch.device("meta"):
        cunet = build({"name": "cunet", "preset": "tiny"})
        sop = build({"name": "sop", "preset": "tiny"})
    options = model_dataset_options(cunet, {})
    assert options["mixing"] == "peak_mean" and options["source_names"] == URMP_INSTRUMENTS
    assert model_dataset_options(cunet, {"mixing": "rms"})["mixing"] == "rms"
    assert "mixing" not in model_dataset_options(sop, {})


@pytest.mark.parametrize("split", ["val", "test"])
def test_singing_items_are_songs_with_their_own_accompaniment(cache: Path, split: str) -> None:
    ds = make_dataset("singing", cache, SPEC, split, seed=2, length=16, extra_vocal_share=0.5,
                      test_seconds=2.0)
    plain = vplus = 0
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        item = ds.render(recipe)
        track = recipe.target[0]
        assert recipe.recorded and recipe.accompaniment.track.id == track.id
        assert recipe.accompaniment_start == recipe.window.start
        vocal, accompaniment = item["sources"].numpy()
        np.testing.assert_allclose(vocal + accompaniment, item["mixture"].numpy(), atol=1e-4)
        own = mix_file(ds, track, recipe.window.start, recipe.length)
        raw_vocal = ds.store.audio(recipe.target[1], recipe.window.start, recipe.length)
        np.testing.assert_array_equal(vocal, raw_vocal)  # the recorded level
        if recipe.extra is None:
            plain += 1
            np.testing.assert_allclose(own, item["mixture"].numpy(), atol=1e-4)
        else:  # "v+": the song's own mix plus an extra vocal at the target's RMS
            vplus += 1
            extra = item["mixture"].numpy() - own
            assert 20 * np.log10(rms(extra) / rms(vocal)) == pytest.approx(0.0, abs=0.2)
    assert plain >= 2 and vplus >= 2


def test_singing_training_stays_random(cache: Path) -> None:
    ds = make_dataset("singing", cache, SPEC, "train", length=30, extra_vocal_share=0.0)
    recipes = [ds.recipe(i) for i in range(len(ds))]
    assert not any(r.recorded for r in recipes)
    assert sum(r.accompaniment.track.id != r.target[0].id for r in recipes) >= 10
    item = ds.render(recipes[0])
    assert 20 * np.log10(rms(item["sources"][0].numpy())) == pytest.approx(-20.0, abs=0.1)
    randmix = make_dataset("singing", cache, SPEC, "val", length=30, real_mixtures=False,
                           extra_vocal_share=0.0)
    assert not any(randmix.recipe(i).recorded for i in range(len(randmix)))


def test_vocals_without_own_accompaniment_fall_back_to_random_pairs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def noise() -> np.ndarray:
        return (0.1 * rng.standard_normal((1, 16000))).astype(np.float32)

    tracks = [TrackArrays(f"val-{kind}{i}", "val", [SourceArrays(kind, kind, noise())])
              for kind in ("vocals", "accompaniment") for i in range(2)]
    write_cache(tmp_path, tracks, sample_rate=8000)
    with pytest.warns(UserWarning, match="no vocal with its own accompaniment"):
        ds = make_dataset("singing", tmp_path, AUDIO, "val", length=4, extra_vocal_share=0.0)
    recipe = ds.recipe(0)
    assert not recipe.recorded and recipe.accompaniment.track.id != recipe.target[0].id

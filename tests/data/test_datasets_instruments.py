"""Multi-instrument mixtures: labels, clamping, levels, slots, curriculum, visual context."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from avsep.data.datasets import make_dataset
from avsep.data.datasets.mixing import rms
from avsep.data.records import URMP_INSTRUMENTS, DataError
from tests.data.cache_factory import frame_numbers, make_demo_cache, tiny_spec

SPEC = tiny_spec(clip_seconds=1.0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_cache(
        tmp_path_factory.mktemp("instruments"), singers={"train": 0, "val": 0, "test": 0},
        extra_vocals=0, solos=2, ensembles=2, seed=2,
    )


def instrument_of(video_slot: np.ndarray) -> int:
    """The instrument a player picture shows: its shade is 30 + 15 k (see synthetic_cache)."""
    return (int(video_slot[0, 0, 4, 12]) - 30) // 15


def test_item_shapes_and_dtypes(cache: Path) -> None:
    item = make_dataset("instruments", cache, SPEC, "train", length=2)[0]
    expected = {
        "mixture": ((1, 8000), torch.float32),
        "sources": ((7, 1, 8000), torch.float32),
        "labels": ((13,), torch.float32),
        "num_sources": ((), torch.int64),
        "video": ((7, 25, 3, 16, 16), torch.uint8),
    }
    assert {k: (tuple(v.shape), v.dtype) for k, v in item.items()} == expected


def test_labels_match_the_drawn_instruments(cache: Path) -> None:
    ds = make_dataset("instruments", cache, SPEC, "train", num_sources=(2, 5), length=40)
    counts = []
    for i in range(len(ds)):
        item = ds[i]
        n = int(item["num_sources"])
        counts.append(n)
        shown = sorted(instrument_of(item["video"][s].numpy()) for s in range(n))
        assert sorted(np.flatnonzero(item["labels"].numpy())) == shown
        assert len(set(shown)) == n  # different instruments
        assert torch.all(item["sources"][n:] == 0) and torch.all(item["video"][n:] == 0)
        assert all(rms(item["sources"][s].numpy()) > 0 for s in range(n))
    assert min(counts) == 2 and max(counts) == 5


def test_rms_normalised_sources_and_clamped_mixture(cache: Path) -> None:
    quiet = make_dataset("instruments", cache, SPEC, "train", level_db=-30.0, length=10)
    for i in range(len(quiet)):
        item = quiet[i]
        sources = item["sources"].numpy()
        np.testing.assert_allclose(item["mixture"].numpy(), sources.sum(0), atol=1e-5)
        for s in range(int(item["num_sources"])):
            assert 20 * np.log10(rms(sources[s])) == pytest.approx(-30.0, abs=0.1)
    loud = make_dataset("instruments", cache, SPEC, "train", level_db=-3.0, num_sources=7,
                        length=5)
    item = loud[0]
    total = item["sources"].numpy().sum(0)
    assert np.abs(total).max() > 1.2  # the sum leaves [-1, 1] ...
    np.testing.assert_array_equal(item["mixture"].numpy(), np.clip(total, -1, 1))  # ... clamped


def test_instrument_layout_puts_each_instrument_in_its_slot(cache: Path) -> None:
    ds = make_dataset("instruments", cache, SPEC, "train", source_names=URMP_INSTRUMENTS,
                      length=10)
    for i in range(len(ds)):
        item = ds[i]
        assert item["sources"].shape == (13, 1, 8000)
        filled = [k for k in range(13) if rms(item["sources"][k].numpy()) > 0]
        assert filled == list(np.flatnonzero(item["labels"].numpy()))
        assert all(instrument_of(item["video"][k].numpy()) == k for k in filled)


def test_single_frame_visual_context_is_the_centre_frame(cache: Path) -> None:
    ds = make_dataset("instruments", cache, SPEC, "train", visual_context="frame", length=5)
    recipe = ds.recipe(3)
    item = ds.render(recipe)
    assert item["video"].shape == (7, 1, 3, 16, 16)
    for part in recipe.parts:
        assert frame_numbers(item["video"][part.slot].numpy())[0] == part.window.frame + 12


def test_curriculum_grows_with_epoch_in_persistent_workers(cache: Path) -> None:
    ds = make_dataset("instruments", cache, tiny_spec(video=False), "train", num_sources=(2, 6),
                      curriculum=2, length=24)
    loader = DataLoader(ds, batch_size=8, num_workers=2, persistent_workers=True)
    most = {}
    for epoch in (0, 2, 5, 20):
        ds.set_epoch(epoch)
        most[epoch] = max(int(n) for batch in loader for n in batch["num_sources"])
    assert most == {0: 2, 2: 3, 5: 4, 20: 6}


def test_test_set_is_sequential_real_ensembles(cache: Path) -> None:
    ds = make_dataset("instruments", cache, SPEC, "test")
    ensembles = [t for t in ds.tracks if t.id.startswith("test-ensemble")]
    assert len(ds) == 4 * len(ensembles)  # 4 s tracks, 1 s clips
    starts = [ds.recipe(i).parts[0].window.start for i in range(4)]
    assert starts == [0, 8000, 16000, 24000]
    recipe = ds.recipe(1)
    item = ds.render(recipe)
    for part in recipe.parts:
        raw = ds.store.audio(part.pick[1], part.window.start, 8000)
        np.testing.assert_array_equal(item["sources"][part.slot].numpy(), raw)
    assert int(item["num_sources"]) == len(recipe.parts) >= 2
    largest = max(len(t.by_role("instrument")) for t in ensembles)
    trios = make_dataset("instruments", cache, SPEC, "test", num_sources=(2, largest))
    assert len(trios) == len(ds) and trios[0]["sources"].shape[0] == largest
    # a model with fewer source slots than the players of every test ensemble has nothing to
    # be scored on: said plainly, instead of feeding it more streams than it has
    smallest = min(len(t.by_role("instrument")) for t in ensembles)
    assert smallest > 2
    with pytest.raises(DataError, match="no test ensemble"):
        make_dataset("instruments", cache, SPEC, "test", num_sources=2)

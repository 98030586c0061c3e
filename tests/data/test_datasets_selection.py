"""Test-set selection: N independent excerpts with every condition, never the first N rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from avsep.data.datasets import TestSelection, make_dataset, select_test_items
from tests.data.cache_factory import make_demo_cache, tiny_spec

SPEC = tiny_spec(clip_seconds=1.0)


@pytest.fixture(scope="module")
def singing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten test songs (plain and v+ each: 20 test items)."""
    return make_demo_cache(
        tmp_path_factory.mktemp("singing10"), singers={"train": 1, "val": 1, "test": 10},
        extra_vocals=2, instruments=(), seconds=2.0, seed=3,
    )


@pytest.fixture(scope="module")
def urmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three test ensembles of 4 s (4 one-second segments each)."""
    return make_demo_cache(
        tmp_path_factory.mktemp("ensembles"), singers={"train": 0, "val": 0, "test": 0},
        extra_vocals=0, solos=1, ensembles=3, seed=2,
    )


def test_singing_test_set_of_10_tracks_with_8_items_holds_vplus(singing: Path) -> None:
    ds = make_dataset("singing", singing, SPEC, "test", test_seconds=2.0)
    assert len(ds) == 20
    # the first 8 rows, the old protocol: all plain, 8 songs, no v+ at all
    assert {ds.condition_of(i) for i in range(8)} == {"plain"}
    chosen = TestSelection.of(ds, excerpts=8, seed=0)
    assert len(chosen) == 16 and len(chosen.excerpts) == 8
    per_excerpt = Counter((chosen.excerpt_of(i), chosen.condition_of(i))
                          for i in range(len(chosen)))
    assert set(per_excerpt.values()) == {1}
    assert Counter(c for _, c in per_excerpt) == {"plain": 8, "v+": 8}
    # both conditions of one excerpt are the same window of the same song
    for i in range(8):
        plain, vplus = chosen.recipe(i), chosen.recipe(i + 8)
        assert chosen.excerpt_of(i) == chosen.excerpt_of(i + 8)
        assert plain.window == vplus.window and plain.extra is None and vplus.extra is not None
    # an item of the selection is the dataset's item
    assert chosen[3]["mixture"].equal(ds[chosen.indices[3]]["mixture"])


def test_selection_is_seeded_and_all_by_default(singing: Path) -> None:
    ds = make_dataset("singing", singing, SPEC, "test", test_seconds=2.0)
    assert select_test_items(ds) == list(range(20))
    assert select_test_items(ds, 10) == list(range(20))  # as many excerpts as the split has
    first = select_test_items(ds, 3, seed=1)
    assert first == select_test_items(ds, 3, seed=1) and len(first) == 6
    draws = {tuple(select_test_items(ds, 3, seed=s)) for s in range(6)}
    assert len(draws) > 1  # the seed moves the draw
    with pytest.raises(ValueError, match=">= 1"):
        select_test_items(ds, 0)


def test_urmp_items_come_from_distinct_pieces(urmp: Path) -> None:
    ds = make_dataset("instruments", urmp, SPEC, "test")
    pieces = Counter(ds.excerpt_of(i) for i in range(len(ds)))
    assert len(pieces) == 3 and set(pieces.values()) == {4}  # 4 one-second segments per piece
    # the first 2 rows are 2 seconds of one piece; 2 excerpts are 2 whole pieces
    assert len({ds.excerpt_of(i) for i in range(2)}) == 1
    chosen = TestSelection.of(ds, excerpts=2, seed=0)
    assert len(chosen.excerpts) == 2 and len(chosen) == 8
    assert all(ds.condition_of(i) == "all" for i in range(len(ds)))


def test_restrict_split_keeps_n_singers_of_the_test_split(singing: Path) -> None:
    from avsep.data.datasets import load_cache
    from avsep.data.datasets.selection import restrict_split

    index = load_cache(singing)
    three = restrict_split(index, "test", 3, "vocals", seed=0)
    kept = [t.id for t in three.split("test")]
    assert len(kept) == 3 and all(t.by_role("vocals") for t in three.split("test"))
    assert three.split("train") == index.split("train")  # other splits untouched
    assert [t.id for t in restrict_split(index, "test", 3, "vocals", 0).split("test")] == kept
    assert restrict_split(index, "test", None, "vocals") is index
    assert restrict_split(index, "test", 50, "vocals") is index
    ds = make_dataset("singing", three, SPEC, "test", test_seconds=2.0)
    assert len(ds) == 6  # the restricted index is a cache the datasets read

"""Fixed validation/test sets: identical across constructions and DataLoader worker counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from avsep.data.datasets import make_dataset
from tests.data.cache_factory import make_demo_cache, tiny_spec

SPEC = tiny_spec(clip_seconds=1.0)
KINDS = {
    "singing": {"vad": True},
    "instruments": {"num_sources": (2, 4)},
    "vad": {},
    "lipsync": {},
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_cache(
        tmp_path_factory.mktemp("fixed"), singers={"train": 3, "val": 3, "test": 3},
        instruments=("violin", "flute", "trumpet", "cello", "oboe"), seed=6,
    )


def spec_for(kind: str):
    return tiny_spec(video=False) if kind == "vad" else SPEC


def items(ds, count: int | None = None) -> list[dict[str, torch.Tensor]]:
    return [ds[i] for i in range(count or len(ds))]


def assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            assert torch.equal(x[key], y[key]), key


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("split", ["val", "test"])
def test_fixed_sets_are_identical_across_constructions(cache: Path, kind: str, split: str) -> None:
    first = make_dataset(kind, cache, spec_for(kind), split, seed=11, length=12, **KINDS[kind])
    second = make_dataset(kind, cache, spec_for(kind), split, seed=11, length=12, **KINDS[kind])
    second.set_epoch(5)  # no effect on fixed sets
    assert_same(items(first), items(second))
    other_seed = make_dataset(kind, cache, spec_for(kind), split, seed=12, length=12,
                              **KINDS[kind])
    if split == "val" or kind == "lipsync":
        assert not torch.equal(first[0]["mixture"], other_seed[0]["mixture"])


def test_training_draws_depend_on_epoch_only(cache: Path) -> None:
    ds = make_dataset("singing", cache, SPEC, "train", length=6)
    epoch0 = items(ds)
    ds.set_epoch(1)
    epoch1 = items(ds)
    assert not torch.equal(epoch0[0]["mixture"], epoch1[0]["mixture"])
    ds.set_epoch(0)
    assert_same(epoch0, items(ds))


@pytest.mark.parametrize("kind,split", [("singing", "test"), ("instruments", "val"),
                                        ("lipsync", "val")])
def test_two_workers_yield_what_zero_workers_yield(cache: Path, kind: str, split: str) -> None:
    ds = make_dataset(kind, cache, SPEC, split, length=10, **KINDS[kind])
    batch = 1 if split == "test" else 4
    serial = list(DataLoader(ds, batch_size=batch, num_workers=0))
    ds.store = type(ds.store)()  # forget the parent's maps before forking
    parallel = list(DataLoader(ds, batch_size=batch, num_workers=2))
    assert len(ds.store) == 0  # the workers opened their own maps, the parent none
    assert_same(serial, parallel)

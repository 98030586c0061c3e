"""The synthetic URMP part can be learned from: at the default size and at the size the tiny
presets are measured on (benchmarks/tiny_presets.py, ``avsep synth --minutes 20``), every
instrument of a validation or test piece is played in some training piece."""

from __future__ import annotations

import pytest

from avsep.data.records import URMP_INSTRUMENTS
from avsep.data.synth import DEFAULT_MINUTES, DEFAULT_TRACK_SECONDS
from avsep.data.synth.corpus import plan


def instruments_per_split(minutes: float, seed: int) -> dict[str, set[str]]:
    pieces = plan(seed, minutes, DEFAULT_TRACK_SECONDS).pieces
    return {split: {i for p in pieces if p.split == split for i in p.instruments}
            for split in ("train", "val", "test")}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("minutes", [DEFAULT_MINUTES, 20.0])
def test_held_out_instruments_are_trained_on(minutes: float, seed: int):
    held = instruments_per_split(minutes, seed)
    assert held["val"] <= held["train"], held["val"] - held["train"]
    assert held["test"] <= held["train"], held["test"] - held["train"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_measurement_corpus_holds_every_instrument_in_every_split(seed: int):
    held = instruments_per_split(20.0, seed)
    for split, names in held.items():
        assert names == set(URMP_INSTRUMENTS), (split, set(URMP_INSTRUMENTS) - names)

"""End to end: ``avsep synth`` -> ``avsep prepare`` -> every mixing dataset (slow: ~1 min)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from avsep.audio.stft import STFTConfig
from avsep.cli import main
from avsep.data.datasets import make_dataset
from avsep.data.records import URMP_INSTRUMENTS
from avsep.models.base import ModelSpec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("e2e")
    corpus = root / "corpus"
    assert main(["synth", "--out", str(corpus), "--minutes", "1", "--track-seconds", "8",
                 "--quiet"]) == 0
    out = {}
    for name, layout, rate in (("singing", "avsep_synth", 16000), ("urmp", "urmp", 11025)):
        out[name] = root / f"{name}_cache"
        assert main(["prepare", "--layout", layout, "--root", str(corpus / name), "--out",
                     str(out[name]), "--sample-rate", str(rate), "--fps", "25", "--crop",
                     "64x64"]) == 0
    return out


SINGING = ModelSpec(STFTConfig(16000, 1024, 256), 4.0, 25.0, 100, (64, 64), 3, 1)  # Y-Net
CASES = [
    ("singing", "singing", SINGING, {"vad": True}),
    ("vad", "singing", ModelSpec(STFTConfig(16000, 1024, 320), 2.0), {}),
    ("lipsync", "singing", ModelSpec(STFTConfig(16000, 800, 200), 0.2, 25.0, 5, (48, 96)), {}),
    ("instruments", "urmp", ModelSpec(STFTConfig(11025, 1022, 256), 6.0, 25.0, 150, (64, 64)),
     {"num_sources": (2, 2), "visual_context": "frame"}),
]


@pytest.mark.parametrize("kind,cache,spec,options", CASES, ids=[c[0] for c in CASES])
def test_every_dataset_reads_a_prepared_synthetic_corpus(caches, kind, cache, spec, options):
    for split in ("train", "val", "test"):
        if kind == "instruments" and split == "test":  # the real ensembles: 2-4 players
            options = {**options, "num_sources": (2, 4)}
        ds = make_dataset(kind, caches[cache], spec, split, **options)
        batch = next(iter(DataLoader(ds, batch_size=1 if split == "test" else 2,
                                     num_workers=2)))
        assert batch["mixture"].dtype == torch.float32
        assert batch["mixture"].shape[1] == 1
        assert torch.isfinite(batch["mixture"]).all() and batch["mixture"].abs().max() > 0
        if "video" in batch:
            assert batch["video"].dtype == torch.uint8
            assert batch["video"].shape[-3:] == (3, *spec.crop)
        if kind == "instruments":
            counts = batch["labels"].sum(1)
            assert torch.equal(counts, batch["num_sources"].float())
            assert counts.tolist() == [2.0, 2.0] if split != "test" else 2 <= counts.item() <= 4
        if "vad" in batch:
            assert 0.1 < float(batch["vad"].mean()) < 0.99  # from the cached annotation


def test_validation_items_are_the_prepared_corpus_own_mixes(caches):
    """URMP ``AuMix`` and the songs' ``mixture.wav``, as prepared, are the validation mixtures
    (their stems sum to them up to the int16 rounding of each stored file)."""
    urmp = make_dataset("instruments", caches["urmp"], CASES[3][2], "val", length=4,
                        source_names=URMP_INSTRUMENTS, visual_context="frame")
    songs = make_dataset("singing", caches["singing"], SINGING, "val", length=4,
                         extra_vocal_share=0.0)
    for ds in (urmp, songs):
        for i in range(len(ds)):
            recipe = ds.recipe(i)
            item = ds.render(recipe)
            if ds is urmp:
                track, start = recipe.parts[0].pick[0], recipe.parts[0].window.start
                assert len(recipe.parts) == len(track.by_role("instrument"))
            else:
                track, start = recipe.target[0], recipe.window.start
            own = ds.store.mixture(track, start, item["mixture"].shape[-1])
            np.testing.assert_allclose(item["mixture"].numpy(), own, atol=2e-4)
            np.testing.assert_allclose(item["sources"].numpy().sum(0), own, atol=2e-4)

"""Lip-sync pairs (VocaLiST) and frame-level vocal activity labels (Swaminathan & Lerch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avsep.audio.stft import STFTConfig
from avsep.data.datasets import make_dataset
from avsep.data.datasets.activity import annotation_labels, energy_labels, perturb
from avsep.data.datasets.mixing import rms
from tests.data.cache_factory import frame_numbers, make_demo_cache, tiny_spec

SPEC = tiny_spec(clip_seconds=0.2)  # VocaLiST: 5 frames at 25 fps


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_cache(
        tmp_path_factory.mktemp("sync"), singers={"train": 3, "val": 1, "test": 1},
        extra_vocals=1, instruments=(), vad_annotation=True, seed=4,
    )


def test_lipsync_pairs(cache: Path) -> None:
    ds = make_dataset("lipsync", cache, SPEC, "train", min_offset=3, max_offset=15, length=400)
    item = ds[0]
    expected = {
        "mixture": ((1, 1600), torch.float32),
        "video": ((1, 5, 3, 16, 16), torch.uint8),
        "offset": ((), torch.int64),
        "sync": ((), torch.float32),
    }
    assert {k: (tuple(v.shape), v.dtype) for k, v in item.items()} == expected
    offsets, syncs = [], []
    for i in range(len(ds)):
        recipe = ds.recipe(i)
        offsets.append(recipe.offset)
        syncs.append(recipe.offset == 0)
        if i < 40:
            item = ds.render(recipe)
            assert float(item["sync"]) == (1.0 if recipe.offset == 0 else 0.0)
            assert int(item["offset"]) == recipe.offset
            frames = frame_numbers(item["video"][0].numpy())
            np.testing.assert_array_equal(frames, recipe.audio_frame + recipe.offset + np.arange(5))
            start = recipe.audio_frame * 8000 // 25
            raw = ds.store.audio(recipe.pick[1], start, 1600)
            np.testing.assert_allclose(item["mixture"].numpy(), raw * (rms(item["mixture"].numpy())
                                       / rms(raw)), atol=1e-5)
    shifted = np.array([o for o in offsets if o != 0])
    assert np.mean(syncs) == pytest.approx(0.5, abs=0.08)
    assert 3 <= np.abs(shifted).min() and np.abs(shifted).max() <= 15
    assert (shifted > 0).mean() == pytest.approx(0.5, abs=0.1)


def test_energy_labels_follow_the_voice() -> None:
    config = STFTConfig(8000, 256, 64)
    voice = np.zeros((1, 8000), dtype=np.float32)
    voice[0, 2000:5000] = np.sin(np.arange(3000) * 0.3)  # active 0.25 s .. 0.625 s
    labels = energy_labels(voice, config)
    centres = np.arange(len(labels)) * 64
    assert len(labels) == config.num_frames(8000) == 126
    inside = (centres >= 2000 + 128) & (centres < 5000 - 128)
    outside = (centres < 2000 - 128) | (centres >= 5000 + 128)
    assert labels[inside].min() == 1 and labels[outside].max() == 0


def test_annotation_labels_at_frame_centres() -> None:
    config = STFTConfig(8000, 256, 64)
    values = np.zeros(200, dtype=np.float32)  # 2 s at 100 Hz
    values[50:120] = 1.0  # 0.5 s .. 1.2 s
    labels = annotation_labels(values, 100.0, start=4000, num_samples=4000, config=config)
    times = 0.5 + np.arange(len(labels)) * 64 / 8000
    np.testing.assert_array_equal(labels, ((times >= 0.5) & (times < 1.2)).astype(np.float32))


@pytest.mark.parametrize("segment", [1, 7])
def test_perturb_flips_the_requested_share(segment: int) -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(500) > 0.4).astype(np.float32)
    for fraction in (0.0, 0.05, 0.2, 0.5):
        flipped = perturb(labels, fraction, rng, segment) != labels
        assert flipped.sum() == round(fraction * 500)
        runs = np.sum(np.diff(np.concatenate([[0], flipped.astype(int)])) == 1)
        assert runs <= -(-round(fraction * 500) // segment)  # contiguous runs of `segment`
        if segment == 1 and fraction == 0.2:
            assert runs > 60  # scattered single frames


def test_vad_dataset_labels_and_perturbation(cache: Path) -> None:
    spec = tiny_spec(clip_seconds=1.0, video=False)
    clean = make_dataset("vad", cache, spec, "train", length=20)
    noisy = make_dataset("vad", cache, spec, "train", length=20, vad_perturbation=0.1)
    frames = spec.stft.num_frames(8000)
    for i in range(len(clean)):
        recipe = clean.recipe(i)
        item = clean.render(recipe)
        assert set(item) == {"mixture", "sources", "vad"} and item["vad"].shape == (frames,)
        annotation = recipe.target[0].annotations["vad"]
        expected = annotation_labels(np.load(annotation.path), 100.0, recipe.window.start,
                                     8000, spec.stft)
        np.testing.assert_array_equal(item["vad"].numpy(), expected)
        flips = (noisy[i]["vad"] != item["vad"]).sum()
        assert int(flips) == round(0.1 * frames)
    assert 0.2 < np.mean([clean[i]["vad"].mean() for i in range(20)]) < 0.95


def test_singing_vad_from_energy_without_annotation(tmp_path: Path) -> None:
    cache = make_demo_cache(tmp_path, singers={"train": 2}, instruments=(), seed=5)
    ds = make_dataset("singing", cache, tiny_spec(), "train", vad=True, length=5,
                      extra_vocal_share=1.0)
    for i in range(len(ds)):
        item = ds[i]
        vocal = item["sources"][0].numpy()
        np.testing.assert_array_equal(item["vad"].numpy(), energy_labels(vocal, ds.spec.stft))


def test_attr_dnn_reads_vad_mixtures_without_extra_vocals(cache: Path) -> None:
    """Every attr_dnn arm (detector included) gets frame labels from the 'vad' dataset, with no
    extra vocal by default (the paper's MIR-1K mixtures hold none); the knob still works."""
    from avsep.models import build
    from avsep.platform.data import model_dataset_options

    spec = tiny_spec(clip_seconds=1.0, video=False)
    for source in ("none", "oracle", "detector"):
        model = build({"name": "attr_dnn", "preset": "tiny", "vad_source": source})
        options = model_dataset_options(model, {"length": 12})
        ds = make_dataset(model.data_kind, cache, spec, "train", **options)
        assert ds.extra_share == 0.0
        assert all(ds.recipe(i).extra is None for i in range(len(ds)))
        assert ds[0]["vad"].shape == (spec.stft.num_frames(8000),)
    mixed = make_dataset("vad", cache, spec, "train", length=40, extra_vocal_share=0.5)
    share = np.mean([mixed.recipe(i).extra is not None for i in range(40)])
    assert 0.2 < share < 0.8

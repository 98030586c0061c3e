"""`avsep reproduce --test-items N` scores N independent excerpts with every condition of each:
on a singing test set of 10 songs, 8 excerpts give 8 songs plain and v+ (the first 8 rows, the
old protocol, held no v+ item at all)."""

from __future__ import annotations

import pytest

from avsep.data.datasets.synthetic_cache import make_demo_cache
from avsep.evaluation.separation import evaluate
from avsep.models import build
from avsep.platform.reproduce import _test_dataset


@pytest.fixture(scope="module")
def model():
    return build({"name": "av_mmdensenet", "preset": "tiny"})


@pytest.fixture(scope="module")
def cache(tmp_path_factory, model):
    spec = model.spec
    return make_demo_cache(tmp_path_factory.mktemp("ten") / "cache",
                           sample_rate=spec.stft.sample_rate, crop=tuple(spec.crop), fps=spec.fps,
                           video_channels=spec.video_channels, seconds=3.0, extra_vocals=2,
                           singers={"train": 1, "val": 1, "test": 10}, instruments=(),
                           solos=0, ensembles=0, seed=5)


def test_a_singing_test_set_of_10_songs_scored_with_8_items_includes_vplus(model, cache):
    dataset = _test_dataset(model, cache, {}, excerpts=8)
    assert len(dataset) == 16
    rows = evaluate(model, dataset, 0, ablations=False)
    vocals = rows[(rows["system"] == "model") & (rows["source"] == "vocals")]
    assert vocals["condition"].value_counts().to_dict() == {"plain": 8, "v+": 8}
    excerpts = [dataset.excerpt_of(int(i)) for i in vocals["item"]]
    assert len(set(excerpts)) == 8
    for song in set(excerpts):  # both conditions of every chosen song
        assert sorted(vocals["condition"][[e == song for e in excerpts]]) == ["plain", "v+"]
    assert vocals["sdr"].notna().all()
    whole = _test_dataset(model, cache, {})  # the default: every song, both conditions
    assert len(whole) == 20 and len(whole.excerpts) == 10

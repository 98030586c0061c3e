"""`avsep eval` pieces: chunked separation of long excerpts, oracle and ablation rows, report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsep.config import merge, validate
from avsep.data.datasets import make_dataset
from avsep.evaluation.separation import (
    ABLATIONS,
    ORACLES,
    chunk_item,
    evaluate,
    separate_long,
    write_evaluation,
)
from avsep.models.package import load_model_package
from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker
from tests.platform.conftest import TINY_TRAIN


@pytest.fixture(scope="module")
def trained(tiny_cache, tmp_path_factory):
    """A tiny AV MMDenseNet trained for one epoch; its model package is loaded back."""
    root = tmp_path_factory.mktemp("trained")
    cfg = validate(merge(TINY_TRAIN, {"model": {"name": "av_mmdensenet", "preset": "tiny"},
                                      "data": {"cache": str(tiny_cache)},
                                      "train": {"epochs": 1}, "eval": {"examples": 0}}))
    train_loop_per_worker(make_config(cfg, RunContext(local_root=str(root))))
    model, payload = load_model_package(root / "checkpoint" / "model")
    return model, payload


def test_chunked_separation_equals_window_by_window(trained):
    model, _ = trained
    clip = model.spec.clip_samples
    frames = model.spec.frames_per_clip
    torch.manual_seed(0)
    item = {"mixture": torch.randn(1, 2 * clip + clip // 2) * 0.1,
            "video": torch.randint(0, 255, (1, 3 * frames, 3, *model.spec.crop),
                                   dtype=torch.uint8)}
    batch = chunk_item(model, item)
    assert batch["mixture"].shape == (3, 1, clip) and batch["video"].shape[:3] == (3, 1, frames)
    assert torch.equal(batch["mixture"][2, :, clip // 2:], torch.zeros(1, clip - clip // 2))
    whole = separate_long(model, item, wiener=0)
    assert whole.shape == (2, 1, item["mixture"].shape[-1])
    second = model.separate({"mixture": item["mixture"][None, :, clip:2 * clip],
                             "video": item["video"][None, :, frames:2 * frames]})
    assert torch.allclose(whole[..., clip:2 * clip], second[0], atol=1e-5)


def test_evaluation_rows_oracles_ablations_and_report(trained, tiny_cache, tmp_path):
    model, _ = trained
    dataset = make_dataset("singing", tiny_cache, model.spec, "test", test_seconds=2.0)
    rows = evaluate(model, dataset, wiener=1, max_items=len(dataset))
    assert set(rows["system"]) == {"model", *ORACLES, *ABLATIONS}
    assert set(rows["condition"]) == {"plain", "v+"}
    assert set(rows["source"]) == {"vocals", "accompaniment"}
    # the unit: the plain and v+ copies of a song, and its source slots, share its excerpt
    conditions = rows.groupby("excerpt")["condition"].agg(set)
    assert len(conditions) == len(dataset) // 2 and all(c == {"plain", "v+"} for c in conditions)
    assert (rows.groupby("excerpt")["item"].nunique() == 2).all()
    medians = rows.groupby("system")["sdr"].median()
    assert medians["oracle_irm"] > medians["mixture"] + 3  # an upper bound beats the mixture
    assert medians["oracle_ibm"] > medians["mixture"]
    assert np.isfinite(rows[["sdr", "si_sdr", "sd_sdr"]].to_numpy()).all()
    result = write_evaluation(rows, tmp_path, "test")
    assert (tmp_path / "eval.md").read_text().count("| model |") == 4  # 2 conditions x 2 src
    for path in result.files:
        assert path.stat().st_size > 0


def test_ablation_replaces_only_the_video(trained):
    from avsep.evaluation.separation import ablate

    model, _ = trained
    frames = model.spec.frames_per_clip
    item = {"mixture": torch.zeros(1, 10),
            "video": torch.randint(0, 255, (1, frames, 3, *model.spec.crop), dtype=torch.uint8)}
    other = {"video": torch.zeros_like(item["video"])}
    gen = torch.Generator().manual_seed(0)
    constant = ablate(item, "video_constant", other, gen)["video"]
    assert constant.unique().numel() == 1
    assert torch.equal(ablate(item, "video_mismatched", other, gen)["video"], other["video"])
    noise = ablate(item, "video_noise", other, gen)["video"]
    assert noise.shape == item["video"].shape and not torch.equal(noise, item["video"])
    with pytest.raises(ValueError, match="valid choices"):
        ablate(item, "video_blur", other, gen)

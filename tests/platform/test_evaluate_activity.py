"""Vocal activity in `avsep eval`: detector accuracy / confusion, and Case I vs Case II inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avsep.evaluation.activity import (
    ActivitySource,
    activity_for,
    check_activity_model,
    confusion_table,
    evaluate_vad,
    fixed_activity,
    parse_activity_source,
    vad_summary,
)
from avsep.models import build
from tests.data.cache_factory import tiny_spec


class SignDetector(nn.Module):
    """A stand-in detector: frame n of a clip is "vocal" when the sample at n*hop is > 0.

    ``inverted`` flips every decision. Frames whose centre lies past the clip get 0.
    """

    task = "vad"
    inputs = ("mixture",)

    def __init__(self, inverted: bool = False) -> None:
        super().__init__()
        self.spec = tiny_spec(1.0, video=False)
        self.inverted = inverted

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mix = batch["mixture"][:, 0]  # (B, L)
        hop = self.spec.stft.hop_length
        frames = self.spec.stft.num_frames(mix.shape[-1])
        centres = torch.arange(frames) * hop
        inside = centres < mix.shape[-1]
        values = torch.zeros(mix.shape[0], frames)
        values[:, inside] = (mix[:, centres[inside]] > 0).float()
        return {"activity": 1.0 - values if self.inverted else values}


def sign_items(count: int = 2, seconds: float = 2.5) -> list[dict[str, torch.Tensor]]:
    """Items whose oracle activity is the sign of the mixture at each frame centre."""
    spec = tiny_spec(1.0, video=False)
    hop = spec.stft.hop_length
    gen = torch.Generator().manual_seed(0)
    items = []
    for _ in range(count):
        length = int(seconds * spec.stft.sample_rate)
        mixture = torch.randn(1, length, generator=gen)
        frames = spec.stft.num_frames(length)
        vad = (mixture[0, torch.arange(frames) * hop] > 0).float()
        items.append({"mixture": mixture, "vad": vad})
    return items


def test_vad_accuracy_of_a_perfect_and_an_inverted_detector():
    items = sign_items()
    perfect = vad_summary(evaluate_vad(SignDetector(), items))
    inverted = vad_summary(evaluate_vad(SignDetector(inverted=True), items))
    frames = sum(int(i["vad"].numel()) for i in items)
    assert perfect["frames"] == inverted["frames"] == frames
    assert perfect["accuracy"] == 1.0 and perfect["f1"] == 1.0
    assert inverted["accuracy"] == 0.0
    positives = int(sum(i["vad"].sum() for i in items))
    assert perfect["tp"] == positives and inverted["fn"] == positives
    table = confusion_table(perfect)
    assert table.iloc[0, 1] == f"{frames - positives} (100.00%)"  # true no-vocal, predicted no
    assert table.iloc[1, 1] == "0 (0.00%)"


def test_activity_sources_feed_oracle_perturbed_or_detector_frames():
    item = sign_items(1)[0]
    model = SignDetector()  # any module with the separator's spec
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(activity_for(item, ActivitySource("oracle"), model, None, gen),
                       item["vad"])
    flipped = activity_for(item, parse_activity_source("perturbed:0.25"), model, None, gen)
    frames = item["vad"].numel()
    assert int((flipped != item["vad"]).sum()) == round(0.25 * frames)  # exactly, as the paper
    detected = activity_for(item, ActivitySource("detector"), model, SignDetector(), gen)
    assert torch.equal(detected, item["vad"])  # Case II: the detector's frames, aligned


def test_parse_and_check_activity_sources():
    assert parse_activity_source("perturbed:0.05") == ActivitySource("perturbed", 0.05)
    assert parse_activity_source("detector").label == "detector"
    for bad in ("perturbed:0", "perturbed:2", "perturbed", "oracle:1", "vad"):
        with pytest.raises(ValueError, match="perturbed:F"):
            parse_activity_source(bad)
    none = build({"name": "attr_dnn", "preset": "tiny", "vad_source": "none"})
    with pytest.raises(ValueError, match="Drop --activity-source"):
        check_activity_model(none, ActivitySource("oracle"), None)
    oracle = build({"name": "attr_dnn", "preset": "tiny", "vad_source": "oracle"})
    with pytest.raises(ValueError, match="--detector URI"):
        check_activity_model(oracle, ActivitySource("detector"), None)
    with pytest.raises(ValueError, match="--activity-source detector only"):
        check_activity_model(oracle, ActivitySource("oracle"), SignDetector())
    check_activity_model(oracle, ActivitySource("detector"),
                         build({"name": "vad_cnn", "preset": "tiny"}))


def test_fixed_activity_switches_off_the_models_own_perturbation():
    torch.manual_seed(0)
    model = build({"name": "attr_dnn", "preset": "tiny", "vad_source": "perturbed",
                   "vad_perturbation": 0.5}).eval()
    length = model.spec.clip_samples // 4
    batch = {"mixture": 0.1 * torch.randn(1, 1, length),
             "vad": torch.ones(1, model.spec.stft.num_frames(length))}
    with fixed_activity(model):
        assert model.vad_source == "oracle"
        first, second = model(batch)["mask"], model(batch)["mask"]
    assert torch.equal(first, second)  # the given activity, unperturbed
    assert model.vad_source == "perturbed"
    assert not torch.equal(model(batch)["mask"], first)  # 50 % of frames flipped again


@pytest.mark.slow
def test_case_one_and_case_two_rows_of_the_attribute_aware_model(tmp_path):
    from avsep.data.datasets import make_dataset
    from avsep.data.datasets.synthetic_cache import make_demo_cache
    from avsep.evaluation.separation import evaluate
    from avsep.evaluation.tables import swaminathan_table
    from avsep.platform.data import model_dataset_options

    torch.manual_seed(0)
    model = build({"name": "attr_dnn", "preset": "tiny", "vad_source": "oracle"}).eval()
    detector = build({"name": "vad_cnn", "preset": "tiny"}).eval()
    cache = make_demo_cache(tmp_path / "cache", sample_rate=16000, seconds=3.0,
                            singers={"train": 1, "val": 1, "test": 1}, instruments=("violin",),
                            solos=0, ensembles=0, vad_annotation=True)
    dataset = make_dataset(model.data_kind, cache, model.spec, "test",
                           **model_dataset_options(model, {"condition": "plain"}))
    sources = [ActivitySource("oracle"), ActivitySource("detector")]
    rows = evaluate(model, dataset, ablations=False, max_items=1, activities=sources,
                    detector=detector)
    table = swaminathan_table(rows).set_index(["system", "source"])
    assert {("model@oracle", "vocals"), ("model@detector", "vocals")} <= set(table.index)
    assert table.loc[("mixture", "vocals"), "GNSDR"] == pytest.approx(0.0, abs=1e-9)
    oracle = rows[rows["system"] == "model@oracle"]["sdr"].to_numpy()
    detected = rows[rows["system"] == "model@detector"]["sdr"].to_numpy()
    assert not (oracle == detected).all()  # a different activity input, a different estimate

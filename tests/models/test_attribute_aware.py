"""attr_dnn and vad_cnn (Swaminathan & Lerch): sizes, shapes, joint mask, activity inputs,
detector from a model package, overfitting, bad configs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_helpers import forward_backward, gradient_problems, overfit  # noqa: E402

from avsep.models import build  # noqa: E402
from avsep.models.attribute_aware import perturb_activity  # noqa: E402
from avsep.models.package import save_model_package  # noqa: E402
from avsep.models.registry import parameter_count  # noqa: E402

SR, HOP, SAMPLES = 16000, 320, 8000  # half a second: 26 STFT frames


def _batch(batch_size: int = 2) -> dict[str, torch.Tensor]:
    """Vocals (a 440 Hz harmonic tone gated on/off at 2 Hz) over a steady accompaniment
    (harmonics of 135 Hz); ``vad`` is the gate sampled at the STFT frame centres."""
    t = torch.arange(SAMPLES) / SR
    gate = (torch.sin(2 * math.pi * 2 * t) > 0).float()
    vocals = 0.3 * sum(torch.sin(2 * math.pi * h * 440 * t) / h for h in range(1, 4)) * gate
    accomp = 0.3 * sum(torch.sin(2 * math.pi * h * 135 * t) / h for h in range(1, 4))
    sources = torch.stack([vocals, accomp])[None, :, None].repeat(batch_size, 1, 1, 1)
    centres = torch.arange(SAMPLES // HOP + 1) * HOP / SR
    vad = (torch.sin(2 * math.pi * 2 * centres) > 0).float().repeat(batch_size, 1)
    for b in range(1, batch_size):  # different items: shift vocals and labels together
        sources[b, 0] = sources[b, 0].roll(b * 4 * HOP, -1)
        vad[b] = vad[b].roll(b * 4, -1)
    return {"mixture": sources.sum(1), "sources": sources, "vad": vad}


def _attr(vad_source: str = "none", **options) -> torch.nn.Module:
    return build({"name": "attr_dnn", "preset": "tiny", "vad_source": vad_source, **options})


def test_paper_sizes_computed_without_forward() -> None:
    bins = 513  # 1024-point FFT
    hidden = 1024
    expected = ((3 * bins + 2) * hidden + hidden + 2 * (hidden * hidden + hidden)
                + hidden * 2 * bins + 2 * bins)
    assert parameter_count({"name": "attr_dnn", "vad_source": "oracle"}) == expected
    assert parameter_count({"name": "attr_dnn"}) == expected - 2 * hidden
    # vad_cnn on 80×41 patches: 4 convs, 64·14·4 features into dense 512, 128, 2
    convs = (9 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 * 128 + 128) + (9 * 128 * 64 + 64)
    dense = (64 * 14 * 4 * 512 + 512) + (512 * 128 + 128) + (128 * 2 + 2)
    assert parameter_count({"name": "vad_cnn"}) == convs + dense


@pytest.mark.parametrize("vad_source", ["none", "oracle", "perturbed", "detector"])
def test_forward_shapes_joint_mask_and_gradients(vad_source: str) -> None:
    extra = {"vad_perturbation": 0.1} if vad_source == "perturbed" else {}
    model = _attr(vad_source, **extra)
    assert model.source_names == ("vocals", "accompaniment")
    assert ("vad" in model.inputs) == (vad_source in ("oracle", "perturbed"))
    batch = _batch()
    out = forward_backward(model, batch)
    frames = SAMPLES // HOP + 1
    assert out["mask"].shape == (2, 2, 1, 513, frames)
    assert torch.allclose(out["mask"].sum(1), torch.ones(2, 1, 513, frames), atol=1e-4)
    mix = model.mixture_stft(batch).abs()
    assert torch.allclose(out["magnitude"], out["mask"] * mix.unsqueeze(1), atol=1e-5)
    if vad_source == "detector":
        assert out["activity"].shape == (2, frames)
    assert gradient_problems(model) == {}
    assert model.separate(batch).shape == (2, 2, 1, SAMPLES)


def test_activity_input_changes_the_output() -> None:
    model = _attr("oracle").eval()
    batch = _batch()
    flipped = {**batch, "vad": 1.0 - batch["vad"]}
    assert not torch.allclose(model(batch)["mask"], model(flipped)["mask"])


def test_perturbation_flips_the_requested_fraction() -> None:
    vad = torch.zeros(4, 10_000)
    gen = torch.Generator().manual_seed(1)
    flipped = perturb_activity(vad, 0.15, generator=gen)
    assert set(flipped.unique().tolist()) <= {0.0, 1.0}
    assert abs(flipped.mean().item() - 0.15) < 0.01
    assert torch.equal(perturb_activity(vad, 0.0), vad)


def test_frozen_detector_from_a_model_package(tmp_path: Path) -> None:
    detector = build({"name": "vad_cnn", "preset": "tiny"})
    save_model_package(detector, {"name": "vad_cnn", "preset": "tiny"}, tmp_path / "vad")
    model = _attr("detector", vad_checkpoint=str(tmp_path))
    assert not any(p.requires_grad for p in model.detector.parameters())
    batch = _batch()
    out = forward_backward(model, batch)
    assert gradient_problems(model) == {}  # no gradient reached the frozen detector
    assert not model.detector.training
    assert torch.allclose(out["activity"], detector.eval()(batch)["activity"], atol=1e-6)


def test_vad_cnn_shapes_and_gradients() -> None:
    model = build({"name": "vad_cnn", "preset": "tiny"})
    assert model.task == "vad" and model.data_kind == "vad"
    out = forward_backward(model, _batch())
    assert out["logits"].shape == (2, 26, 2) and out["activity"].shape == (2, 26)
    assert gradient_problems(model) == {}


@pytest.mark.parametrize("name", ["attr_dnn", "vad_cnn"])
def test_tiny_models_overfit_one_batch(name: str) -> None:
    model = _attr("oracle") if name == "attr_dnn" else build({"name": name, "preset": "tiny"})
    first, last = overfit(model, _batch(), steps=80, lr=3e-3)
    assert last <= first / 10, (first, last)


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"vad_source": "guess"}, ValueError, "valid choices: none, oracle, perturbed, detector"),
        ({"vad_source": "perturbed"}, ValueError, "needs 0 < vad_perturbation"),
        ({"vad_source": "oracle", "vad_perturbation": 0.1}, ValueError, "only applies to"),
        ({"vad_checkpoint": "x"}, ValueError, "only apply to vad_source 'detector'"),
        ({"vad_source": "detector", "vad_checkpoint": "/nonexistent/vad"}, FileNotFoundError,
         "nonexistent"),
        ({"hidden": 3}, ValueError, "unknown option"),
    ],
)
def test_bad_configs_fail_at_build_time(config: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        build({"name": "attr_dnn", "preset": "tiny", **config})


def test_detector_package_must_hold_a_vad_cnn(tmp_path: Path) -> None:
    other = _attr("none")
    save_model_package(other, {"name": "attr_dnn", "preset": "tiny"}, tmp_path / "pkg")
    with pytest.raises(ValueError, match="must be a vad_cnn model package"):
        _attr("detector", vad_checkpoint=str(tmp_path))


def test_missing_or_misaligned_vad_is_named() -> None:
    model = _attr("oracle")
    batch = _batch()
    with pytest.raises(KeyError, match="vad"):
        model({"mixture": batch["mixture"]})
    with pytest.raises(ValueError, match=r"batch\['vad'\] must be \(B, N=26\)"):
        model({**batch, "vad": batch["vad"][:, :20]})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["attr_dnn", "vad_cnn"])
def test_paper_size_forward_and_backward(name: str) -> None:
    config = {"name": name, "preset": "paper"}
    if name == "attr_dnn":
        config["vad_source"] = "detector"
    model = build(config)
    out = forward_backward(model, _batch())
    assert gradient_problems(model) == {}
    assert out["loss"] > 0

"""attr_dnn and vad_cnn (Swaminathan & Lerch): sizes, shapes, joint mask, activity inputs,
seeded uniform perturbation, supervised detector arm, case II (detector at inference),
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
from avsep.models.attribute_aware import (  # noqa: E402
    BandNorm,
    perturb_activity,
    use_detector,
    vad_from_detector,
    vad_loss,
)
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
    assert model.data_kind == "vad"  # every arm gets frame labels and no extra vocal
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


def test_perturbation_flips_exactly_the_fraction_at_uniform_positions() -> None:
    vad = torch.zeros(4, 10_000)
    gen = torch.Generator().manual_seed(1)
    flipped = perturb_activity(vad, 0.15, generator=gen)
    assert set(flipped.unique().tolist()) <= {0.0, 1.0}
    assert flipped.sum(1).tolist() == [1500.0] * 4  # exactly 15 % of each row
    # independent positions, not segments: about (1 - 0.15) of flips start a new run
    starts = (flipped[:, 1:] - flipped[:, :-1] == 1).sum().item()
    assert starts / flipped.sum().item() == pytest.approx(0.85, abs=0.03)
    again = perturb_activity(vad, 0.15, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again, flipped)  # seeded
    assert torch.equal(perturb_activity(vad, 0.0), vad)


def test_perturbed_arm_is_seeded_and_flips_in_training_and_inference() -> None:
    batch = _batch(batch_size=4)
    frames = batch["vad"].shape[1]
    first, second = (_attr("perturbed", vad_perturbation=0.15, vad_seed=3) for _ in range(2))
    for mode in (True, False):
        first.train(mode)
        second.train(mode)
        a, b = first.labels(batch, frames), second.labels(batch, frames)
        assert torch.equal(a, b)  # same seed, same draws
        assert ((a != batch["vad"]).sum(1) == round(0.15 * frames)).all()
    other = _attr("perturbed", vad_perturbation=0.15, vad_seed=4).eval()
    assert not torch.equal(other.labels(batch, frames), first.eval().labels(batch, frames))


def test_frozen_detector_from_a_model_package(tmp_path: Path) -> None:
    detector = build({"name": "vad_cnn", "preset": "tiny"})
    save_model_package(detector, {"name": "vad_cnn", "preset": "tiny"}, tmp_path / "vad")
    model = _attr("detector", vad_checkpoint=str(tmp_path))
    assert model.inputs == ("mixture",)
    assert not any(p.requires_grad for p in model.detector.parameters())
    batch = _batch()
    forward_backward(model, batch)  # training: the separator reads the oracle labels
    assert gradient_problems(model) == {}  # no gradient reached the frozen detector
    assert not model.detector.training
    model.eval()
    with torch.no_grad():  # inference: the detector's output, labels not needed
        out = model({"mixture": batch["mixture"]})
    assert torch.allclose(out["activity"], detector.eval()(batch)["activity"], atol=1e-6)


def test_detector_arm_trains_on_oracle_labels_and_infers_with_the_detector() -> None:
    torch.manual_seed(0)
    model = _attr("detector")
    batch = _batch()
    flipped = {**batch, "vad": 1.0 - batch["vad"]}
    model.train()
    with torch.no_grad():  # training mode: the separator input is batch['vad']
        assert not torch.allclose(model(batch)["mask"], model(flipped)["mask"])
    with pytest.raises(KeyError, match=r"needs batch\['vad'\]"):
        model({"mixture": batch["mixture"]})
    model.eval()
    with torch.no_grad():  # inference: the detector decides, batch['vad'] is ignored
        assert torch.equal(model(batch)["mask"], model(flipped)["mask"])
        p = model.detector(batch)["activity"]
        one_hot = torch.stack([1 - p, p], -1)[:, None] * model.config.activity_scale
        manual = model.net(torch.cat([_context_input(model, batch), one_hot], -1)).abs()
        y = manual.reshape(*manual.shape[:-1], 2, -1)
        mask = (y / (y.sum(-2, keepdim=True) + 1e-8)).permute(0, 3, 1, 4, 2)
        assert torch.allclose(model(batch)["mask"], mask, atol=1e-5)


def _context_input(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """The separator's ±1-frame magnitude input (B, C, N, 3F) built by hand."""
    mag = model.mixture_stft(batch).abs()  # (B, C, F, N)
    padded = torch.cat([mag[..., :1], mag, mag[..., -1:]], dim=-1)
    frames = [padded[..., i:i + mag.shape[-1]] for i in range(3)]  # previous, centre, next
    return torch.cat([f.transpose(-1, -2) for f in frames], dim=-1)


def test_detector_arm_vad_loss_is_supervised_and_falls() -> None:
    torch.manual_seed(0)
    model = _attr("detector")
    batch = _batch(batch_size=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = model(batch)
        vad = vad_loss(batch, out["vad_logits"])
        total = model.loss(batch, out)
        assert total.item() > vad.item() > 0  # the detector's cross-entropy is in the loss
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(vad.item())
    assert losses[-1] < 0.5 * losses[0], losses
    with pytest.raises(KeyError, match="vad"):  # no unsupervised detector arm
        model.loss({k: v for k, v in batch.items() if k != "vad"}, model(batch))


def test_case_two_feeds_a_detector_to_an_oracle_or_perturbed_model(tmp_path: Path) -> None:
    detector = build({"name": "vad_cnn", "preset": "tiny"}).eval()
    batch = _batch()
    oracle = _attr("oracle").eval()
    vad = vad_from_detector(detector, batch["mixture"], oracle)
    assert vad.shape == batch["vad"].shape
    assert torch.allclose(vad, detector(batch)["activity"])
    with torch.no_grad():
        by_key = oracle({**batch, "vad": vad})["mask"]
        save_model_package(detector, {"name": "vad_cnn", "preset": "tiny"}, tmp_path / "vad")
        use_detector(oracle, tmp_path)  # from the package folder
        assert oracle.inputs == ("mixture",)
        assert torch.allclose(oracle({"mixture": batch["mixture"]})["mask"], by_key, atol=1e-6)
    perturbed = _attr("perturbed", vad_perturbation=0.1).eval()
    with torch.no_grad():
        reference = perturbed({**batch, "vad": vad})["mask"]  # would flip detector frames
        use_detector(perturbed, detector)
        plain = perturbed({"mixture": batch["mixture"]})["mask"]
        assert torch.equal(plain, perturbed({"mixture": batch["mixture"]})["mask"])
        assert not torch.allclose(plain, reference)
    with pytest.raises(ValueError, match="vad_source 'none'"):
        use_detector(_attr("none"), detector)


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
        ({"vad_source": "perturbed"}, ValueError, "needs 0 < vad_perturbation.*0.025"),
        ({"vad_source": "oracle", "vad_perturbation": 0.1}, ValueError, "only applies to"),
        ({"vad_checkpoint": "x"}, ValueError, "only apply to vad_source 'detector'"),
        ({"vad_source": "detector", "vad_checkpoint": "/nonexistent/vad"}, FileNotFoundError,
         "nonexistent"),
        ({"hidden": 3}, ValueError, "unknown option"),
        ({"vad_source": "oracle", "activity_scale": 0}, ValueError, "number > 0"),
        ({"vad_source": "oracle", "activity_scale": "big"}, ValueError, "number > 0"),
        ({"activity_scale": 1.0}, ValueError, "activity_scale only applies"),
    ],
)
def test_bad_configs_fail_at_build_time(config: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        build({"name": "attr_dnn", "preset": "tiny", **config})


def test_vad_cnn_options_are_checked() -> None:
    with pytest.raises(ValueError, match="band_norm must be true or false"):
        build({"name": "vad_cnn", "preset": "tiny", "band_norm": "yes"})
    with pytest.raises(ValueError, match="unknown option"):
        build({"name": "vad_cnn", "preset": "tiny", "pos_weight": 2.0})


def _vocal_effect(model: torch.nn.Module, steps: int = 30) -> tuple[float, float]:
    """Train ``model`` (oracle arm) ``steps`` Adam steps on the gated toy batch, then feed the
    same mixtures with activity all on and all off: (mean |on - off| / on, off / on) of the
    vocal magnitude estimate."""
    batch = _batch(batch_size=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        loss = model.loss(batch, model(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        on = model({**batch, "vad": torch.ones_like(batch["vad"])})["magnitude"][:, 0]
        off = model({**batch, "vad": torch.zeros_like(batch["vad"])})["magnitude"][:, 0]
    return ((on - off).abs().sum() / on.sum()).item(), (off.sum() / on.sum()).item()


def test_tiny_preset_uses_its_activity_input_and_the_papers_way_stays_selectable() -> None:
    """The paper's plain one-hot (activity_scale 1) next to 3·513 raw magnitudes barely moves
    a tiny net trained briefly; the tiny preset's scaled one-hot does, in the right direction
    (activity off lowers the vocal estimate)."""
    assert build({"name": "attr_dnn", "vad_source": "oracle"}).config.activity_scale == 1.0
    torch.manual_seed(0)
    tiny = _attr("oracle")
    assert tiny.config.activity_scale == 100.0
    change, ratio = _vocal_effect(tiny)
    torch.manual_seed(0)
    paper_way = _attr("oracle", activity_scale=1.0)
    assert paper_way.config.activity_scale == 1.0
    paper_change, _ = _vocal_effect(paper_way)
    assert change > 0.1 and ratio < 0.97, (change, ratio)
    assert paper_change < 0.02 and change > 20 * paper_change, (change, paper_change)


def test_band_norm_standardises_each_band_with_training_statistics() -> None:
    torch.manual_seed(0)
    bands = torch.arange(1.0, 5.0)  # band m has mean m and std m
    x = bands[None, :, None] + bands[None, :, None] * torch.randn(8, 4, 500)
    norm = BandNorm(4, momentum=1.0)  # running stats = the last batch's, to check exactly
    out, floor = norm.train()(x, -16.0)
    assert torch.allclose(out.mean(dim=(0, 2)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(out.var(dim=(0, 2), unbiased=False), torch.ones(4), atol=1e-3)
    mean, var = x.mean(dim=(0, 2)), x.var(dim=(0, 2), unbiased=False)
    assert torch.allclose(floor, (-16.0 - mean) / torch.sqrt(var + 1e-5))
    assert torch.allclose(norm.running_mean, mean) and torch.allclose(norm.running_var, var)
    shifted, _ = norm.eval()(x + 10.0, -16.0)  # inference: the training statistics, not these
    assert torch.allclose(shifted - out, 10.0 / torch.sqrt(var + 1e-5)[None, :, None], atol=1e-4)


def test_balanced_vad_loss_weighs_both_classes_alike() -> None:
    vad = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # 3 vocal frames, 1 without
    p = 0.9  # the model says "vocal" with 90 % everywhere
    logits = torch.log(torch.tensor([1 - p, p])).expand(1, 4, 2)
    right, wrong = -math.log(p), -math.log(1 - p)
    plain = vad_loss({"vad": vad}, logits)
    balanced = vad_loss({"vad": vad}, logits, balanced=True)
    assert plain.item() == pytest.approx((3 * right + wrong) / 4, rel=1e-5)
    assert balanced.item() == pytest.approx((right + wrong) / 2, rel=1e-5)
    tiny, paper = (build({"name": "vad_cnn", "preset": k}).config for k in ("tiny", "paper"))
    assert tiny.balanced and tiny.band_norm and not paper.balanced and not paper.band_norm


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


def _trial_params(space, params: dict) -> tuple[dict, dict]:
    """Run ``space`` on a trial fixed to ``params``: (sampled params, experiment config)."""
    import optuna

    study = optuna.create_study()
    study.enqueue_trial(params)
    trial = study.ask()
    experiment = space(trial)["experiment"]
    return dict(trial.params), experiment


def test_vad_cnn_space_trains_the_detector_at_its_paper_point() -> None:
    from avsep.config import merge, validate
    from avsep.search_spaces import vad_detector

    space = vad_detector.SPACE
    assert space.name == "vad_cnn" and space.task == "vad" and space.objective == "val/score"
    (point,) = space.paper_points
    assert point.table == "Table I" and point.reported["accuracy"] == 93.5
    params, experiment = _trial_params(space, point.params)
    assert params == point.params  # a complete path through the space
    cfg = validate(merge({"model": {"preset": "tiny"}}, experiment), "vad_cnn point")
    model = build(cfg.model.build_dict())
    assert model.task == "vad" and model.data_kind == "vad"
    assert cfg.data.options == {"extra_vocal_share": 0.0}
    assert space.points_to_evaluate == (point.params,)


def test_attribute_aware_space_uses_the_paper_grid_and_table_rows() -> None:
    from avsep.search_spaces import attribute_aware

    space = attribute_aware.SPACE
    assert attribute_aware.PERTURBATION.choices == (0.025, 0.05, 0.075, 0.1, 0.15)
    rows = {p.experiment: p for p in space.paper_points}
    assert rows["Case 0"].reported["GNSDR"] == 6.77
    assert rows["Case I.a"].reported["GNSDR"] == 7.16
    assert rows["7.5 %"].reported == {
        "GNSDR": 6.86, "GSAR": 9.84, "GSIR": 11.13,
        "case II GNSDR": 6.90, "case II GSAR": 9.85, "case II GSIR": 11.21}
    assert rows["0 %"].params["vad_source"] == "detector"
    for point in space.paper_points:
        params, experiment = _trial_params(space, point.params)
        assert params == point.params
        assert experiment["data"]["options"]["extra_vocal_share"] == 0.0
        assert space.paper_point_of(params) is point
        model = build({**experiment["model"], "preset": "tiny"})
        assert model.vad_perturbation == point.params.get("vad_perturbation", 0.0)

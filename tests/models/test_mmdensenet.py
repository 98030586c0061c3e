"""MMDenseNet (audio) and AV-MMDenseNet: shapes, gradients, fusion, overfitting, sizes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from zoo_helpers import forward_backward, gradient_problems, overfit, tiny_batch  # noqa: E402

from avsep.models import build  # noqa: E402
from avsep.models.registry import parameter_count  # noqa: E402

CASES = [
    ({"name": "mmdensenet"}, "magnitude"),
    ({"name": "mmdensenet", "mask_layer": False}, "magnitude"),
    ({"name": "mmdensenet", "mask_type": "ratio"}, "mask"),
    ({"name": "mmdensenet", "loss": "l1"}, "magnitude"),
    ({"name": "mmdensenet", "loss": "si_sdr"}, "magnitude"),
] + [
    pytest.param({"name": "av_mmdensenet", "frontend": f, "mask_layer": layer}, "magnitude",
                 marks=() if layer or f == "conv2d_lstm" else pytest.mark.slow)
    for f in ("conv2d_lstm", "conv3d", "dense_lstm") for layer in (True, False)
] + [
    pytest.param({"name": "av_mmdensenet", "frontend": "resnet18", "mask_layer": layer},
                 "magnitude", marks=pytest.mark.slow)  # a ResNet step takes seconds here
    for layer in (True, False)
] + [({"name": "av_mmdensenet", "mask_type": "ratio"}, "mask")]


@pytest.mark.parametrize(("config", "key"), CASES, ids=lambda c: str(c))
def test_forward_shapes_and_gradients(config: dict, key: str) -> None:
    model = build({**config, "preset": "tiny"})
    batch = tiny_batch(model)
    out = forward_backward(model, batch)
    b, s, c, length = batch["sources"].shape
    frames = model.spec.stft.num_frames(length)
    assert out[key].shape == (b, s, c, model.spec.stft.n_bins, frames)
    assert out[key].min() >= 0
    if key == "magnitude" and config.get("mask_layer", True):
        mix = model.mixture_stft(batch).abs().unsqueeze(1)
        assert (out[key] <= mix + 1e-6).all()  # the sigmoid mask layer bounds the estimate
    assert gradient_problems(model) == {}


def test_frozen_frontend_gets_no_gradients_but_the_rest_does() -> None:
    model = build({"name": "av_mmdensenet", "preset": "tiny", "frontend_trainable": False})
    forward_backward(model, tiny_batch(model))
    assert gradient_problems(model) == {}
    assert all(p.grad is None for p in model.frontend.parameters())
    assert all(p.grad is not None for n, p in model.named_parameters()
               if not n.startswith("frontend."))


def test_video_changes_the_av_estimate_but_not_the_audio_one() -> None:
    model = build({"name": "av_mmdensenet", "preset": "tiny"}).eval()
    batch = tiny_batch(model)
    other = {**batch, "video": torch.flip(batch["video"], dims=[2])}
    with torch.no_grad():  # at initialisation the visual effect is small but present
        assert (model(batch)["magnitude"] - model(other)["magnitude"]).abs().max() > 0
    audio = build({"name": "mmdensenet", "preset": "tiny"})
    assert audio.inputs == ("mixture",) and audio.spec.fps is None


@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_bottleneck_runs_at_the_video_frame_rate(preset: str) -> None:
    with torch.device("meta"):
        spec = build({"name": "av_mmdensenet", "preset": preset}).spec
    # the STFT frame rate halved once (2x2 pooling, then 1x2) equals the video fps
    assert spec.stft.frames_per_second / 2 == pytest.approx(spec.fps)
    assert spec.frames_per_clip == round(spec.clip_seconds * spec.fps)


def test_separate_returns_waveforms_with_and_without_wiener() -> None:
    model = build({"name": "mmdensenet", "preset": "tiny"}).eval()
    batch = tiny_batch(model)
    plain = model.separate(batch)
    assert plain.shape == batch["sources"].shape and torch.isfinite(plain).all()
    refined = model.separate(batch, wiener_iterations=1)
    assert refined.shape == plain.shape and torch.isfinite(refined).all()
    assert not torch.allclose(refined, plain)
    # Wiener EM distributes (almost) the whole mixture over the sources
    error = (refined.sum(1) - batch["mixture"]).norm() / batch["mixture"].norm()
    plain_error = (plain.sum(1) - batch["mixture"]).norm() / batch["mixture"].norm()
    assert error < 0.02 and error < plain_error
    with pytest.raises(ValueError, match="wiener_iterations must be >= 0"):
        model.separate(batch, wiener_iterations=-1)


def test_paper_parameter_counts_match_li_et_al_within_25_percent() -> None:
    audio = parameter_count("mmdensenet")
    av = parameter_count("av_mmdensenet")
    assert abs(audio / 1.22e6 - 1) < 0.25, audio
    assert abs(av / 2.05e6 - 1) < 0.25, av
    assert av > audio


@pytest.mark.slow  # 200 Adam steps: ~10 s alone, minutes on the shared 2-core box
def test_tiny_audio_model_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = build({"name": "mmdensenet", "preset": "tiny"})
    first, last = overfit(model, tiny_batch(model, batch_size=1), steps=200, lr=3e-2)
    assert last < first / 10, (first, last)


@pytest.mark.slow
def test_tiny_av_model_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = build({"name": "av_mmdensenet", "preset": "tiny"})
    first, last = overfit(model, tiny_batch(model, batch_size=1), steps=200, lr=3e-2)
    assert last < first / 10, (first, last)


@pytest.mark.parametrize(("config", "message"), [
    ({"name": "av_mmdensenet", "frontend": "none"}, "front-end 'none' is incompatible"),
    ({"name": "av_mmdensenet", "frontend": "vgg"}, "valid choices: conv2d_lstm"),
    ({"name": "mmdensenet", "mask_type": "binary"}, "valid choices: direct, ratio"),
    ({"name": "mmdensenet", "frontend": "conv3d"}, "unknown option"),
    ({"name": "mmdensenet", "mask_type": "ratio", "mask_layer": False}, "mask_layer=False"),
    ({"name": "mmdensenet", "loss": "bce"}, "valid choices: l2, l1, si_sdr"),
    ({"name": "mmdensenet", "preset": "huge"}, "valid choices: paper, tiny"),
])
def test_bad_configs_fail_at_build_time_listing_choices(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(config)


def test_batch_checks_name_the_problem() -> None:
    model = build({"name": "av_mmdensenet", "preset": "tiny"})
    batch = tiny_batch(model)
    with pytest.raises(KeyError, match="missing \\['video'\\]"):
        model({"mixture": batch["mixture"]})
    with pytest.raises(ValueError, match="batch\\['video'\\] must be"):
        model({**batch, "video": batch["video"][..., :8]})
    with pytest.raises(ValueError, match="batch\\['mixture'\\] must be"):
        model({**batch, "mixture": batch["mixture"].repeat(1, 2, 1)})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mmdensenet", "av_mmdensenet"])
def test_paper_size_forward(name: str) -> None:
    model = build({"name": name}).eval()
    batch = tiny_batch(model, batch_size=1)
    with torch.no_grad():
        out = model(batch)
    assert out["magnitude"].shape == (1, 2, 2, 513, 129)


def test_per_frequency_statistics_come_from_training_batches_and_are_saved() -> None:
    from avsep.audio.scales import PerFrequencyNormalizer

    model = build({"name": "mmdensenet", "preset": "tiny"})
    assert model.input_norm == "per_frequency" and not bool(model.normalizer.fitted)
    batches = [tiny_batch(model, seed=s) for s in range(3)]
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    logs = [torch.log1p(model.mixture_stft(b).abs()) for b in batches]  # (B, C, F, T)
    reference = PerFrequencyNormalizer(model.spec.stft.n_bins).fit(logs)
    frames = sum(x.numel() // x.shape[-2] for x in logs)
    assert float(model.normalizer.count) == frames  # every training frame, once
    assert torch.allclose(model.normalizer.mean, reference.mean, atol=1e-5)
    assert torch.allclose(model.normalizer.std, reference.std, rtol=1e-4)
    per_bin = torch.cat([x.transpose(-2, -1).reshape(-1, x.shape[-2]) for x in logs])
    assert torch.allclose(model.normalizer.mean[:, 0], per_bin.mean(0), atol=1e-5)
    # inference uses them frozen; they travel with the weights
    model.eval()
    other = tiny_batch(model, seed=9)
    with torch.no_grad():
        first = model(other)["magnitude"]
    assert float(model.normalizer.count) == frames
    copy = build({"name": "mmdensenet", "preset": "tiny"})
    copy.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(copy.eval()(other)["magnitude"], first)
    # the features are (x - mean_f) / std_f before the learnable affine (identity at init)
    x = torch.log1p(model.mixture_stft(other).abs())
    expected = ((x - model.normalizer.mean) / model.normalizer.std).transpose(2, 3)
    assert torch.allclose(model.features(model.mixture_stft(other)), expected, atol=1e-5)


def test_per_example_normalisation_stays_selectable() -> None:
    model = build({"name": "mmdensenet", "preset": "tiny", "input_norm": "per_example"})
    batch = tiny_batch(model)
    model.train()
    with torch.no_grad():
        features = model.features(model.mixture_stft(batch))  # (B, C, T, F)
    assert not bool(model.normalizer.fitted)  # no statistics kept
    assert torch.allclose(features.mean(dim=(1, 2)), torch.zeros(2, features.shape[-1]),
                          atol=1e-4)
    with pytest.raises(ValueError, match="valid choices: per_frequency, per_example"):
        build({"name": "mmdensenet", "input_norm": "global"})


def test_lipreading_frontend_runs_and_loads_local_weights_frozen(tmp_path: Path) -> None:
    from avsep.models.lipreading import LipReadingFrontend

    torch.manual_seed(0)
    model = build({"name": "av_mmdensenet", "preset": "tiny", "frontend": "lipreading"})
    assert isinstance(model.frontend, LipReadingFrontend)
    batch = tiny_batch(model, batch_size=1)
    feats = model.frontend(batch["video"])
    assert feats.shape == (1, 1, model.spec.frames_per_clip, model.frontend.dim)
    assert all(p.requires_grad for p in model.frontend.parameters())  # random init: trains
    weights = tmp_path / "lipreading.pth"
    state = {k: v for k, v in model.frontend.state_dict().items() if not k.startswith("proj.")}
    torch.save(state, weights)
    loaded = build({"name": "av_mmdensenet", "preset": "tiny", "frontend": "lipreading",
                    "frontend_weights": str(weights)})
    for key, value in state.items():
        assert torch.equal(loaded.frontend.state_dict()[key], value), key
    frozen = [n for n, p in loaded.frontend.named_parameters() if not p.requires_grad]
    assert frozen and all(not n.startswith("proj.") for n in frozen)
    assert all(p.requires_grad for p in loaded.frontend.proj.parameters())
    loaded.train()
    assert not loaded.frontend.trunk.training and loaded.frontend.proj.training
    torch.save({"stem.0.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="frontend_weights needs a state dict"):
        build({"name": "av_mmdensenet", "preset": "tiny", "frontend": "lipreading",
               "frontend_weights": str(tmp_path / "bad.pth")})

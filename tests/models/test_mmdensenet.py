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

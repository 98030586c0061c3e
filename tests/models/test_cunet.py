"""Conditioned U-Net / Multi-Head U-Net: every conditioning × context × mask combination."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from zoo_helpers import forward_backward, gradient_problems, overfit, tiny_batch  # noqa: E402

from avsep.models import build  # noqa: E402
from avsep.models.cunet import (  # noqa: E402
    COMPATIBLE,
    MASK_TYPES,
    VISUAL_CONTEXTS,
)
from avsep.models.registry import parameter_count  # noqa: E402

PAIRS = [(cond, ctx) for cond, contexts in COMPATIBLE.items() for ctx in contexts]
# The full product runs with `-m slow`; the default run covers every (conditioning, context)
# pair with ratio masks, every mask type with one pair, and three multi-head pairs.
FAST_MASK_PAIR = ("film_bottleneck", "labels")
CUNET_CASES = [
    pytest.param(cond, ctx, mask, marks=() if mask == "ratio" or (cond, ctx) == FAST_MASK_PAIR
                 else pytest.mark.slow)
    for cond, ctx in PAIRS for mask in MASK_TYPES
]
FAST_MHUNET = {("none", "none"), ("film_encoder", "labels"), ("final_multiply", "visual")}
MHUNET_CASES = [pytest.param(cond, ctx, marks=() if (cond, ctx) in FAST_MHUNET
                             else pytest.mark.slow) for cond, ctx in PAIRS]


def _check(model, out: dict, batch: dict) -> None:
    key = "magnitude" if model.mask_type == "direct" else "mask"
    b, k = batch["mixture"].shape[0], len(model.source_names)
    frames = model.spec.stft.num_frames(batch["mixture"].shape[-1])
    assert out[key].shape == (b, k, 1, model.spec.stft.n_bins, frames)
    assert out[key].is_complex() == (model.mask_type == "complex")
    problems = gradient_problems(model)
    if model.context_kind == "visual":
        # one frame per source: the front-end LSTM's recurrent weights never act (h0 = 0)
        zero = [n for n in problems.pop("zero", []) if "lstm.weight_hh" not in n]
        if zero:
            problems["zero"] = zero
    assert problems == {}


@pytest.mark.parametrize(("conditioning", "context", "mask_type"), CUNET_CASES)
def test_cunet_every_conditioning_context_and_mask(conditioning: str, context: str,
                                                   mask_type: str) -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": conditioning,
                   "context": context, "mask_type": mask_type})
    batch = tiny_batch(model)
    _check(model, forward_backward(model, batch), batch)


@pytest.mark.parametrize(("conditioning", "context"), MHUNET_CASES)
def test_mhunet_every_conditioning_and_context(conditioning: str, context: str) -> None:
    model = build({"name": "mhunet", "preset": "tiny", "conditioning": conditioning,
                   "context": context})
    assert len(model.decoders) == 13
    # every instrument sounds somewhere in the batch, so every decoder gets a gradient (with
    # label_multiply an instrument absent from the whole batch leaves its decoder untouched)
    batch = tiny_batch(model, active=13)
    _check(model, forward_backward(model, batch), batch)


@pytest.mark.parametrize("name", ["cunet", pytest.param("mhunet", marks=pytest.mark.slow)])
@pytest.mark.parametrize(("mask_type", "loss"), [(m, None) for m in MASK_TYPES] + [
    ("ratio", "l1"), ("ratio", "si_sdr")])
def test_log_frequency_scale_log_magnitudes_and_losses(name: str, mask_type: str,
                                                       loss: str | None) -> None:
    model = build({"name": name, "preset": "tiny", "mask_type": mask_type, "loss": loss,
                   "frequency_scale": "log", "magnitude_scale": "log"})
    batch = tiny_batch(model, active=13)
    _check(model, forward_backward(model, batch), batch)


@pytest.mark.parametrize("name", ["cunet", "mhunet"])
@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_label_multiply_zeroes_absent_instruments_exactly(name: str, mask_type: str) -> None:
    model = build({"name": name, "preset": "tiny", "conditioning": "label_multiply",
                   "mask_type": mask_type, "frequency_scale": "log"}).eval()
    batch = tiny_batch(model, batch_size=3)
    with torch.no_grad():
        out = model(batch)
    est = out["magnitude" if mask_type == "direct" else "mask"]
    absent = batch["labels"] == 0
    assert absent.any() and (~absent).any()
    assert torch.count_nonzero(est[absent]) == 0
    assert torch.count_nonzero(est[~absent]) > 0
    waves = model.separate(batch)
    assert torch.count_nonzero(waves[absent]) == 0


def test_final_multiply_gives_class_probabilities() -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "final_multiply",
                   "context": "visual_maxpool"}).eval()
    with torch.no_grad():
        out = model(tiny_batch(model))
    probs = out["probabilities"]
    assert probs.shape == (2, 13)
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    assert (out["mask"] <= probs[:, :, None, None, None] + 1e-7).all()  # sigmoid mask <= 1


def test_absent_video_streams_do_not_reach_the_context() -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "film_bottleneck",
                   "context": "visual_maxpool"}).eval()
    video = tiny_batch(model)["video"].clone()
    video[:, 1:] = 0  # only the first source has a video
    with torch.no_grad():
        context = model.visual(video)
        alone = model.visual.frontend(video[:, :1]).amax(dim=2)[:, 0]
    assert torch.allclose(context, alone.clamp_min(0), atol=1e-6)


@pytest.mark.parametrize(("context", "frames"), [("visual", 1), ("visual_motion", 3),
                                                 ("visual_maxpool", 3), ("labels", None)])
def test_spec_tells_the_data_side_what_to_load(context: str, frames: int | None) -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "film_final",
                   "context": context})
    assert model.spec.frames_per_clip == frames
    assert ("video" in model.inputs) == (context in VISUAL_CONTEXTS)
    assert ("labels" in model.inputs) == (context == "labels")
    if frames:
        assert model.spec.extra["video_streams"] == 3
        assert model.spec.fps * model.spec.clip_seconds == pytest.approx(frames)


def test_paper_spec_and_parameter_counts() -> None:
    with torch.device("meta"):
        model = build({"name": "cunet"})
    spec = model.spec
    assert (spec.stft.sample_rate, spec.stft.n_fft, spec.stft.hop_length) == (11025, 1022, 256)
    assert spec.stft.n_bins == 512 and spec.stft.num_frames(spec.clip_samples) == 256
    chans = [1, 16, 32, 64, 128, 256, 512]
    encoder = sum(16 * i * o + 2 * o for i, o in zip(chans[:-1], chans[1:], strict=True))  # 4x4+BN
    decoder_in = [512 + 256, 256 + 128, 128 + 64, 64 + 32, 32 + 16]
    decoder_out = [256, 128, 64, 32, 16]
    hidden = sum(9 * i * o + 2 * o for i, o in zip(decoder_in, decoder_out, strict=True))  # 3x3+BN

    def final(out: int) -> int:
        return 9 * 16 * out + out

    assert parameter_count("cunet") == encoder + hidden + final(13)
    assert parameter_count("mhunet") == encoder + 13 * (hidden + final(1))


def test_log_frequency_masks_come_back_on_the_linear_grid() -> None:
    model = build({"name": "cunet", "preset": "tiny", "frequency_scale": "log",
                   "conditioning": "label_multiply"}).eval()
    batch = tiny_batch(model)
    with torch.no_grad():
        mask = model(batch)["mask"]
    assert mask.shape[-2] == model.spec.stft.n_bins
    assert mask.min() >= 0 and mask.max() <= 1  # interpolation keeps sigmoid masks in [0, 1]


def test_tiny_cunet_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = build({"name": "cunet", "preset": "tiny"})
    first, last = overfit(model, tiny_batch(model, batch_size=1), steps=60, lr=1e-2)
    assert last < first / 10, (first, last)


@pytest.mark.slow
def test_tiny_mhunet_with_labels_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = build({"name": "mhunet", "preset": "tiny", "conditioning": "film_encoder"})
    first, last = overfit(model, tiny_batch(model, batch_size=1), steps=60, lr=1e-2)
    assert last < first / 10, (first, last)


@pytest.mark.parametrize(("config", "message"), [
    ({"conditioning": "label_multiply", "context": "visual"}, "valid contexts for "
     "'label_multiply': labels"),
    ({"conditioning": "final_multiply", "context": "labels"}, "valid contexts for "
     "'final_multiply': visual, visual_motion, visual_maxpool"),
    ({"conditioning": "film_final", "context": "none"}, "valid contexts"),
    ({"conditioning": "none", "context": "labels"}, "valid contexts for 'none': none"),
    ({"conditioning": "film_bottleneck", "context": "visual", "frontend": "none"},
     "needs a visual front-end"),
    ({"conditioning": "film_bottleneck", "context": "labels", "frontend": "resnet18"},
     "needs a visual context"),
    ({"conditioning": "film_middle"}, "valid choices: none, film_bottleneck"),
    ({"context": "audio"}, "valid choices: none, labels, visual"),
    ({"mask_type": "phase"}, "valid choices: ratio, binary, complex, direct"),
    ({"mask_type": "complex", "mask_activation": "sigmoid"}, "valid choices: tanh"),
    ({"frequency_scale": "mel"}, "valid choices: linear, log"),
    ({"mask_type": "binary", "loss": "l2"}, "valid choices: bce, si_sdr"),
    ({"dropuot": 0.1}, "unknown option"),
])
def test_bad_configs_fail_at_build_time_listing_choices(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build({"name": "cunet", "preset": "tiny", **config})


def test_missing_labels_are_named() -> None:
    model = build({"name": "cunet", "preset": "tiny", "conditioning": "label_multiply"})
    batch = tiny_batch(model)
    with pytest.raises(KeyError, match="labels"):
        model({"mixture": batch["mixture"]})
    with pytest.raises(ValueError, match=r"\(B, 13\)"):
        model({**batch, "labels": batch["labels"][:, :5]})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cunet", "mhunet"])
def test_paper_size_forward(name: str) -> None:
    model = build({"name": name, "conditioning": "label_multiply"}).eval()
    batch = tiny_batch(model, batch_size=1)
    with torch.no_grad():
        out = model(batch)
    assert out["mask"].shape == (1, 13, 1, 512, 256)

"""VocaLiST: paper size, shapes, gradients, overfitting, checkpoints, offset search, bad configs."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_helpers import forward_backward, gradient_problems, overfit, tiny_batch  # noqa: E402

from avsep.models import build  # noqa: E402
from avsep.models.registry import parameter_count  # noqa: E402
from avsep.models.vocalist import (  # noqa: E402
    build_visual_encoder,
    estimate_offset,
    load_checkpoint,
    load_vocalist,
    save_checkpoint,
    score_offsets,
)

SPF = 640  # audio samples per video frame at 16 kHz / 25 fps


def _sync_batch(model: torch.nn.Module, batch_size: int = 2, seed: int = 0) -> dict:
    batch = tiny_batch(model, batch_size=batch_size, seed=seed)
    batch["sync"] = (torch.arange(batch_size) % 2 == 0).float()
    return batch


def test_paper_size_matches_the_paper_without_a_forward_pass() -> None:
    total = parameter_count({"name": "vocalist", "preset": "paper"})
    assert abs(total - 80.1e6) / 80.1e6 < 0.01  # paper Table 1: 80.1 M
    with torch.device("meta"):
        encoder = build_visual_encoder(None, trainable=True)
    visual = sum(p.numel() for p in encoder.parameters())
    assert 38e6 <= visual < 39e6  # paper §4.3: "38M trainable parameters" in the encoder


def test_tiny_forward_shapes_and_gradients() -> None:
    model = build({"name": "vocalist", "preset": "tiny"})
    assert model.task == "sync" and model.data_kind == "lipsync"
    assert model.spec.frames_per_clip == 5 and model.spec.crop == (48, 96)
    assert model.spec.clip_samples == 5 * SPF
    batch = _sync_batch(model)
    out = forward_backward(model, batch)
    assert out["logits"].shape == (2,) and out["score"].shape == (2,)
    assert ((out["score"] > 0) & (out["score"] < 1)).all()
    assert gradient_problems(model) == {}


def test_frozen_visual_encoder_gets_no_gradient_and_stays_in_eval() -> None:
    model = build({"name": "vocalist", "preset": "tiny", "visual_trainable": False})
    forward_backward(model, _sync_batch(model))
    assert gradient_problems(model) == {}
    assert not model.visual_encoder.training and model.training
    assert all(p.grad is None for p in model.visual_encoder.parameters())


def test_tiny_model_overfits_one_batch() -> None:
    model = build({"name": "vocalist", "preset": "tiny", "dropout": 0.0, "embed_dropout": 0.0})
    first, last = overfit(model, _sync_batch(model), steps=30, lr=3e-3)
    assert last <= first / 10, (first, last)


def test_checkpoint_round_trip_and_visual_encoder_loading(tmp_path: Path) -> None:
    model = build({"name": "vocalist", "preset": "tiny"})
    forward_backward(model, _sync_batch(model))  # moves the BatchNorm running statistics
    path = save_checkpoint(model.eval(), tmp_path / "vocalist.pt")
    config, state = load_checkpoint(path)
    assert config == model.config and set(state) == set(model.state_dict())
    again = load_vocalist(path)
    batch = _sync_batch(model)
    assert torch.equal(again(batch)["logits"], model(batch)["logits"])
    frozen = build_visual_encoder(path, trainable=False).train()
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    frames = batch["video"]
    assert torch.equal(frozen(frames), model.visual_encoder(frames))
    trainable = build_visual_encoder(path, trainable=True)
    assert all(p.requires_grad for p in trainable.parameters())
    # a search's config check builds on the meta device: the weights are still taken, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.device("meta"):
            checked = build_visual_encoder(path, trainable=False)
    assert not any(t.is_meta for t in checked.state_dict().values())
    assert not any(p.requires_grad for p in checked.parameters())
    assert torch.equal(checked.eval()(frames), model.visual_encoder(frames))


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="other.pt.*not a VocaLiST checkpoint"):
        build_visual_encoder(other, trainable=False)


def _planted(offsets: list[int], frames: int = 48, seed: int = 0) -> tuple:
    """Video whose brightness follows a random per-frame envelope e, and audio whose loudness
    in frame t is e[t - d] (video frame t matches audio frame t + d)."""
    gen = torch.Generator().manual_seed(seed)
    env = torch.rand(len(offsets), frames + 40, generator=gen)
    video = (env[:, 20:20 + frames] * 255).to(torch.uint8)
    video = video[:, None, :, None, None, None].expand(-1, 1, -1, 3, 4, 4).contiguous()
    loud = torch.stack([env[i, 20 - d: 20 - d + frames] for i, d in enumerate(offsets)])
    audio = loud.repeat_interleave(SPF, dim=1) * torch.randn(len(offsets), frames * SPF,
                                                               generator=gen)
    return audio[:, None], video


def _correlation_scorer(audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of per-frame audio RMS and per-frame brightness: (N,)."""
    rms = audio[:, 0].reshape(audio.shape[0], -1, SPF).pow(2).mean(-1).sqrt()
    light = video.float().mean(dim=(1, 3, 4, 5))
    rms, light = rms - rms.mean(1, keepdim=True), light - light.mean(1, keepdim=True)
    return (rms * light).sum(1) / (rms.norm(dim=1) * light.norm(dim=1) + 1e-8)


def test_offset_search_finds_planted_offsets() -> None:
    planted = [0, 3, -7, 15]
    audio, video = _planted(planted)
    found, scores = estimate_offset(_correlation_scorer, audio, video, window=5, max_offset=15)
    assert found.tolist() == planted
    assert scores.shape == (4, 31)
    # window averaging: a single 5-frame window is far noisier than the average over 13
    assert (scores.max(1).values > 0.9).all()


def test_offset_search_needs_enough_context() -> None:
    audio, video = _planted([0], frames=30)
    with pytest.raises(ValueError, match="needs at least 35 video frames"):
        score_offsets(_correlation_scorer, audio, video, window=5, max_offset=15)


def test_offset_search_runs_the_model() -> None:
    model = build({"name": "vocalist", "preset": "tiny"})
    audio, _ = _planted([2, -2], frames=36)
    video = torch.randint(0, 256, (2, 1, 36, 3, 48, 96), dtype=torch.uint8)
    offsets, scores = estimate_offset(model, audio, video, max_offset=15, batch_size=64)
    assert scores.shape == (2, 31) and torch.isfinite(scores).all()
    assert offsets.abs().max() <= 15
    # 36 frames leave two 5-frame windows (t = 15, 16) with audio for every offset; the
    # offset-0 column is the mean of the model's logits on those two aligned windows
    with torch.no_grad():
        logits = [model({"mixture": audio[:, :, t * SPF:(t + 5) * SPF],
                         "video": video[:, :, t:t + 5]})["logits"] for t in (15, 16)]
    assert torch.allclose(scores[:, 15], (logits[0] + logits[1]) / 2, atol=1e-5)


def test_windows_encoded_once_give_the_scores_of_every_pair_through_the_model() -> None:
    """The model's own scorer encodes each audio and visual window once; a plain callable of
    the same model is run on every (window, offset) pair: the same scores, in chunks of any
    size (3 items x 31 offsets x 6 windows = 558 pairs, 100 at a time)."""
    model = build({"name": "vocalist", "preset": "tiny"}).eval()
    with torch.no_grad():  # an untrained head barely tells pairs apart: spread its logits
        model.classifier.weight *= 100.0
    audio, _ = _planted([4, -9, 0], frames=40)
    video = torch.randint(0, 256, (3, 1, 40, 3, 48, 96), dtype=torch.uint8)

    def every_pair(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return model({"mixture": a, "video": v})["logits"]

    encoded = score_offsets(model, audio, video, max_offset=15, batch_size=100)
    plain = score_offsets(every_pair, audio, video, max_offset=15, batch_size=100)
    assert encoded.shape == plain.shape == (3, 31)
    torch.testing.assert_close(encoded, plain, atol=1e-4, rtol=1e-5)
    assert encoded.std() > 0.02  # the scores differ across offsets and items: a real check


def test_model_package_round_trip(tmp_path: Path) -> None:
    from avsep.models.package import load_model_package, save_model_package

    config = {"name": "vocalist", "preset": "tiny"}
    model = build(config)
    batch = _sync_batch(model)
    forward_backward(model, batch)
    save_model_package(model.eval(), config, tmp_path / "pkg")
    again, payload = load_model_package(tmp_path)
    assert payload["task"] == "sync" and payload["data_kind"] == "lipsync"
    assert torch.equal(again(batch)["logits"], model(batch)["logits"])
    # the package folder also serves as a checkpoint for the visual encoder (Y-Net-mr-V)
    encoder = build_visual_encoder(tmp_path, trainable=False)
    assert torch.equal(encoder(batch["video"]), model.visual_encoder(batch["video"]))


def test_visual_norm_temporal_ignores_what_does_not_move_and_round_trips(tmp_path: Path) -> None:
    model = build({"name": "vocalist", "preset": "tiny", "visual_norm": "temporal"}).eval()
    frames = torch.rand(2, 1, 5, 3, 48, 96) * 0.5
    still = torch.rand(1, 1, 1, 3, 48, 96) * 0.5  # a static face, the same in every frame
    moved = model.visual_encoder(frames)
    assert torch.allclose(model.visual_encoder(frames + still), moved, atol=1e-5)
    centred = model.visual_encoder.standardise(frames[:, 0])  # what the first conv sees
    assert centred.mean(dim=1).abs().max() < 1e-6 and centred.abs().max() > 0.1
    encoder = build_visual_encoder(save_checkpoint(model, tmp_path / "v.pt"), trainable=False)
    assert encoder.norm == "temporal"
    assert torch.allclose(encoder(frames), moved, atol=1e-6)
    with pytest.raises(ValueError, match="2\\+ frames"):
        model.visual_encoder(frames[:, :, :1])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"preset": "huge"}, "valid choices: paper, tiny"),
        ({"preset": "tiny", "visual_norm": "whiten"}, "valid choices: none, clip, temporal"),
        ({"attention": 4}, "unknown option"),
        ({"channels": [8, 16, 32]}, "channels needs 5 widths"),
        ({"preset": "tiny", "heads": 5}, "not divisible by heads"),
    ],
)
def test_bad_configs_fail_at_build_time(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build({"name": "vocalist", **config})


def test_wrong_video_shape_is_named() -> None:
    model = build({"name": "vocalist", "preset": "tiny"})
    batch = _sync_batch(model)
    batch["video"] = batch["video"][..., :64]
    with pytest.raises(ValueError, match="48×96 mouth crops"):
        model(batch)
    with pytest.raises(KeyError, match="sync"):
        model.loss({"mixture": batch["mixture"]}, {"logits": torch.zeros(2)})


@pytest.mark.slow
def test_paper_size_forward_and_backward() -> None:
    model = build({"name": "vocalist", "preset": "paper"})
    out = forward_backward(model, _sync_batch(model))
    assert out["logits"].shape == (2,)
    assert gradient_problems(model) == {}

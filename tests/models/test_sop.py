"""Sound of Pixels (Solos baseline): size, shapes, visual selection, overfitting, bad configs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_helpers import forward_backward, gradient_problems, overfit, tiny_batch  # noqa: E402

from avsep.models import build  # noqa: E402
from avsep.models.blocks.unet import UNet  # noqa: E402
from avsep.models.registry import parameter_count  # noqa: E402


def band_limited_batch(model: torch.nn.Module, batch_size: int = 2) -> dict[str, torch.Tensor]:
    """Source 1: noise below 800 Hz, source 2: noise above 1200 Hz (masks that are ~0/1 per
    bin: learnable by SoP's log-frequency grid and by Y-Net's cRM), random video frames.
    Also used by test_ynet.py."""
    gen = torch.Generator().manual_seed(0)
    length, rate = model.spec.clip_samples, model.spec.stft.sample_rate
    spec = torch.fft.rfft(torch.randn(batch_size, 2, 1, length, generator=gen), dim=-1)
    freqs = torch.fft.rfftfreq(length, 1 / rate)
    spec[:, 0, ..., freqs > 800] = 0
    spec[:, 1, ..., freqs < 1200] = 0
    sources = 0.3 * torch.fft.irfft(spec, n=length, dim=-1)
    video = tiny_batch(model, batch_size=batch_size)["video"]
    return {"mixture": sources.sum(1), "sources": sources, "video": video}


def test_paper_size_is_unet_plus_resnet18_plus_synthesizer() -> None:
    import torchvision

    with torch.device("meta"):
        unet = UNet(1, 32, (32, 64, 128, 256, 512, 512, 512), dropout=0.0)
        resnet = torchvision.models.resnet18(weights=None)
    count = sum(p.numel() for p in unet.parameters())
    count += sum(p.numel() for n, p in resnet.named_parameters() if not n.startswith("fc."))
    count += 512 * 32 + 32  # projection of the ResNet features to the 32-vector
    count += 32 + 1  # alpha_k and beta of the synthesizer
    assert parameter_count({"name": "sop", "preset": "paper"}) == count


def test_default_source_slots_are_two_for_the_paper_and_three_for_tiny() -> None:
    """The paper trains mix-of-2; the tiny preset trains on mixes of 2..3 parts."""
    with torch.device("meta"):
        paper = build({"name": "sop", "preset": "paper"})
    tiny = build({"name": "sop", "preset": "tiny"})
    assert paper.spec.extra["video_streams"] == 2 and paper.source_names == ("source1", "source2")
    assert tiny.spec.extra["video_streams"] == 3 and len(tiny.source_names) == 3
    assert build({"name": "sop", "preset": "tiny", "num_sources": 2}).spec.extra[
        "video_streams"] == 2


def test_paper_spec_follows_the_solos_paper() -> None:
    from avsep.models.sop import sop_spec

    spec = sop_spec()
    assert (spec.stft.sample_rate, spec.stft.n_fft, spec.stft.hop_length) == (11025, 1022, 256)
    assert spec.stft.num_frames(spec.clip_samples) == 256 and spec.stft.n_bins == 512
    assert spec.frames_per_clip == 3 and spec.crop == (224, 224)


def test_tiny_forward_shapes_and_gradients() -> None:
    model = build({"name": "sop", "preset": "tiny", "num_sources": 3})
    batch = tiny_batch(model)
    assert batch["video"].shape[1] == 3
    out = forward_backward(model, batch)
    frames = model.spec.stft.num_frames(model.spec.clip_samples)
    assert out["mask"].shape == (2, 3, 1, model.spec.stft.n_bins, frames)
    assert out["mask"].min() >= 0 and out["mask"].max() <= 1
    k, log_bins = model.config.components, model.config.log_bins
    assert (k, log_bins) == (16, 32)
    assert out["visual"].shape == (2, 3, k) and out["components"].shape == (2, k, log_bins, frames)
    assert gradient_problems(model) == {}
    assert model.separate(batch).shape == (2, 3, 1, model.spec.clip_samples)


def test_masks_follow_the_visual_streams() -> None:
    """Swapping the two video streams swaps the two masks: the visual vector selects."""
    model = build({"name": "sop", "preset": "tiny"}).eval()
    batch = tiny_batch(model)
    swapped = {**batch, "video": batch["video"].flip(1)}
    with torch.no_grad():
        masks, masks_swapped = model(batch)["mask"], model(swapped)["mask"]
    assert torch.allclose(masks_swapped, masks.flip(1), atol=1e-6)
    assert (masks[:, 0] - masks[:, 1]).abs().max() > 1e-5  # different streams, different masks


def test_tiny_model_overfits_one_batch() -> None:
    model = build({"name": "sop", "preset": "tiny", "num_sources": 2})
    first, last = overfit(model, band_limited_batch(model), steps=40, lr=3e-3)
    assert last <= first / 10, (first, last)


def test_frozen_frontend_gets_no_gradient() -> None:
    model = build({"name": "sop", "preset": "tiny", "frontend_trainable": False})
    forward_backward(model, tiny_batch(model))
    assert gradient_problems(model) == {}
    assert all(p.grad is None for p in model.frontend.parameters())


def test_model_package_round_trip(tmp_path: Path) -> None:
    from avsep.models.package import load_model_package, save_model_package

    config = {"name": "sop", "preset": "tiny", "num_sources": 3}
    model = build(config)
    batch = tiny_batch(model)
    forward_backward(model, batch)
    save_model_package(model.eval(), config, tmp_path / "pkg")
    again, payload = load_model_package(tmp_path)
    assert payload["spec"]["extra"]["video_streams"] == 3
    with torch.no_grad():
        assert torch.equal(again(batch)["mask"], model(batch)["mask"])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"frontend": "vocalist"}, "valid choices: conv2d_lstm, conv3d, dense_lstm, resnet18"),
        ({"num_sources": 0}, "num_sources must be 1..13"),
        ({"frontend_weights": "w.pt"}, "needs a resnet front-end"),
        ({"mask_type": "ratio"}, "unknown option"),
    ],
)
def test_bad_configs_fail_at_build_time(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build({"name": "sop", "preset": "tiny", **config})


def test_one_stream_per_source_is_required() -> None:
    model = build({"name": "sop", "preset": "tiny"})
    batch = tiny_batch(model)
    with pytest.raises(ValueError, match="one stream per source slot"):
        model({**batch, "video": batch["video"][:, :1]})


@pytest.mark.slow
def test_paper_size_forward_and_backward() -> None:
    model = build({"name": "sop", "preset": "paper"})
    out = forward_backward(model, tiny_batch(model, batch_size=1))
    assert out["mask"].shape == (1, 2, 1, 512, 256)
    assert gradient_problems(model) == {}


def test_param_groups_give_the_visual_net_a_tenth_of_the_rate() -> None:
    """Solos §IV-A: 1e-3 for the U-Net (and the synthesizer), 1e-4 for the visual net."""
    model = build({"name": "sop", "preset": "tiny"})
    groups = model.param_groups(1e-3)
    assert [g["name"] for g in groups] == ["audio", "visual"]
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4])
    visual = {id(p) for p in model.frontend.parameters()}
    assert {id(p) for p in groups[1]["params"]} == visual
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.parameters()} - visual
    assert any(p is model.alpha for p in groups[0]["params"])
    # the optimizer really steps each group at its rate
    optimizer = torch.optim.SGD(groups, lr=1.0)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-4])
    scaled = build({"name": "sop", "preset": "tiny", "visual_lr_scale": 0.5})
    assert scaled.param_groups(2e-3)[1]["lr"] == pytest.approx(1e-3)
    frozen = build({"name": "sop", "preset": "tiny", "frontend_trainable": False})
    assert [g["name"] for g in frozen.param_groups(1e-3)] == ["audio"]
    with pytest.raises(ValueError, match="visual_lr_scale"):
        build({"name": "sop", "preset": "tiny", "visual_lr_scale": 0})


def test_resnet_weights_load_from_the_configured_file(tmp_path: Path) -> None:
    import torchvision
    from safetensors.torch import save_file

    source = torchvision.models.resnet18(weights=None)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    path = tmp_path / "r18.safetensors"
    save_file(state, str(path))
    model = build({"name": "sop", "preset": "tiny", "frontend": "resnet18",
                   "frontend_weights": str(path)})
    loaded = model.frontend.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    with pytest.raises(FileNotFoundError, match="model option frontend_weights"):
        build({"name": "sop", "preset": "tiny", "frontend": "resnet18",
               "frontend_weights": str(tmp_path / "none.pth")})

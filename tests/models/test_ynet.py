"""Y-Net-mr / Y-Net-mr-V: sizes, complex masks, frozen VocaLiST encoder, overfitting, configs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_sop import band_limited_batch  # noqa: E402
from zoo_helpers import forward_backward, gradient_problems, overfit, tiny_batch  # noqa: E402

from avsep.models import build  # noqa: E402
from avsep.models.registry import parameter_count  # noqa: E402
from avsep.models.vocalist import save_checkpoint  # noqa: E402

VOCALIST_ENCODER = 38_608_448  # parameters of VocaLiST's visual encoder at paper size


@pytest.fixture(scope="module")
def vocalist_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny VocaLiST whose BatchNorm statistics moved away from their initial values."""
    torch.manual_seed(1)
    model = build({"name": "vocalist", "preset": "tiny"})
    batch = tiny_batch(model)
    batch["sync"] = torch.tensor([1.0, 0.0])
    forward_backward(model, batch)
    return save_checkpoint(model.eval(), tmp_path_factory.mktemp("vocalist") / "tiny.pt")


def test_paper_sizes_computed_without_forward() -> None:
    e2e = parameter_count({"name": "ynet", "preset": "paper"})
    frozen_random = {"name": "ynet", "preset": "paper", "visual": "vocalist",
                     "vocalist_init": "random", "visual_trainable": False}
    frozen = parameter_count(frozen_random)
    trainable = parameter_count(frozen_random, trainable_only=True)
    assert frozen - trainable == VOCALIST_ENCODER  # exactly the frozen VocaLiST encoder
    # the two variants differ only in the visual encoder (MC3-18 to layer3: 256 features)
    # and the width of the FiLM projection (256 vs 512 features -> 2·256 outputs)
    film_difference = (512 - 256) * 2 * 256
    assert frozen - e2e == VOCALIST_ENCODER - _mc3_to_layer3() + film_difference


def _mc3_to_layer3() -> int:
    from torchvision.models.video import mc3_18

    with torch.device("meta"):
        net = mc3_18(weights=None)
    parts = (net.stem, net.layer1, net.layer2, net.layer3)
    return sum(p.numel() for part in parts for p in part.parameters())


def test_paper_spec_is_the_acappella_pipeline() -> None:
    from avsep.models.ynet import ynet_spec

    spec = ynet_spec()
    assert (spec.stft.sample_rate, spec.stft.n_fft, spec.stft.hop_length) == (16384, 1022, 256)
    assert spec.stft.n_bins == 512 and spec.stft.num_frames(spec.clip_samples) == 256
    assert spec.frames_per_clip == 100 and spec.fps == 25 and spec.crop == (96, 96)
    assert ynet_spec(visual="vocalist").crop == (48, 96)


@pytest.mark.parametrize("visual", ["end_to_end", "vocalist"])
def test_tiny_forward_complex_masks_and_gradients(visual: str) -> None:
    model = build({"name": "ynet", "preset": "tiny", "visual": visual})
    batch = tiny_batch(model)
    out = forward_backward(model, batch)
    frames = model.spec.stft.num_frames(model.spec.clip_samples)
    mask = out["mask"]
    assert mask.is_complex() and mask.shape == (2, 2, 1, model.spec.stft.n_bins, frames)
    voice = mask[:, 0]
    assert torch.allclose(mask.sum(1), torch.ones_like(voice), atol=1e-5)  # complement
    assert torch.equal(voice[..., 0::2, :], voice[..., 1::2, :])  # coarse: bins in pairs
    assert gradient_problems(model) == {}
    assert model.separate(batch).shape == (2, 2, 1, model.spec.clip_samples)


def test_loss_compares_bounded_masks() -> None:
    """The mask is the raw cRM; the loss bounds both sides with 10·tanh (reference code):
    the ideal cRM S/X scores ~0, an offset mask scores > 0, and a huge error saturates at
    most at (2K)² per real/imaginary part."""
    from avsep.audio.stft import stft

    model = build({"name": "ynet", "preset": "tiny"})
    batch = tiny_batch(model)
    mix = model.mixture_stft(batch)  # (B, 1, F, N)
    ideal = stft(batch["sources"], model.spec.stft) / mix.unsqueeze(1)  # (B, 2, 1, F, N)
    assert model.loss(batch, {"mask": ideal}) < 1e-6
    assert model.loss(batch, {"mask": ideal + 1.0}) > 0.1
    assert model.loss(batch, {"mask": ideal + 1e6}) <= 2 * (2 * 10) ** 2


def test_frozen_pretrained_vocalist_encoder(vocalist_checkpoint: Path) -> None:
    """Y-Net-mr-V (PT): the encoder loaded from the checkpoint gives the VocaLiST encoder's
    outputs exactly, gets no gradient, and keeps its BatchNorm statistics in training."""
    from avsep.models.vocalist import load_vocalist

    vocalist = load_vocalist(vocalist_checkpoint)
    model = build({"name": "ynet", "preset": "tiny", "visual": "vocalist",
                   "vocalist_checkpoint": str(vocalist_checkpoint)})
    batch = tiny_batch(model)
    with torch.no_grad():
        expected = vocalist.visual_encoder(batch["video"])
    forward_backward(model, batch)
    assert gradient_problems(model) == {}  # includes: no frozen parameter got a gradient
    assert not any(p.requires_grad for p in model.visual_encoder.parameters())
    assert not model.visual_encoder.training
    with torch.no_grad():
        assert torch.equal(model.visual_encoder(batch["video"]), expected)


def test_trainable_vocalist_encoder_gets_gradients(vocalist_checkpoint: Path) -> None:
    model = build({"name": "ynet", "preset": "tiny", "visual": "vocalist",
                   "vocalist_checkpoint": str(vocalist_checkpoint), "visual_trainable": True})
    forward_backward(model, tiny_batch(model))
    assert gradient_problems(model) == {}
    assert all(p.grad is not None for p in model.visual_encoder.parameters())


def test_vocals_only_layout() -> None:
    model = build({"name": "ynet", "preset": "tiny", "sources": "vocals"})
    assert model.source_names == ("vocals",)
    batch = tiny_batch(model)
    assert batch["sources"].shape[1] == 1
    out = forward_backward(model, batch)
    assert out["mask"].shape[1] == 1


@pytest.mark.parametrize("visual", ["end_to_end", "vocalist"])
def test_tiny_model_overfits_one_batch(visual: str) -> None:
    model = build({"name": "ynet", "preset": "tiny", "visual": visual})
    first, last = overfit(model, band_limited_batch(model), steps=30, lr=5e-3)
    assert last <= first / 10, (first, last)


def test_model_package_round_trip(vocalist_checkpoint: Path, tmp_path: Path) -> None:
    from avsep.models.package import load_model_package, save_model_package

    config = {"name": "ynet", "preset": "tiny", "visual": "vocalist",
              "vocalist_checkpoint": str(vocalist_checkpoint)}
    model = build(config)
    batch = tiny_batch(model)
    forward_backward(model, batch)
    save_model_package(model.eval(), config, tmp_path / "pkg")
    again, payload = load_model_package(tmp_path)
    assert payload["sources"] == ["vocals", "accompaniment"]
    with torch.no_grad():
        assert torch.equal(again(batch)["mask"], model(batch)["mask"])


def test_portable_package_reloads_without_the_checkpoint(vocalist_checkpoint: Path,
                                                         tmp_path: Path) -> None:
    """A Y-Net-mr-V (PT) saved with portable_options rebuilds the same frozen module from its
    package alone, after the VocaLiST checkpoint it was trained from is gone."""
    import shutil

    from avsep.models.package import load_model_package, save_model_package
    from avsep.models.ynet import portable_options

    local = tmp_path / "vocalist.pt"
    shutil.copy(vocalist_checkpoint, local)
    config = {"name": "ynet", "preset": "tiny", "visual": "vocalist",
              "vocalist_checkpoint": str(local)}
    model = build(config).eval()
    stored = portable_options(config)
    assert stored == {"name": "ynet", "preset": "tiny", "visual": "vocalist",
                      "vocalist_init": "random", "visual_trainable": False}
    save_model_package(model, stored, tmp_path / "pkg")
    local.unlink()
    again, _ = load_model_package(tmp_path / "pkg")
    assert not any(p.requires_grad for p in again.visual_encoder.parameters())
    batch = tiny_batch(model)
    with torch.no_grad():
        assert torch.equal(again(batch)["mask"], model(batch)["mask"])
    assert portable_options({"name": "ynet", "visual": "end_to_end",
                             "vocalist_checkpoint": "x"}) == {"name": "ynet",
                                                              "visual": "end_to_end"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"visual": "resnet18"}, "valid choices: end_to_end, vocalist"),
        ({"visual": "vocalist", "vocalist_init": "pretrained"},
         "needs model.vocalist_checkpoint"),
        ({"visual": "vocalist", "visual_trainable": False}, "model.vocalist_init: random"),
        ({"visual": "vocalist", "vocalist_init": "imagenet"},
         "valid choices: pretrained, random"),
        ({"sources": "accompaniment"}, "valid choices: vocals\\+accompaniment, vocals"),
        ({"mask_type": "ratio"}, "unknown option"),
    ],
)
def test_bad_configs_fail_at_build_time(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build({"name": "ynet", "preset": "tiny", **config})


def test_one_base_config_builds_every_arm(vocalist_checkpoint: Path) -> None:
    """The study's base config carries the checkpoint; it applies only to the pre-trained arm:
    MC3/conv3d end to end ignores it, the V-E2E arm is random and trained, the PT arm loads it
    and is frozen, and a frozen random encoder is built only when asked for by name."""
    from avsep.models.vocalist import load_vocalist

    base = {"name": "ynet", "preset": "tiny", "vocalist_checkpoint": str(vocalist_checkpoint)}
    pretrained = load_vocalist(vocalist_checkpoint).visual_encoder.state_dict()
    e2e = build({**base, "visual": "end_to_end"})
    assert all(p.requires_grad for p in e2e.visual_encoder.parameters())
    v_e2e = build({**base, "visual": "vocalist", "vocalist_init": "random"})
    assert all(p.requires_grad for p in v_e2e.visual_encoder.parameters())
    v_pt = build({**base, "visual": "vocalist"})
    assert not any(p.requires_grad for p in v_pt.visual_encoder.parameters())
    for arm, loaded in ((v_e2e, False), (v_pt, True)):
        state = arm.visual_encoder.state_dict()
        same = all(torch.equal(state[k], v) for k, v in pretrained.items())
        assert same == loaded
    frozen_random = build({"name": "ynet", "preset": "tiny", "visual": "vocalist",
                           "vocalist_init": "random", "visual_trainable": False})
    assert not any(p.requires_grad for p in frozen_random.visual_encoder.parameters())


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        build({"name": "ynet", "preset": "tiny", "visual": "vocalist",
               "vocalist_checkpoint": str(tmp_path / "nothing.pt")})


def test_only_the_target_singer_stream() -> None:
    model = build({"name": "ynet", "preset": "tiny"})
    batch = tiny_batch(model)
    with pytest.raises(ValueError, match="target singer's stream only"):
        model({**batch, "video": batch["video"].repeat(1, 2, 1, 1, 1, 1)})


@pytest.mark.slow
@pytest.mark.parametrize("visual", ["end_to_end", "vocalist"])
def test_paper_size_forward_and_backward(visual: str) -> None:
    model = build({"name": "ynet", "preset": "paper", "visual": visual})
    out = forward_backward(model, tiny_batch(model, batch_size=1))
    assert out["mask"].shape == (1, 2, 1, 512, 256)
    assert gradient_problems(model) == {}

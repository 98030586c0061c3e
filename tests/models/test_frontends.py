"""Visual front-ends: one contract (B, V, T, Cv, H, W) -> (B, V, T, D), freezing, weights."""

from __future__ import annotations

import pytest
import torch

from avsep.models.frontends import FRONTENDS, build_frontend

# a ResNet forward+backward takes seconds on a shared 2-core box: slow
SMALL = ["conv2d_lstm", "conv3d", "dense_lstm", pytest.param("resnet18", marks=pytest.mark.slow)]


def _frames(v: int = 2, t: int = 5, c: int = 3, h: int = 32, w: int = 32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (2, v, t, c, h, w), generator=gen, dtype=torch.uint8)


@pytest.mark.parametrize("name", SMALL)
def test_frontend_contract_shapes_and_gradients(name: str) -> None:
    frontend = build_frontend(name, dim=24)
    frames = _frames(t=3, h=16, w=16)
    feats = frontend(frames)
    assert feats.shape == (2, 2, 3, 24) and frontend.dim == 24
    feats.square().mean().backward()
    for pname, p in frontend.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().max() > 0, pname


@pytest.mark.parametrize("name", ["conv2d_lstm", "conv3d", "dense_lstm"])
def test_uint8_and_float_frames_agree(name: str) -> None:
    frontend = build_frontend(name, dim=8, in_channels=1).eval()
    frames = _frames(c=1, h=16, w=16)
    assert torch.allclose(frontend(frames), frontend(frames.float() / 255), atol=1e-5)


def test_frontends_keep_time_resolution() -> None:
    """Frame t's feature must not depend on later frames for the causal LSTM front-end, and
    changes when frame t changes. Frame 4's pixels are shuffled spatially, which keeps the
    per-clip standardisation statistics (sum and sum of squares per channel) unchanged."""
    frontend = build_frontend("conv2d_lstm", dim=8).eval()
    frames = _frames(v=1, t=6).float() / 255
    changed = frames.clone()
    perm = torch.randperm(32 * 32)
    changed[:, :, 4] = frames[:, :, 4].flatten(-2)[..., perm].reshape(frames[:, :, 4].shape)
    a, b = frontend(frames), frontend(changed)
    assert torch.allclose(a[:, :, :4], b[:, :, :4], atol=1e-6)
    assert not torch.allclose(a[:, :, 4:], b[:, :, 4:])


def test_resnet_defaults_to_backbone_width_and_takes_grey_frames() -> None:
    r18 = build_frontend("resnet18", dim=None, in_channels=1)
    assert r18.dim == 512
    assert r18(_frames(v=1, t=2, c=1)).shape == (2, 1, 2, 512)


def test_frozen_frontend_gets_no_gradients_and_stays_in_eval() -> None:
    frontend = build_frontend("conv2d_lstm", dim=8, trainable=False)
    frontend.train()
    assert not frontend.training
    assert not any(p.requires_grad for p in frontend.parameters())
    inputs = _frames().float().requires_grad_(True)
    frontend(inputs).sum().backward()
    assert all(p.grad is None for p in frontend.parameters())
    assert inputs.grad is not None  # gradients still flow to whatever feeds it


def test_resnet_weights_load_from_a_local_file(tmp_path) -> None:
    import torchvision

    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pt"
    torch.save(source.state_dict(), path)
    frontend = build_frontend("resnet18", dim=None, weights=path)
    assert torch.equal(frontend.net.conv1.weight, source.conv1.weight)
    bad = tmp_path / "bad.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="do not fit"):
        build_frontend("resnet18", weights=bad)
    with pytest.raises(FileNotFoundError, match="no such file.*model option frontend_weights"):
        build_frontend("resnet18", weights=tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        build_frontend("resnet18", weights=tmp_path / "junk.pt")


def test_build_frontend_errors_list_choices() -> None:
    assert build_frontend("none") is None
    with pytest.raises(ValueError, match="valid choices: conv2d_lstm, conv3d, dense_lstm"):
        build_frontend("vgg")
    with pytest.raises(ValueError, match="takes no weights"):
        build_frontend("conv3d", weights="x.pt")
    with pytest.raises(ValueError, match=r"Cv=3"):
        build_frontend("conv3d", dim=4)(_frames(c=1))
    assert set(FRONTENDS) >= {"conv2d_lstm", "conv3d", "dense_lstm", "resnet18", "resnet50",
                              "vocalist", "none"}


def test_vocalist_frontend_delegates_and_freezes() -> None:
    pytest.importorskip("avsep.models.vocalist")
    frontend = build_frontend("vocalist", trainable=False, preset="tiny")
    frames = torch.randint(0, 256, (1, 1, 5, 3, 48, 96), dtype=torch.uint8)
    feats = frontend(frames)
    assert feats.shape[:3] == (1, 1, 5) and feats.shape[-1] == frontend.dim
    assert not any(p.requires_grad for p in frontend.parameters())
    trainable = build_frontend("vocalist", trainable=True, preset="tiny")
    assert all(p.requires_grad for p in trainable.parameters())


@pytest.mark.slow
def test_resnet50_paper_width() -> None:
    r50 = build_frontend("resnet50", dim=None)
    assert r50.dim == 2048
    assert r50(_frames(v=1, t=1, h=224, w=224)).shape == (2, 1, 1, 2048)


def test_resnet_weights_load_from_safetensors(tmp_path) -> None:
    import torchvision
    from safetensors.torch import save_file

    source = torchvision.models.resnet18(weights=None)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(tmp_path / "r18.safetensors"))
    frontend = build_frontend("resnet18", dim=None, weights=tmp_path / "r18.safetensors")
    loaded = frontend.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    (tmp_path / "junk.safetensors").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable state dict"):
        build_frontend("resnet18", weights=tmp_path / "junk.safetensors")

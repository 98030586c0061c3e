"""Shared blocks: conv blocks, FiLM, dense blocks, U-Net, mask heads."""

from __future__ import annotations

import pytest
import torch

from avsep.models.blocks import (
    Compression,
    ConvBlock,
    DenseBlock,
    FiLM,
    FiLMGenerator,
    MaskActivation,
    UNet,
    apply_film,
    complex_mask,
)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_conv_block_shapes_per_dimensionality(dims: int) -> None:
    x = torch.randn(2, 3, *([8] * dims))
    same = ConvBlock(3, 5, 3, dims=dims)
    strided = ConvBlock(3, 5, 4, stride=2, padding=1, dims=dims, act="leaky_relu")
    pre = ConvBlock(3, 5, 3, dims=dims, preact=True)
    assert same(x).shape == (2, 5, *([8] * dims))
    assert strided(x).shape == (2, 5, *([4] * dims))
    assert pre(x).shape == (2, 5, *([8] * dims))


def test_conv_block_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="valid choices: relu"):
        ConvBlock(1, 1, act="gelu2")
    with pytest.raises(ValueError, match="valid choices: batch, instance, none"):
        ConvBlock(1, 1, norm="group")
    with pytest.raises(ValueError, match="dims must be 1, 2 or 3"):
        ConvBlock(1, 1, dims=4)


def test_film_applies_gamma_and_beta_per_channel() -> None:
    x = torch.ones(2, 3, 4, 5)
    gamma = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    beta = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]])
    y = apply_film(x, gamma, beta)
    assert torch.equal(y[:, :, 0, 0], gamma + beta)
    assert torch.equal(y[1, 0], torch.full((4, 5), 2.0))
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        apply_film(x, gamma[:, :2], beta)


def test_film_generator_starts_near_identity_and_depends_on_context() -> None:
    gen = FiLMGenerator(4, [3, 5])
    torch.nn.init.zeros_(gen.layers[0].weight)
    torch.nn.init.zeros_(gen.layers[0].bias)
    (g0, b0), (g1, b1) = gen(torch.randn(2, 4))
    assert g0.shape == (2, 3) and b1.shape == (2, 5)
    assert torch.equal(g0, torch.ones(2, 3)) and torch.equal(b0, torch.zeros(2, 3))
    assert not torch.allclose(g1[0], g1[1])  # different contexts, different modulation
    film = FiLM(4, 3)
    assert film(torch.randn(2, 3, 6), torch.randn(2, 4)).shape == (2, 3, 6)


def test_dense_block_and_compression_channel_arithmetic() -> None:
    block = DenseBlock(8, growth=4, num_layers=3)
    assert block.out_channels == 8 + 12
    y = block(torch.randn(2, 8, 6, 7))
    assert y.shape == (2, 20, 6, 7)
    # the input is passed through unchanged as the first channels
    x = torch.randn(2, 8, 6, 7)
    assert torch.equal(block(x)[:, :8], x)
    assert DenseBlock(8, 4, 3, include_input=False).out_channels == 12
    comp = Compression(20, 0.2)
    assert comp.out_channels == 4 and comp(y).shape == (2, 4, 6, 7)
    with pytest.raises(ValueError, match="compression ratio"):
        Compression(20, 0.0)


@pytest.mark.parametrize("size", [(64, 64), (37, 50), (16, 23)])
def test_unet_returns_input_size_for_any_size(size: tuple[int, int]) -> None:
    net = UNet(1, 3, channels=(4, 8, 16, 32))
    assert net(torch.randn(2, 1, *size)).shape == (2, 3, *size)


def test_unet_bottleneck_hook_and_encoder_films() -> None:
    net = UNet(1, 2, channels=(4, 8), bottleneck_extra=3)
    x = torch.randn(1, 1, 8, 8)
    seen = {}

    def hook(z: torch.Tensor) -> torch.Tensor:
        seen["shape"] = tuple(z.shape)
        return torch.cat([z, torch.zeros(z.shape[0], 3, *z.shape[2:])], dim=1)

    assert net(x, bottleneck=hook).shape == (1, 2, 8, 8)
    assert seen["shape"] == (1, 8, 2, 2)
    with pytest.raises(ValueError, match="must return 11 channels"):
        net(x)  # without the hook the decoder misses 3 channels
    plain = UNet(1, 2, channels=(4, 8)).eval()
    films = [(torch.zeros(1, 4), torch.zeros(1, 4)), (torch.ones(1, 8), torch.zeros(1, 8))]
    zeroed = plain(x, films=films)
    assert not torch.allclose(zeroed, plain(x))
    with pytest.raises(ValueError, match="too small"):
        plain(torch.randn(1, 1, 3, 8))


def test_mask_activations_ranges() -> None:
    x = 5 * torch.randn(2, 4, 1, 6, 7)
    assert MaskActivation("sigmoid")(x).min() >= 0 and MaskActivation("sigmoid")(x).max() <= 1
    soft = MaskActivation("softmax")(x)
    assert torch.allclose(soft.sum(dim=1), torch.ones(2, 1, 6, 7))
    assert MaskActivation("relu")(x).min() == 0
    assert MaskActivation("tanh", bound=2.0)(x).abs().max() <= 2.0
    assert torch.equal(MaskActivation("none")(x), x)
    with pytest.raises(ValueError, match="valid choices: sigmoid, softmax"):
        MaskActivation("exp")


def test_complex_mask_assembles_real_and_imaginary_parts() -> None:
    x = 10 * torch.randn(2, 3, 2, 4, 5)
    m = complex_mask(x)
    assert m.is_complex() and m.shape == (2, 3, 4, 5)
    assert torch.equal(m.real, x[:, :, 0]) and torch.equal(m.imag, x[:, :, 1])
    with pytest.raises(ValueError, match="size-2 axis"):
        complex_mask(torch.randn(2, 3, 3, 4))

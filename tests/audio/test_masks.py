"""Ideal masks (ratio, binary, bounded complex) and mask application."""

from __future__ import annotations

import pytest
import torch

from avsep.audio import (
    YNET_MASK_BOUND,
    apply_mask,
    bounded_complex_mask,
    ideal_binary_mask,
    ideal_ratio_mask,
    unbound_complex_mask,
)


def _random_sources(shape=(2, 3, 2, 33, 20)) -> tuple[torch.Tensor, torch.Tensor]:
    """Complex source STFTs (B, S, C, F, N) and their mixture (B, C, F, N)."""
    sources = torch.randn(*shape, dtype=torch.complex128)
    return sources, sources.sum(dim=1)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_ratio_masks_sum_to_one_and_rebuild_the_mixture_magnitude(power: float) -> None:
    sources, _ = _random_sources()
    mags = sources.abs()
    masks = ideal_ratio_mask(mags, power=power)
    assert masks.shape == mags.shape
    assert masks.min() >= 0 and masks.max() <= 1
    assert torch.allclose(masks.sum(dim=1), torch.ones(2, 2, 33, 20, dtype=torch.float64))
    mix_mag = mags.sum(dim=1)
    assert torch.allclose((masks * mix_mag[:, None]).sum(dim=1), mix_mag)
    expected = mags[:, 0] ** power / (mags**power).sum(dim=1)
    assert torch.allclose(masks[:, 0], expected)


def test_masked_sources_sum_to_the_mixture_stft() -> None:
    sources, mix = _random_sources()
    estimates = apply_mask(ideal_ratio_mask(sources.abs()), mix)
    assert estimates.shape == sources.shape and estimates.is_complex()
    assert torch.allclose(estimates.sum(dim=1), mix)


def test_ratio_mask_silent_bins_share_equally() -> None:
    mags = torch.zeros(4, 1, 3, 2)
    mags[1, 0, 0, 0] = 2.0
    masks = ideal_ratio_mask(mags)
    assert masks[:, 0, 0, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert torch.all(masks[:, 0, 1:, :] == 0.25)


def test_ratio_mask_without_channel_axis() -> None:
    mags = torch.rand(5, 3, 16, 8)  # (B, S, F, N)
    masks = ideal_ratio_mask(mags, source_dim=-3)
    assert torch.allclose(masks.sum(dim=1), torch.ones(5, 16, 8))


def _column(values: list[float]) -> torch.Tensor:
    """Source magnitudes of one bin as (S, C=1, F=1, N=1)."""
    return torch.tensor(values).reshape(-1, 1, 1, 1)


@pytest.mark.parametrize(
    ("mags", "expected"),
    [
        ([3.0, 1.0, 0.0], [1, 0, 0]),  # 3 >= 1 + 0
        ([2.0, 2.0], [1, 1]),  # |X| / (|Y| - |X|) = 1 for both: eq. (3) keeps both
        ([1.0, 1.0, 1.0], [0, 0, 0]),  # 1 / 2 < 1: nobody dominates
        ([2.0, 1.0, 1.0], [1, 0, 0]),  # 2 / 2 = 1
        ([0.0, 0.0], [0, 0]),  # silent bin
    ],
)
def test_binary_mask_eq3_hand_made(mags: list[float], expected: list[int]) -> None:
    mask = ideal_binary_mask(_column(mags))
    assert mask.flatten().tolist() == expected


def test_binary_mask_eq3_uses_the_given_mixture_magnitude() -> None:
    mags = _column([1.0, 0.9])
    # phases cancel: |Y| = 0.5 < |X_1| + |X_2|, so both sources exceed |Y| - |X_i|
    assert ideal_binary_mask(mags, torch.full((1, 1, 1), 0.5)).flatten().tolist() == [1, 1]
    assert ideal_binary_mask(mags).flatten().tolist() == [1, 0]


@pytest.mark.parametrize(
    ("mags", "expected"),
    [([3.0, 1.0, 0.0], [1, 0, 0]), ([1.0, 1.0, 1.0], [1, 0, 0]), ([0.2, 0.5, 0.4], [0, 1, 0])],
)
def test_binary_mask_largest_source_wins(mags: list[float], expected: list[int]) -> None:
    assert ideal_binary_mask(_column(mags), mode="largest").flatten().tolist() == expected


def test_largest_masks_are_complementary_and_pick_the_maximum() -> None:
    mags = torch.rand(2, 4, 2, 17, 9)
    masks = ideal_binary_mask(mags, mode="largest")
    assert torch.all(masks.sum(dim=1) == 1)
    assert torch.equal(masks.argmax(dim=1), mags.argmax(dim=1))
    # with two sources, eq. (3) and "largest" agree wherever there is no tie
    two = mags[:, :2]
    assert torch.equal(ideal_binary_mask(two), ideal_binary_mask(two, mode="largest"))


def test_bounded_complex_mask_is_k_tanh_of_the_ratio() -> None:
    sources, mix = _random_sources()
    bounded = bounded_complex_mask(sources, mix)
    ratio = sources / mix[:, None]
    assert bounded.shape == sources.shape and bounded.is_complex()
    assert torch.allclose(bounded.real, YNET_MASK_BOUND * torch.tanh(ratio.real), atol=1e-9)
    assert torch.allclose(bounded.imag, YNET_MASK_BOUND * torch.tanh(ratio.imag), atol=1e-9)
    assert bounded.real.abs().max() <= YNET_MASK_BOUND
    small_k = bounded_complex_mask(sources, mix, K=1.0)
    assert small_k.real.abs().max() <= 1.0 and small_k.imag.abs().max() <= 1.0


def test_unbound_complex_mask_inverts_and_recovers_the_sources() -> None:
    mix = torch.randn(1, 2, 10, 6, dtype=torch.complex128) * 4
    parts = torch.rand(2, 1, 3, 2, 10, 6, dtype=torch.float64) - 0.5
    ratio = torch.complex(parts[0], parts[1])
    sources = ratio * mix[:, None]
    mask = unbound_complex_mask(bounded_complex_mask(sources, mix))
    assert torch.allclose(mask, ratio, atol=1e-9)
    assert torch.allclose(apply_mask(mask, mix), sources, atol=1e-9)
    saturated = torch.complex(torch.tensor([10.0]), torch.tensor([-10.0]))
    assert torch.isfinite(torch.view_as_real(unbound_complex_mask(saturated))).all()


def test_apply_mask_broadcasts_a_mono_mask_and_handles_layouts() -> None:
    mix = torch.randn(2, 2, 9, 4, dtype=torch.complex64)  # (B, C, F, N)
    mask = torch.rand(2, 3, 1, 9, 4)  # (B, S, 1, F, N)
    out = apply_mask(mask, mix)
    assert out.shape == (2, 3, 2, 9, 4) and out.dtype == torch.complex64
    assert torch.allclose(out[:, 1, 0], mask[:, 1, 0] * mix[:, 0])
    no_channels = apply_mask(mask[:, :, 0], mix[:, 0], source_dim=-3)
    assert torch.allclose(no_channels, out[:, :, 0])
    complex_mask = torch.randn(2, 3, 2, 9, 4, dtype=torch.complex64)
    assert torch.allclose(apply_mask(complex_mask, mix), complex_mask * mix[:, None])


def test_mask_errors_say_what_was_expected() -> None:
    mix = torch.randn(2, 2, 9, 4, dtype=torch.complex64)
    with pytest.raises(TypeError, match=r"mix_stft must be a complex .* got float32"):
        apply_mask(torch.rand(2, 3, 2, 9, 4), mix.real)
    with pytest.raises(ValueError, match=r"shape of the sources without their source axis"):
        apply_mask(torch.rand(2, 3, 2, 8, 4), mix)
    with pytest.raises(ValueError, match="pass source_dim=-3"):
        ideal_ratio_mask(torch.rand(3, 9, 4))
    with pytest.raises(TypeError, match="source_mags must be a real"):
        ideal_ratio_mask(torch.rand(3, 1, 9, 4, dtype=torch.float64).to(torch.complex128))
    with pytest.raises(ValueError, match="mode must be 'threshold' or 'largest'"):
        ideal_binary_mask(torch.rand(3, 1, 9, 4), mode="max")
    with pytest.raises(TypeError, match="source_stft must be a complex"):
        bounded_complex_mask(torch.rand(2, 3, 2, 9, 4), mix)
    with pytest.raises(ValueError, match="K must be > 0"):
        bounded_complex_mask(torch.randn(2, 3, 2, 9, 4, dtype=torch.complex64), mix, K=0)

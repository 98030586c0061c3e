"""Losses per mask type: zero at the oracle, positive elsewhere, choices listed on errors."""

from __future__ import annotations

import pytest
import torch

from avsep.audio.masks import bounded_complex_mask, ideal_binary_mask, ideal_ratio_mask
from avsep.audio.stft import STFTConfig, istft, stft
from avsep.models.losses import LOSSES, LossInputs, loss_for, mixture_ratio_mask, si_sdr

CFG = STFTConfig(8000, 254, 64)


def _inputs() -> LossInputs:
    gen = torch.Generator().manual_seed(1)
    waves = torch.randn(2, 3, 1, 2000, generator=gen) * torch.tensor([1.0, 0.3, 0.1]).view(
        1, 3, 1, 1)
    mix_wave = waves.sum(1)
    mix = stft(mix_wave, CFG)
    return LossInputs(mix=mix, sources=stft(waves, CFG), waveforms=waves,
                      estimate=lambda out: istft(out["mask"] * mix.unsqueeze(1), CFG, 2000))


def test_ratio_losses_vanish_at_the_ideal_ratio_mask() -> None:
    t = _inputs()
    irm = ideal_ratio_mask(t.sources.abs())
    assert irm.min() >= 0 and irm.max() <= 1
    for name in ("l2", "l1"):
        loss = loss_for("ratio", name)
        assert float(loss({"mask": irm}, t)) == pytest.approx(0.0, abs=1e-7)
        assert float(loss({"mask": torch.full_like(irm, 0.5)}, t)) > 0.01


def test_binary_bce_prefers_the_ideal_binary_mask() -> None:
    t = _inputs()
    ibm = ideal_binary_mask(t.sources.abs())
    assert set(ibm.unique().tolist()) <= {0.0, 1.0}
    # at most one source dominates a bin
    assert ibm.sum(1).max() <= 1
    loss = loss_for("binary")
    near = ibm.clamp(0.01, 0.99)
    assert float(loss({"mask": near}, t)) < 0.02
    assert float(loss({"mask": 1 - near}, t)) > 1.0
    weighted = loss_for("binary", "bce", pos_weight=5.0)
    assert float(weighted({"mask": 1 - near}, t)) > float(loss({"mask": 1 - near}, t))


def test_complex_loss_vanishes_at_the_true_crm() -> None:
    t = _inputs()
    bounded = bounded_complex_mask(t.sources, t.mix, 2.0)
    assert bounded.real.abs().max() <= 2.0 and bounded.imag.abs().max() <= 2.0
    eps = torch.finfo(t.mix.real.dtype).eps
    crm = t.sources * t.mix.conj().unsqueeze(1) / (t.mix.abs().square().unsqueeze(1) + eps)
    loss = loss_for("complex", bound=2.0)
    # the mask the model applies is the plain cRM; the loss compares both sides bounded
    assert float(loss({"mask": crm}, t)) == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(crm * t.mix.unsqueeze(1), t.sources, atol=1e-4, rtol=1e-4)
    assert float(loss({"mask": torch.zeros_like(crm)}, t)) > 0.01
    with pytest.raises(ValueError, match="complex out"):
        loss({"mask": crm.abs()}, t)


def test_direct_losses_vanish_at_true_magnitudes() -> None:
    t = _inputs()
    for name in ("l2", "l1"):
        loss = loss_for("direct", name)
        assert float(loss({"magnitude": t.sources.abs()}, t)) == pytest.approx(0.0, abs=1e-7)
        assert float(loss({"magnitude": t.sources.abs() * 2}, t)) > 0.0


def test_si_sdr_loss_is_scale_invariant_and_better_for_better_estimates() -> None:
    t = _inputs()
    irm = ideal_ratio_mask(t.sources.abs())
    loss = loss_for("ratio", "si_sdr")
    oracle = float(loss({"mask": irm}, t))
    flat = float(loss({"mask": torch.full_like(irm, 1 / 3)}, t))
    assert oracle < flat - 1.0  # the oracle mask is >1 dB better on average
    ref = torch.randn(4, 1000)
    noisy = ref + 0.1 * torch.randn(4, 1000)
    assert torch.allclose(si_sdr(3.0 * noisy, ref), si_sdr(noisy, ref), atol=1e-3)
    assert float(si_sdr(noisy, ref).mean()) == pytest.approx(20.0, abs=1.5)


def test_loss_for_lists_valid_choices() -> None:
    with pytest.raises(ValueError, match="valid choices: ratio, binary, complex, direct"):
        loss_for("phase")
    with pytest.raises(ValueError, match="valid choices: bce, si_sdr"):
        loss_for("binary", "l2")
    with pytest.raises(ValueError, match="takes no option"):
        loss_for("ratio", "l2", bound=1.0)
    assert set(LOSSES) == {"ratio", "binary", "complex", "direct"}
    with pytest.raises(KeyError, match="magnitude"):
        loss_for("direct")({"mask": torch.zeros(1)}, _inputs())


def test_losses_give_finite_gradients() -> None:
    t = _inputs()
    logits = torch.zeros_like(ideal_ratio_mask(t.sources.abs()), requires_grad=True)
    for mask_type in ("ratio", "binary"):
        for name in LOSSES[mask_type]:
            logits.grad = None
            loss_for(mask_type, name)({"mask": torch.sigmoid(logits)}, t).backward()
            assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def _cancelling() -> LossInputs:
    """Two sources in anti-phase plus a quiet third: |Y| is far below Σ_j |S_j|."""
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(1, 1, 1, 2000, generator=gen)
    waves = torch.cat([a, -0.8 * a, 0.1 * torch.randn(1, 1, 1, 2000, generator=gen)], dim=1)
    mix = stft(waves.sum(1), CFG)
    return LossInputs(mix=mix, sources=stft(waves, CFG), waveforms=waves)


def test_ratio_targets_can_divide_by_the_mixture_magnitude() -> None:
    """Conditioned U-Net eq. 2: M_i = |S_i| / |Y| (clipped to [0, 1] for a sigmoid mask)."""
    t = _cancelling()
    mags, mix = t.sources.abs(), t.mix.abs()
    target = mixture_ratio_mask(mags, mix)
    expected = (mags / mix.unsqueeze(1)).clamp(0, 1)
    torch.testing.assert_close(target, expected)
    assert float(target[:, 0].mean()) > 0.9  # the loud source exceeds |Y| almost everywhere
    by_sum = ideal_ratio_mask(mags)
    assert float(by_sum[:, 0].mean()) < 0.6
    for name in ("l2", "l1"):
        loss = loss_for("ratio", name, denominator="mixture")
        assert float(loss({"mask": target}, t)) == pytest.approx(0.0, abs=1e-7)
        assert float(loss({"mask": by_sum}, t)) > 0.01
    assert float(mixture_ratio_mask(mags, torch.zeros_like(mix)).abs().sum()) == 0.0
    with pytest.raises(ValueError, match="valid choices: sources, mixture"):
        loss_for("ratio", "l2", denominator="mean")


def test_binary_threshold_target_uses_the_mixture_magnitude() -> None:
    """Eq. 3 against |Y|: with anti-phase sources both loud ones exceed |Y| - |S_i|."""
    t = _cancelling()
    mags = t.sources.abs()
    by_mix = ideal_binary_mask(mags, t.mix.abs())
    by_sum = ideal_binary_mask(mags)
    assert float(by_mix[:, :2].sum(1).mean()) > 1.5  # both sources "dominate" |Y|
    assert float(by_sum.sum(1).max()) <= 1
    near = by_mix.clamp(0.01, 0.99)
    paper = loss_for("binary", "bce", denominator="mixture")
    summed = loss_for("binary", "bce")
    assert float(paper({"mask": near}, t)) < float(summed({"mask": near}, t))


def test_bce_defaults_to_eq_6_unweighted_and_log1p_is_an_option() -> None:
    t = _inputs()
    ibm = ideal_binary_mask(t.sources.abs())
    mask = torch.full_like(ibm, 0.3)
    lam = 2.0
    plain = -(lam * ibm * torch.log(mask) + (1 - ibm) * torch.log(1 - mask)).mean()
    assert float(loss_for("binary", pos_weight=lam)({"mask": mask}, t)) == pytest.approx(
        float(plain), rel=1e-5)
    weighted = float(loss_for("binary", pos_weight=lam, weighting="log1p")({"mask": mask}, t))
    assert abs(weighted - float(plain)) > 1e-3
    with pytest.raises(ValueError, match="pos_weight"):
        loss_for("binary", pos_weight=-1.0)

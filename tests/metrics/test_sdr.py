"""SI-SDR / SD-SDR (Le Roux et al. 2019) on closed-form cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avsep.metrics import sd_sdr, si_sdr, snr


def _orthogonal_case(alpha: float, noise_energy: float, length: int = 4000
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """s with |s|^2 = 1 and estimate a*s + n, n orthogonal to s with |n|^2 = noise_energy."""
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(length, generator=gen, dtype=torch.float64)
    s = s / s.norm()
    n = torch.randn(length, generator=gen, dtype=torch.float64)
    n = n - (n @ s) * s
    n = n / n.norm() * math.sqrt(noise_energy)
    return s, alpha * s + n


@pytest.mark.parametrize(("alpha", "noise"), [(1.0, 0.1), (0.5, 0.01), (3.0, 2.0)])
def test_si_sdr_closed_form(alpha: float, noise: float) -> None:
    s, est = _orthogonal_case(alpha, noise)
    # optimal scale is alpha, target alpha*s with energy alpha^2, residual exactly n.
    expected = 10 * math.log10(alpha**2 / noise)
    assert float(si_sdr(s, est)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("alpha", "noise"), [(1.0, 0.1), (0.5, 0.01), (3.0, 2.0)])
def test_sd_sdr_closed_form_and_relation_to_snr(alpha: float, noise: float) -> None:
    s, est = _orthogonal_case(alpha, noise)
    # |s - est|^2 = (1 - alpha)^2 + noise; SD-SDR = 10 log10(alpha^2 / that).
    expected = 10 * math.log10(alpha**2 / ((1 - alpha) ** 2 + noise))
    assert float(sd_sdr(s, est)) == pytest.approx(expected, abs=1e-9)
    # Le Roux eq. 10: SD-SDR = SNR + 10 log10(alpha^2).
    assert float(sd_sdr(s, est)) == pytest.approx(float(snr(s, est)) + 20 * math.log10(alpha),
                                                  abs=1e-9)


def test_scale_invariance_and_scale_penalty() -> None:
    s, est = _orthogonal_case(1.0, 0.05)
    assert float(si_sdr(s, 0.1 * est)) == pytest.approx(float(si_sdr(s, est)), abs=1e-9)
    assert float(sd_sdr(s, 0.1 * est)) < float(sd_sdr(s, est)) - 10


def test_batched_over_leading_dims_and_numpy_in_numpy_out() -> None:
    rng = np.random.default_rng(1)
    refs = rng.standard_normal((2, 3, 2, 500))
    ests = refs + 0.3 * rng.standard_normal(refs.shape)
    batched = si_sdr(refs, ests)
    assert isinstance(batched, np.ndarray) and batched.shape == (2, 3, 2)
    one = si_sdr(torch.from_numpy(refs[1, 2, 0]), torch.from_numpy(ests[1, 2, 0]))
    assert isinstance(one, torch.Tensor)
    assert float(one) == pytest.approx(batched[1, 2, 0], abs=1e-12)


def test_zero_mean_option_removes_offsets() -> None:
    s, est = _orthogonal_case(1.0, 0.1)
    s0 = s - s.mean()
    est0 = est - est.mean()
    assert float(si_sdr(s + 5.0, est + 3.0, zero_mean=True)) == pytest.approx(
        float(si_sdr(s0, est0)), abs=1e-9)


def test_silent_reference_is_nan_without_eps_and_finite_with_eps() -> None:
    zeros = torch.zeros(100, dtype=torch.float64)
    assert math.isnan(float(si_sdr(zeros, torch.ones(100))))
    assert math.isfinite(float(si_sdr(zeros, torch.ones(100), eps=1e-8)))


@pytest.mark.parametrize(
    ("refs", "ests", "error", "match"),
    [
        (torch.ones(3, 10), torch.ones(3, 11), ValueError, "same shape"),
        (torch.ones(10, dtype=torch.complex64), torch.ones(10), TypeError, "complex"),
        ("abc", torch.ones(3), TypeError, "numpy array or torch tensor"),
        (torch.ones(3, 0), torch.ones(3, 0), ValueError, "at least one sample"),
    ],
)
def test_bad_inputs(refs: object, ests: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        si_sdr(refs, ests)  # type: ignore[arg-type]

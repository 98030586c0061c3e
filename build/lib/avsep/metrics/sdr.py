"""SI-SDR and SD-SDR (Le Roux, Wisdom, Erdogan, Hershey, "SDR – half-baked or well done?",
ICASSP 2019), batched over any leading dims.

With reference ``s``, estimate ``ŝ`` and the optimal scale ``α = <ŝ, s> / ||s||²``:

* ``SI-SDR = 10 log10(||α s||² / ||α s - ŝ||²)`` (eq. 6): invariant to rescaling ``ŝ``;
* ``SD-SDR = 10 log10(||α s||² / ||s - ŝ||²)`` (eq. 9): penalises a wrong scale, and equals
  ``SNR + 10 log10(α²)`` with ``SNR = 10 log10(||s||² / ||s - ŝ||²)``.

Inputs are (..., samples) numpy arrays or tensors of one shape; outputs have the leading
shape (...), float64, numpy for numpy input. ``eps`` (default 0) is added to every
denominator and inside the log for callers that want finite values on silent signals; with
``eps = 0`` a silent reference gives NaN.
"""

from __future__ import annotations

import torch

from avsep.metrics._checks import ArrayLike, like_input, real_pair


def _scaled_terms(references: ArrayLike, estimates: ArrayLike, zero_mean: bool, eps: float
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(||αs||², ||αs - ŝ||², ||s - ŝ||², ||s||²)`` over the last axis, float64."""
    ref, est = real_pair(references, estimates)
    if zero_mean:
        ref = ref - ref.mean(dim=-1, keepdim=True)
        est = est - est.mean(dim=-1, keepdim=True)
    ref_energy = (ref**2).sum(dim=-1, keepdim=True)
    alpha = (est * ref).sum(dim=-1, keepdim=True) / (ref_energy + eps)
    target = alpha * ref
    return ((target**2).sum(-1), ((target - est) ** 2).sum(-1), ((ref - est) ** 2).sum(-1),
            ref_energy[..., 0])


def _ratio_db(num: torch.Tensor, den: torch.Tensor, eps: float) -> torch.Tensor:
    return 10.0 * torch.log10(num / (den + eps) + eps)


def si_sdr(references: ArrayLike, estimates: ArrayLike, *, zero_mean: bool = False,
           eps: float = 0.0) -> ArrayLike:
    """Scale-invariant SDR in dB: (..., L) pair -> (...). ``zero_mean`` removes the means first."""
    target, error, _, _ = _scaled_terms(references, estimates, zero_mean, eps)
    return like_input(references, _ratio_db(target, error, eps))


def sd_sdr(references: ArrayLike, estimates: ArrayLike, *, zero_mean: bool = False,
           eps: float = 0.0) -> ArrayLike:
    """Scale-dependent SDR in dB: (..., L) pair -> (...)."""
    target, _, error, _ = _scaled_terms(references, estimates, zero_mean, eps)
    return like_input(references, _ratio_db(target, error, eps))


def snr(references: ArrayLike, estimates: ArrayLike, *, eps: float = 0.0) -> ArrayLike:
    """Plain SNR in dB, ``10 log10(||s||² / ||s - ŝ||²)``: (..., L) pair -> (...)."""
    _, _, error, energy = _scaled_terms(references, estimates, False, eps)
    return like_input(references, _ratio_db(energy, error, eps))

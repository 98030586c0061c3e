"""Ideal (oracle) masks and mask application.

Layout: sources along one axis, ``source_dim`` (negative), followed by the mixture's own
axes. The default ``source_dim=-4`` is the contract layout ``(..., S, C, F, N)`` with mixtures
``(..., C, F, N)``; pass ``source_dim=-3`` for layouts without a channel axis,
``(..., S, F, N)`` with mixtures ``(..., F, N)``.

* :func:`ideal_ratio_mask`: ``|X_i|^p / sum_j |X_j|^p`` (all sources sum to 1 in every bin;
  bins where every source is silent get ``1/S``).
* :func:`ideal_binary_mask`, ``mode="threshold"``: conditioned U-Net eq. (3),
  ``M_i = 1 if |X_i| / (|Y| - |X_i|) >= 1``, evaluated without the division as
  ``|X_i| >= |Y| - |X_i|`` with ``|X_i| > 0`` (so silent bins are 0); ``|Y|`` is ``mix_mag``
  or, when not given, ``sum_j |X_j|`` (as sigsep's IBM oracle, threshold 0.5).
  ``mode="largest"``: the complementary Solos / Sound of Pixels mask, 1 for the loudest source
  of each bin (ties go to the first), so the masks of all sources sum to exactly 1.
* :func:`bounded_complex_mask`: Y-Net's bounded complex ratio mask,
  ``K tanh(Re(X_i / Y)) + j K tanh(Im(X_i / Y))``; :func:`unbound_complex_mask` inverts it.
* :func:`apply_mask`: real or complex masks times the complex mixture STFT.
"""

from __future__ import annotations

from typing import Literal

import torch

from avsep.audio._checks import describe, require_tensor, source_axis
from avsep.audio.presets import YNET_MASK_BOUND

_SOURCES = "(..., S, [C,] F, N)"


def _sources(fn: str, name: str, x: torch.Tensor, kind: str, source_dim: int) -> int:
    require_tensor(fn, name, x, kind=kind, layout=_SOURCES, min_ndim=3)
    return source_axis(fn, x, source_dim, _SOURCES)


def _mixture_like(
    fn: str, name: str, mix: torch.Tensor, sources: torch.Tensor, axis: int, kind: str
) -> torch.Tensor:
    """``mix`` (..., [C,] F, N) with a source axis inserted at ``axis``; checks broadcasting."""
    require_tensor(fn, name, mix, kind=kind, layout="(..., [C,] F, N)", min_ndim=2)
    if mix.ndim == sources.ndim - 1:
        expanded = mix.unsqueeze(axis)
        try:
            torch.broadcast_shapes(expanded.shape, sources.shape)
            return expanded
        except RuntimeError:
            pass
    raise ValueError(
        f"{fn}: {name} must have the shape of the sources without their source axis "
        f"(axis {axis - sources.ndim}), got {name} {describe(mix)} for sources "
        f"{describe(sources)}"
    )


def ideal_ratio_mask(
    source_mags: torch.Tensor, power: float = 1.0, *, source_dim: int = -4
) -> torch.Tensor:
    """Ideal ratio masks (same shape as ``source_mags`` (..., S, [C,] F, N)), in [0, 1].

    ``power``: 1 for magnitude ratios, 2 for Wiener-like power ratios. The masks of all
    sources sum to 1 in every bin.
    """
    axis = _sources("ideal_ratio_mask", "source_mags", source_mags, "real", source_dim)
    if power <= 0:
        raise ValueError(f"ideal_ratio_mask: power must be > 0, got {power}")
    energy = source_mags.abs().pow(power)
    total = energy.sum(dim=axis, keepdim=True)
    silent = total <= 0
    uniform = torch.full_like(energy, 1.0 / source_mags.shape[axis])
    return torch.where(silent, uniform, energy / torch.where(silent, 1.0, total))


def ideal_binary_mask(
    source_mags: torch.Tensor,
    mix_mag: torch.Tensor | None = None,
    mode: Literal["threshold", "largest"] = "threshold",
    *,
    source_dim: int = -4,
) -> torch.Tensor:
    """Ideal binary masks (0./1., same shape and dtype as ``source_mags`` (..., S, [C,] F, N)).

    ``mix_mag`` (..., [C,] F, N) is ``|Y|`` for ``mode="threshold"`` (default: the sum of the
    source magnitudes); ``mode="largest"`` ignores it.
    """
    fn = "ideal_binary_mask"
    axis = _sources(fn, "source_mags", source_mags, "real", source_dim)
    mags = source_mags.abs()
    if mode == "largest":
        winner = mags.argmax(dim=axis, keepdim=True)
        return torch.zeros_like(mags).scatter_(axis, winner, 1.0)
    if mode != "threshold":
        raise ValueError(f"{fn}: mode must be 'threshold' or 'largest', got {mode!r}")
    if mix_mag is None:
        mix = mags.sum(dim=axis, keepdim=True)
    else:
        mix = _mixture_like(fn, "mix_mag", mix_mag, source_mags, axis, "real").abs()
    return ((mags >= mix - mags) & (mags > 0)).to(mags.dtype)


def bounded_complex_mask(
    source_stft: torch.Tensor,
    mix_stft: torch.Tensor,
    K: float = YNET_MASK_BOUND,
    *,
    source_dim: int = -4,
    eps: float | None = None,
) -> torch.Tensor:
    """Y-Net's bounded complex ratio mask (complex, shape of ``source_stft``).

    ``source_stft`` (..., S, [C,] F, N) and ``mix_stft`` (..., [C,] F, N) are complex. The
    ratio ``X_i / Y`` is computed as ``X_i conj(Y) / (|Y|^2 + eps)`` (``eps``: the dtype's
    machine epsilon by default) and each of its real and imaginary parts is bounded to
    (-K, K) by ``K tanh``.
    """
    fn = "bounded_complex_mask"
    axis = _sources(fn, "source_stft", source_stft, "complex", source_dim)
    mix = _mixture_like(fn, "mix_stft", mix_stft, source_stft, axis, "complex")
    if K <= 0:
        raise ValueError(f"{fn}: K must be > 0, got {K}")
    eps = torch.finfo(source_stft.real.dtype).eps if eps is None else eps
    ratio = source_stft * mix.conj() / (mix.abs().square() + eps)
    return torch.complex(K * torch.tanh(ratio.real), K * torch.tanh(ratio.imag))


def unbound_complex_mask(bounded: torch.Tensor, K: float = YNET_MASK_BOUND) -> torch.Tensor:
    """Inverse of the bounding in :func:`bounded_complex_mask`: complex (...) -> complex (...).

    Each part becomes ``atanh(part / K)``; parts at +-K (saturated) are clipped just inside
    the bound so the result stays finite.
    """
    require_tensor("unbound_complex_mask", "bounded", bounded, kind="complex", layout="(...)")
    if K <= 0:
        raise ValueError(f"unbound_complex_mask: K must be > 0, got {K}")
    limit = 1.0 - torch.finfo(bounded.real.dtype).eps

    def part(x: torch.Tensor) -> torch.Tensor:
        return torch.atanh((x / K).clamp(-limit, limit))

    return torch.complex(part(bounded.real), part(bounded.imag))


def apply_mask(mask: torch.Tensor, mix_stft: torch.Tensor, *, source_dim: int = -4) -> torch.Tensor:
    """Masked mixture: ``mask`` (..., S, [C,] F, N) real or complex, times ``mix_stft``.

    ``mix_stft`` (..., [C,] F, N) complex. A mask with C = 1 applies to every channel.
    Returns complex (..., S, [C,] F, N) (the broadcast shape).
    """
    fn = "apply_mask"
    axis = _sources(fn, "mask", mask, "any", source_dim)
    mix = _mixture_like(fn, "mix_stft", mix_stft, mask, axis, "complex")
    if not mask.is_complex():
        mask = mask.to(mix.real.dtype)
    return mask * mix

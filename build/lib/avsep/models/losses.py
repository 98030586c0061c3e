"""Training losses per mask type, behind one entry point :func:`loss_for`.

Every loss is ``loss(out, inputs) -> scalar`` with ``out`` a model's output dict (see
:mod:`avsep.models.base`) and ``inputs`` a :class:`LossInputs`:

================  ===================  =====================================================
mask type         loss names           what is compared
================  ===================  =====================================================
``ratio``         ``l2``, ``l1``       ``mask`` vs the ideal ratio mask ``|S_i| / D`` (eq. 2 of
                                       Slizovskaia et al. with ``denominator="mixture"``:
                                       ``D = |Y|``, clipped to [0, 1]; default ``"sources"``:
                                       ``D = Σ_j|S_j|``, masks summing to one)
``binary``        ``bce``              ``mask`` vs the ideal binary mask (``binary_mode=
                                       "threshold"``: eq. 3, ``|S_i| >= D - |S_i|`` with ``D``
                                       as above; ``"largest"``: Sound of Pixels' complementary
                                       masks), BCE with positive weight ``pos_weight`` (λ of
                                       eq. 6, default 1) and per-bin weights ``weighting``:
                                       ``"none"`` (default, eq. 6) or ``"log1p"`` (``log1p|X|``,
                                       Sound of Pixels / Solos)
``complex``       ``mse``              real/imag of ``mask`` vs the bounded cRM
                                       ``bound·tanh(S/X)`` per part, weighted by ``log1p|X|``
``direct``        ``l2``, ``l1``       ``magnitude`` vs ``|S|``
any               ``si_sdr``           negative SI-SDR of the waveform estimate
================  ===================  =====================================================

Targets come from :mod:`avsep.audio.masks`. The first name of each row is the default.
Means are taken over every element (so the loss value does not depend on the batch or
spectrogram size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from avsep.audio.masks import bounded_complex_mask, ideal_binary_mask, ideal_ratio_mask

EPS = 1e-8

LOSSES: dict[str, tuple[str, ...]] = {
    "ratio": ("l2", "l1", "si_sdr"),
    "binary": ("bce", "si_sdr"),
    "complex": ("mse", "si_sdr"),
    "direct": ("l2", "l1", "si_sdr"),
}
MASK_TYPES = tuple(LOSSES)

Loss = Callable[[dict[str, torch.Tensor], "LossInputs"], torch.Tensor]


@dataclass
class LossInputs:
    """What a loss may need besides the model output.

    mix        complex (B, C, F, N)     mixture STFT
    sources    complex (B, S, C, F, N)  source STFTs on the same grid
    waveforms  real (B, S, C, L)        source waveforms (for waveform losses)
    estimate   out -> (B, S, C, L)      the model's differentiable waveform estimate
    """

    mix: torch.Tensor
    sources: torch.Tensor
    waveforms: torch.Tensor | None = None
    estimate: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None


# ---------------------------------------------------------------- targets
# The training targets are avsep.audio's: ideal_ratio_mask (|S_i| / sum_j |S_j|),
# ideal_binary_mask ("threshold": |S_i| >= |Y| - |S_i|) and bounded_complex_mask
# (K tanh of the real and imaginary parts of S_i / X, Y-Net's bounded cRM); mixture_ratio_mask
# below is eq. 2 of the conditioned U-Net paper (|S_i| / |Y|).
DENOMINATORS = ("sources", "mixture")


def mixture_ratio_mask(source_mags: torch.Tensor, mix_mag: torch.Tensor) -> torch.Tensor:
    """``|S_i| / |Y|`` clipped to [0, 1] (0 where ``|Y| = 0``): (B, S, C, F, N) from sources
    (B, S, C, F, N) and mixture (B, C, F, N) magnitudes (Slizovskaia et al. eq. 2).

    Bins where phase cancellation makes ``|S_i| > |Y|`` are clipped to 1, the most a sigmoid
    mask can give."""
    mix = mix_mag.unsqueeze(1)
    ratio = source_mags / mix.clamp_min(EPS)
    return torch.where(mix > 0, ratio.clamp(0.0, 1.0), torch.zeros_like(ratio))


def _check_denominator(denominator: str) -> None:
    if denominator not in DENOMINATORS:
        raise ValueError(f"unknown mask denominator {denominator!r}; valid choices: "
                         f"{', '.join(DENOMINATORS)}")


def _weight(mix: torch.Tensor) -> torch.Tensor:
    """Per-bin weight ``log1p|X|`` broadcast over sources: (B, 1, C, F, N)."""
    return torch.log1p(mix.abs()).unsqueeze(1)


def _key(out: dict[str, torch.Tensor], key: str, mask_type: str) -> torch.Tensor:
    if key not in out:
        raise KeyError(f"a {mask_type!r} loss needs out[{key!r}]; the model gave {sorted(out)}")
    return out[key]


def _distance(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return F.mse_loss if name == "l2" else F.l1_loss


# ---------------------------------------------------------------- losses
def ratio_target(t: LossInputs, denominator: str = "sources") -> torch.Tensor:
    """The ratio-mask target (B, S, C, F, N): ``|S_i| / Σ_j|S_j|`` or ``|S_i| / |Y|``."""
    _check_denominator(denominator)
    if denominator == "mixture":
        return mixture_ratio_mask(t.sources.abs(), t.mix.abs())
    return ideal_ratio_mask(t.sources.abs())


def binary_target(t: LossInputs, binary_mode: str = "threshold",
                  denominator: str = "sources") -> torch.Tensor:
    """The binary-mask target (B, S, C, F, N) of eq. 3 (``threshold``, against ``|Y|`` or
    ``Σ_j|S_j|``) or Sound of Pixels' complementary masks (``largest``)."""
    _check_denominator(denominator)
    mix = t.mix.abs() if denominator == "mixture" and binary_mode == "threshold" else None
    return ideal_binary_mask(t.sources.abs(), mix, mode=binary_mode)


def _ratio(name: str, denominator: str = "sources") -> Loss:
    _check_denominator(denominator)

    def loss(out: dict[str, torch.Tensor], t: LossInputs) -> torch.Tensor:
        mask = _key(out, "mask", "ratio").float()
        return _distance(name)(mask, ratio_target(t, denominator))

    return loss


def _binary(pos_weight: float = 1.0, weighting: str = "none",
            binary_mode: str = "threshold", denominator: str = "sources") -> Loss:
    if weighting not in ("log1p", "none"):
        raise ValueError(f"unknown BCE weighting {weighting!r}; valid choices: log1p, none")
    if binary_mode not in ("threshold", "largest"):
        raise ValueError(f"unknown binary mask mode {binary_mode!r}; valid choices: "
                         "threshold, largest")
    if not pos_weight > 0:
        raise ValueError(f"BCE pos_weight (λ of eq. 6) must be > 0; got {pos_weight}")
    _check_denominator(denominator)

    def loss(out: dict[str, torch.Tensor], t: LossInputs) -> torch.Tensor:
        mask = _key(out, "mask", "binary").float().clamp(EPS, 1 - 1e-6)
        target = binary_target(t, binary_mode, denominator)
        bce = -(pos_weight * target * mask.log() + (1 - target) * (1 - mask).log())
        if weighting == "none":
            return bce.mean()
        weight = _weight(t.mix).expand_as(bce)
        return (weight * bce).sum() / weight.sum().clamp_min(EPS)

    return loss


def _complex(bound: float = 1.0) -> Loss:
    def loss(out: dict[str, torch.Tensor], t: LossInputs) -> torch.Tensor:
        mask = _key(out, "mask", "complex")
        if not mask.is_complex():
            raise ValueError("a 'complex' loss needs a complex out['mask']")
        # The model's mask is the cRM it applies; both sides are compared bounded (K tanh).
        bounded = torch.complex(bound * torch.tanh(mask.real), bound * torch.tanh(mask.imag))
        target = bounded_complex_mask(t.sources, t.mix, bound)
        err = (torch.view_as_real(bounded) - torch.view_as_real(target)).pow(2).sum(-1)
        weight = _weight(t.mix).expand_as(err)
        return (weight * err).sum() / weight.sum().clamp_min(EPS)

    return loss


def _direct(name: str) -> Loss:
    def loss(out: dict[str, torch.Tensor], t: LossInputs) -> torch.Tensor:
        return _distance(name)(_key(out, "magnitude", "direct").float(), t.sources.abs())

    return loss


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Scale-invariant SDR in dB over the last axis (Le Roux et al. 2019): (..., L) -> (...).

    Differentiable; zero-mean signals, ``EPS`` guards silent references. (``avsep.metrics``'
    ``si_sdr`` is the evaluation metric: it detaches its inputs and works in float64, so the
    training loss keeps this small autograd-friendly version.)
    """
    estimate = estimate - estimate.mean(-1, keepdim=True)
    reference = reference - reference.mean(-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (
        reference.pow(2).sum(-1, keepdim=True) + EPS
    )
    target = scale * reference
    noise = estimate - target
    return 10 * torch.log10((target.pow(2).sum(-1) + EPS) / (noise.pow(2).sum(-1) + EPS))


def _si_sdr_loss(out: dict[str, torch.Tensor], t: LossInputs) -> torch.Tensor:
    if t.estimate is None or t.waveforms is None:
        raise ValueError("the si_sdr loss needs LossInputs.estimate and LossInputs.waveforms")
    return -si_sdr(t.estimate(out), t.waveforms).mean()


def loss_for(mask_type: str, name: str | None = None, **options: Any) -> Loss:
    """The loss function for ``mask_type`` named ``name`` (default: first of its row).

    Options: ``ratio``/``l1|l2``: ``denominator`` ("sources": ``Σ_j|S_j|`` | "mixture":
    ``|Y|``, conditioned U-Net eq. 2);
    ``binary``/``bce``: ``pos_weight`` (float λ), ``weighting`` ("none" | "log1p"),
    ``binary_mode`` ("threshold": conditioned U-Net eq. 3 | "largest": the complementary masks
    Sound of Pixels trains on), ``denominator`` (as for ratio masks, for "threshold");
    ``complex``/``mse``: ``bound`` (float, must match the model's mask bound).
    """
    if mask_type not in LOSSES:
        raise ValueError(f"unknown mask type {mask_type!r}; valid choices: {', '.join(LOSSES)}")
    name = name or LOSSES[mask_type][0]
    if name not in LOSSES[mask_type]:
        raise ValueError(
            f"unknown loss {name!r} for {mask_type} masks; valid choices: "
            f"{', '.join(LOSSES[mask_type])}"
        )
    allowed = {("binary", "bce"): {"pos_weight", "weighting", "binary_mode", "denominator"},
               ("ratio", "l1"): {"denominator"}, ("ratio", "l2"): {"denominator"},
               ("complex", "mse"): {"bound"}}
    extra = set(options) - allowed.get((mask_type, name), set())
    if extra:
        raise ValueError(f"loss {mask_type}/{name} takes no option(s) {sorted(extra)}")
    if name == "si_sdr":
        return _si_sdr_loss
    if mask_type == "ratio":
        return _ratio(name, **options)
    if mask_type == "binary":
        return _binary(**options)
    if mask_type == "complex":
        return _complex(**options)
    return _direct(name)

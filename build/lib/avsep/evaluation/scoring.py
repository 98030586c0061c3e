"""Per-excerpt scores of ``avsep eval``: BSS Eval per *present* source, PES/EPS per slot.

As museval and the papers do, BSS Eval v4 (:func:`avsep.metrics.bss_eval`, 1 s windows, the
per-excerpt figure is the median over the defined windows) is computed jointly over the sources
that are present in the excerpt only. A model with fixed source slots (the 13 URMP heads of
C-U-Net / MHU-Net, the empty stream slots of Sound of Pixels) has all-zero references for the
absent instruments; museval refuses a silent reference, and scoring it jointly would make every
window NaN. Absent slots get NaN for SDR/SIR/SAR/ISR/SI-SDR/SD-SDR and are scored by PES
(predicted energy at silence, Schulze-Forster et al., reported by Slizovskaia et al.): the
energy of the estimate where the reference is silent (lower is better, -80 dB for a silent
estimate). PES and EPS are computed on 1 s windows for every slot, present or absent.

``pes_code`` is PES as the conditioned U-Net's own evaluation computes it (Slizovskaia et al.'s
public code, ``action_pipeline.test_model``): one figure per excerpt, ``10 log10(Σ ŝ² + ε)``
over the whole excerpt, and only where the reference is silent *and the estimate is not
all-zero*. An all-zero estimate (a slot switched off by label-multiply) has no ``pes_code``,
where ``pes`` gives it the -80 dB floor; so the two average different slots, and the paper's
PES figures are ``pes_code`` means.

A present source whose *estimate* is silent over the whole excerpt (e.g. a label-multiplied
mask switched off by a wrong label) is NaN in BSS Eval and scored by EPS; the other estimates
are scored with it replaced by its reference. BSS Eval v4's distortion filters of one estimate
do not depend on the other estimates, so only museval's rule "a window where any estimate is
silent is NaN for every source" differs from museval there (museval would refuse the excerpt).
"""

from __future__ import annotations

import numpy as np
import torch

BSS_METRICS = ("sdr", "sir", "sar", "isr")
METRICS = ("sdr", "sir", "sar", "isr", "si_sdr", "sd_sdr", "pes", "eps", "pes_code")


def present_sources(references: torch.Tensor) -> torch.Tensor:
    """bool (S,): which signals (S, C, L) hold any non-zero sample (references, or estimates)."""
    return references.flatten(1).abs().amax(dim=1) > 0


def _bss_present(refs: torch.Tensor, ests: torch.Tensor, present: torch.Tensor,
                 rate: int) -> dict[str, np.ndarray]:
    """Window-median BSS Eval (S,) for the present sources, NaN elsewhere; float64 inputs."""
    from avsep.metrics import aggregate_frames, bss_eval

    count = refs.shape[0]
    out = {k: np.full(count, np.nan) for k in BSS_METRICS}
    index = torch.nonzero(present).flatten()
    if index.numel() == 0:
        return out
    sub_refs, sub_ests = refs[index], ests[index].clone()
    silent_est = ~present_sources(sub_ests)
    if bool(silent_est.all()):
        return out
    sub_ests[silent_est] = sub_refs[silent_est]  # placeholder, see the module docstring
    frames = bss_eval(sub_refs.transpose(1, 2), sub_ests.transpose(1, 2), rate)
    medians = aggregate_frames(frames, "median")
    for key in BSS_METRICS:
        values = np.asarray(medians[key], dtype=float)
        values[silent_est.numpy()] = np.nan
        out[key][index.numpy()] = values
    return out


def score(references: torch.Tensor, estimates: torch.Tensor, rate: int
          ) -> dict[str, np.ndarray]:
    """Per-slot metrics of estimates (S, C, L) against references (S, C, L).

    Returns each of :data:`METRICS` as float64 (S,) plus ``present`` bool (S,): BSS Eval and
    SI-SDR/SD-SDR (mean over channels) for present sources (NaN for absent ones), PES/EPS (mean
    over 1 s windows where defined, then over channels) for every slot, ``pes_code`` for silent
    slots with a non-zero estimate.
    """
    from avsep.metrics import sd_sdr, si_sdr, silence_scores

    if references.shape != estimates.shape or references.ndim != 3:
        raise ValueError(f"score: expected references and estimates (S, C, L) of one shape; "
                         f"got {tuple(references.shape)} and {tuple(estimates.shape)}")
    refs = references.detach().cpu().double()
    ests = estimates.detach().cpu().double()
    present = present_sources(refs)
    out = _bss_present(refs, ests, present, rate)
    absent = ~present.numpy()
    for key, fn in (("si_sdr", si_sdr), ("sd_sdr", sd_sdr)):
        values = torch.as_tensor(fn(refs, ests, eps=1e-8)).double().mean(-1).numpy()
        out[key] = np.where(absent, np.nan, values)
    silence = silence_scores(refs, ests, rate)
    for key in ("pes", "eps"):
        values = torch.as_tensor(silence[key]).double().numpy()  # (S, C)
        defined = ~np.isnan(values)
        total = np.where(defined, values, 0.0).sum(-1)
        count = defined.sum(-1)
        out[key] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    out["pes_code"] = _pes_code(refs, ests, present, rate)
    out["present"] = present.numpy()
    return out


def _pes_code(refs: torch.Tensor, ests: torch.Tensor, present: torch.Tensor, rate: int
              ) -> np.ndarray:
    """The conditioned U-Net code's PES (module docstring): (S,) dB, mean over channels of the
    whole-excerpt energy where the slot is silent and its estimate is not all-zero, else NaN."""
    from avsep.metrics import pes

    whole = torch.as_tensor(pes(refs, ests, rate, window=None, hop=None)).double()  # (S, C, 1)
    heard = present_sources(ests)  # estimates that are not all-zero
    return np.where((~present & heard).numpy(), whole.mean(dim=(1, 2)).numpy(), np.nan)

"""Validation metrics for one epoch: loss and, for separators, SI-SDR per Wiener count.

Post-processing is cheap next to the network, so one forward pass per batch is scored at every
Wiener iteration count of the experiment: ``val/sdr@w0``, ``val/sdr@w1``, ... are the mean
SI-SDR (dB, scale-invariant SDR of Le Roux et al. 2019) over the validation items, sources and
channels whose reference is not silent. SI-SDR rather than BSS Eval v4 because it is cheap
enough to run every epoch on short clips; ``avsep eval`` reports BSS Eval v4. ``val/sdr`` is
the best of the counts and ``val/wiener`` the count that reached it.

The baseline is the mixture itself taken as every source's estimate: ``val/sdr_mixture`` is its
mean SI-SDR over the same items, sources and channels, and ``val/sdri`` = ``val/sdr`` -
``val/sdr_mixture`` the improvement (SI-SDRi). A model with ``val/sdri`` <= 0 does no better
than returning its input; the champion guard (:mod:`avsep.tracking.registry`) refuses it.

Under DDP every worker scores its shard and the sums are all-reduced, so every worker returns
the same numbers (and takes the same early-stopping decision).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist

from avsep.audio.stft import istft

EPS = 1e-8
SILENT_ENERGY = 1e-8  # references quieter than this (mean square) are not scored


def si_sdr(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB of ``estimate`` against ``reference``, both (..., L) -> (...).

    ``avsep.metrics.si_sdr`` with a small ``eps``, so an all-zero estimate scores a very low
    finite value instead of NaN.
    """
    from avsep.metrics import si_sdr as metric

    return torch.as_tensor(metric(reference, estimate, eps=EPS))


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move every tensor of ``batch`` to ``device``."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def estimates_per_wiener(model: Any, batch: dict[str, torch.Tensor], out: dict[str, torch.Tensor],
                         counts: Sequence[int]) -> dict[int, torch.Tensor]:
    """Source waveforms (B, S, C, L) for each Wiener count, from one forward output ``out``."""
    length = batch["mixture"].shape[-1]
    if not hasattr(model, "estimate_stft"):  # a separator without the shared STFT helpers
        return {k: model.separate(batch, wiener_iterations=k) for k in counts}
    from avsep.models.base import wiener_refine

    mix = model.mixture_stft(batch)
    estimate = model.estimate_stft(out, mix)
    waves = {}
    for k in counts:
        spec = estimate if k == 0 else wiener_refine(estimate, mix, k)
        waves[k] = istft(spec, model.spec.stft, length=length)
    return waves


class Accumulator:
    """Sums and counts of named metrics, all-reduced over DDP workers on :meth:`result`."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}

    def add(self, name: str, total: float, count: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(total)
        self.counts[name] = self.counts.get(name, 0.0) + float(count)

    def result(self, device: torch.device) -> dict[str, float]:
        names = sorted(self.sums)
        values = torch.tensor([[self.sums[n], self.counts[n]] for n in names],
                              dtype=torch.float64, device=device).reshape(-1, 2)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(values)
        return {n: (v[0] / v[1]).item() if v[1] > 0 else float("nan")
                for n, v in zip(names, values, strict=True)}


@torch.no_grad()
def validate(model: Any, batches: Iterable[dict[str, torch.Tensor]], device: torch.device,
             wiener_iterations: Sequence[int], autocast: bool = False) -> dict[str, float]:
    """Validation metrics of ``model`` (the bare model, not the DDP wrapper) over ``batches``.

    Returns ``val/loss`` and, for separators, ``val/sdr@w<k>`` per count, ``val/sdr``,
    ``val/wiener``, ``val/sdr_mixture`` and ``val/sdri`` (see the module docstring); for other
    tasks ``val/score`` = ``-val/loss`` (higher is better).
    """
    model.eval()
    acc = Accumulator()
    separator = getattr(model, "task", "separation") == "separation"
    for batch in batches:
        batch = to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out = model(batch)
            loss = model.loss(batch, out)
        size = batch["mixture"].shape[0]
        acc.add("val/loss", loss.float().item() * size, size)
        if not separator:
            continue
        out = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
               for k, v in out.items()}
        references = batch["sources"].float()  # (B, S, C, L)
        scored = references.pow(2).mean(-1) > SILENT_ENERGY  # (B, S, C)
        mixture = batch["mixture"].float().unsqueeze(1).expand_as(references)  # (B, S, C, L)
        baseline = si_sdr(references, mixture)
        acc.add("val/sdr_mixture", baseline[scored].sum().item(), scored.sum().item())
        for k, waves in estimates_per_wiener(model, batch, out, wiener_iterations).items():
            values = si_sdr(references, waves.float())
            acc.add(f"val/sdr@w{k}", values[scored].sum().item(), scored.sum().item())
    metrics = acc.result(device)
    if separator:
        best = max(wiener_iterations, key=lambda k: _finite(metrics[f"val/sdr@w{k}"]))
        metrics["val/sdr"] = metrics[f"val/sdr@w{best}"]
        metrics["val/wiener"] = float(best)
        metrics["val/sdri"] = metrics["val/sdr"] - metrics["val/sdr_mixture"]
    else:
        metrics["val/score"] = -metrics["val/loss"]
    model.train()
    return metrics


def _finite(value: float) -> float:
    return value if value == value and abs(value) != float("inf") else float("-inf")

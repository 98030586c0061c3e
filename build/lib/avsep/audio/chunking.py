"""Split long signals into overlapping fixed-length chunks and add the results back.

Models take clips of a fixed length (``spec.clip_samples``). A long input is cut into chunks of
that length, starting every ``hop`` samples, the last one zero-padded; outputs are blended with
a trapezoid cross-fade over the overlaps and normalised by the summed weights, so a constant
signal passes unchanged and there is no seam.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ChunkPlan:
    """Where the chunks of a signal of ``length`` samples start."""

    length: int
    chunk: int
    hop: int
    starts: tuple[int, ...]

    @classmethod
    def for_length(cls, length: int, chunk: int, overlap: float = 0.25) -> ChunkPlan:
        if chunk <= 0 or length <= 0:
            raise ValueError(f"chunk ({chunk}) and length ({length}) must be positive")
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        hop = max(1, int(round(chunk * (1.0 - overlap))))
        starts = [0]
        while starts[-1] + chunk < length:
            starts.append(starts[-1] + hop)
        return cls(length=length, chunk=chunk, hop=hop, starts=tuple(starts))

    def fade(self, device: torch.device | None = None) -> torch.Tensor:
        """Cross-fade weights (chunk,): linear ramps over the overlap (never 0), 1 in the middle.

        ``merge`` divides by the summed weights, so the ramps at the very start and end of the
        signal, where only one chunk covers it, cancel out.
        """
        ramp = self.chunk - self.hop
        weights = torch.ones(self.chunk, device=device)
        if ramp > 0:
            up = torch.linspace(0.0, 1.0, ramp + 2, device=device)[1:-1]
            weights[:ramp] = up
            weights[-ramp:] = up.flip(0)
        return weights


def split(signal: torch.Tensor, plan: ChunkPlan) -> torch.Tensor:
    """(..., L) -> (n_chunks, ..., chunk), zero-padding the end."""
    if signal.shape[-1] != plan.length:
        raise ValueError(f"signal has {signal.shape[-1]} samples, the plan is for {plan.length}")
    pad = plan.starts[-1] + plan.chunk - plan.length
    padded = torch.nn.functional.pad(signal, (0, pad))
    return torch.stack([padded[..., s:s + plan.chunk] for s in plan.starts])


def merge(chunks: torch.Tensor, plan: ChunkPlan) -> torch.Tensor:
    """(n_chunks, ..., chunk) -> (..., L): cross-faded overlap-add of the chunks."""
    if chunks.shape[0] != len(plan.starts) or chunks.shape[-1] != plan.chunk:
        raise ValueError(
            f"expected ({len(plan.starts)}, ..., {plan.chunk}) chunks, got {tuple(chunks.shape)}"
        )
    total = plan.starts[-1] + plan.chunk
    out = chunks.new_zeros(*chunks.shape[1:-1], total)
    norm = chunks.new_zeros(total)
    fade = plan.fade(chunks.device).to(chunks.dtype)
    for i, start in enumerate(plan.starts):
        out[..., start:start + plan.chunk] += chunks[i] * fade
        norm[start:start + plan.chunk] += fade
    return (out / norm.clamp_min(1e-8))[..., : plan.length]

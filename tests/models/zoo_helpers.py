"""Shared helpers for the model-zoo tests: tiny batches, gradient checks, overfitting one batch.

Used by every family's tests (``from zoo_helpers import ...``; tests use importlib mode, so
import it as ``tests.models.zoo_helpers`` or via ``sys.path``; see the test files).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _tones(batch: int, count: int, channels: int, length: int, sample_rate: int,
           gen: torch.Generator) -> torch.Tensor:
    """Distinct harmonic tones with random pitch and amplitude envelope: (B, count, C, L)."""
    t = torch.arange(length) / sample_rate
    f0 = 80.0 * 2 ** (torch.rand(batch, count, 1, 1, generator=gen) * 4)  # 80 Hz .. 1.3 kHz
    wave = torch.zeros(batch, count, 1, length)
    for h in range(1, 5):
        wave = wave + torch.sin(2 * math.pi * h * f0 * t) / h
    rate = 0.5 + 3 * torch.rand(batch, count, 1, 1, generator=gen)
    envelope = 0.6 + 0.4 * torch.sin(2 * math.pi * rate * t)
    noise = 0.05 * torch.randn(batch, count, channels, length, generator=gen)
    return 0.3 * wave * envelope + noise


def tiny_batch(model: nn.Module, batch_size: int = 2, seed: int = 0,
               num_sources: int | None = None, active: int | None = None
               ) -> dict[str, torch.Tensor]:
    """A random batch that satisfies ``model.inputs`` and ``model.spec`` (docs/contracts.md).

    Keys: ``mixture`` (B, C, L) = sum of ``sources`` (B, S, C, L) (S = len(model.source_names)),
    plus ``video`` uint8 (B, V, T, Cv, H, W) with V = ``spec.extra.get("video_streams", 1)``,
    ``labels`` (B, K) presence, ``vad`` (B, N), ``offset``/``sync`` when the model reads them.
    With ``active`` (default: 2 when there are more than 3 sources, else all), only that many
    randomly chosen sources per item sound; the others are silent (label 0), as in the
    instrument mixtures (2..7 of 13).
    """
    gen = torch.Generator().manual_seed(seed)
    spec = model.spec
    length = spec.clip_samples
    count = num_sources or max(1, len(getattr(model, "source_names", ())))
    sources = _tones(batch_size, count, spec.channels, length, spec.stft.sample_rate, gen)
    batch: dict[str, torch.Tensor] = {}
    active = active or (2 if count > 3 else count)
    order = torch.rand(batch_size, count, generator=gen).argsort(dim=1)
    labels = (order < active).float()
    sources = sources * labels[:, :, None, None]
    if "labels" in model.inputs:
        batch["labels"] = labels
    batch["sources"] = sources
    batch["mixture"] = sources.sum(dim=1)
    if "video" in model.inputs:
        streams = int(spec.extra.get("video_streams", 1))
        h, w = spec.crop
        frames = spec.frames_per_clip
        batch["video"] = torch.randint(0, 256, (batch_size, streams, frames,
                                                spec.video_channels, h, w),
                                       generator=gen, dtype=torch.uint8)
    if "vad" in model.inputs:
        frames = spec.stft.num_frames(length)
        batch["vad"] = (torch.rand(batch_size, frames, generator=gen) < 0.5).float()
    if "offset" in model.inputs:
        batch["offset"] = torch.zeros(batch_size, dtype=torch.int64)
    if "sync" in model.inputs:
        batch["sync"] = (torch.arange(batch_size) % 2 == 0).float()
    return batch


def gradient_problems(model: nn.Module) -> dict[str, list[str]]:
    """After ``loss.backward()``: names of trainable parameters whose gradient is missing,
    non-finite or all zero, and of frozen parameters that got a gradient."""
    problems: dict[str, list[str]] = {"missing": [], "nonfinite": [], "zero": [], "frozen": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            if p.grad is not None:
                problems["frozen"].append(name)
            continue
        if p.grad is None:
            problems["missing"].append(name)
        elif not torch.isfinite(p.grad).all():
            problems["nonfinite"].append(name)
        elif p.grad.abs().max() == 0:
            problems["zero"].append(name)
    return {k: v for k, v in problems.items() if v}


def forward_backward(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Train-mode forward + loss + backward; returns the output dict (loss under ``"loss"``)."""
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(batch)
    loss = model.loss(batch, out)
    assert loss.ndim == 0 and torch.isfinite(loss), f"loss is {loss}"
    loss.backward()
    return {**out, "loss": loss.detach()}


def overfit(model: nn.Module, batch: dict[str, torch.Tensor], steps: int = 150,
            lr: float = 3e-3) -> tuple[float, float]:
    """Adam on one batch for ``steps`` steps; returns (first loss, best of the last 10).

    BatchNorm runs in train mode throughout, the batch is fixed, dropout is switched off by
    ``model.eval()``-ing only the dropout modules (they make the loss noisy).
    """
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout | nn.Dropout2d | nn.Dropout3d):
            m.eval()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = model.loss(batch, model(batch))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses[0], min(losses[-10:])


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

"""Separation of long test excerpts by a clip-length model, window by window.

A test excerpt (up to 30 s) is cut into consecutive clip-length windows (the last one
zero-padded), separated in batches and the windows are concatenated. Frame-level keys follow
their windows: video frames (``spec.frames_per_clip`` per window) and ``vad`` frames (one per
STFT hop).

Sound of Pixels computes each source's mask from that source's own visual stream and the
shared spectral components, so an ensemble with more players than the model's stream slots is
separated in groups of ``V`` present streams (the last group padded with empty streams); the
estimates are exactly those of a model with more slots. With Wiener iterations the EM runs
within each group.
"""

from __future__ import annotations

from typing import Any

import torch

from avsep.audio.chunking import ChunkPlan, merge, split


def slice_pad(x: torch.Tensor, start: int, size: int, dim: int) -> torch.Tensor:
    """``x[start:start+size]`` along ``dim``, padded by repeating the last element."""
    part = x.narrow(dim, start, max(0, min(size, x.shape[dim] - start)))
    if part.shape[dim] == size:
        return part
    if part.shape[dim] == 0:
        part = x.narrow(dim, x.shape[dim] - 1, 1)
    last = part.narrow(dim, part.shape[dim] - 1, 1)
    reps = [1] * part.ndim
    reps[dim] = size - part.shape[dim]
    return torch.cat([part, last.repeat(*reps)], dim=dim)


def present_streams(video: torch.Tensor) -> torch.Tensor:
    """bool (..., V): which streams of video (..., V, T, Cv, H, W) hold a non-zero pixel."""
    return video.flatten(-4).amax(dim=-1) > 0


def clip_plan(model: Any, item: dict[str, torch.Tensor]) -> ChunkPlan:
    """Consecutive clip-length windows over ``item``'s mixture (the last one zero-padded)."""
    return ChunkPlan.for_length(item["mixture"].shape[-1], model.spec.clip_samples, overlap=0.0)


def clip_frames(model: Any) -> tuple[int, int]:
    """(STFT frames of one clip, STFT frames between two consecutive clips)."""
    clip = model.spec.clip_samples
    return model.spec.stft.num_frames(clip), clip // model.spec.stft.hop_length


def chunk_item(model: Any, item: dict[str, torch.Tensor],
               plan: ChunkPlan | None = None) -> dict[str, torch.Tensor]:
    """One long item -> a batch of clip-length windows (n, ...) of every key the model reads.

    mixture (C, L) -> (n, C, clip) zero-padded; video (V, T, ...) -> (n, V, frames_per_clip,
    ...); vad (N,) -> (n, frames of a clip); labels (K,) -> (n, K).
    """
    spec = model.spec
    plan = plan or clip_plan(model, item)
    count = len(plan.starts)
    batch = {"mixture": split(item["mixture"], plan)}
    if "video" in model.inputs:
        frames = spec.frames_per_clip  # windows are clip-aligned, so are their frames
        batch["video"] = torch.stack([slice_pad(item["video"], j * frames, frames, 1)
                                      for j in range(count)])
    if "vad" in model.inputs:
        n_frames, hop = clip_frames(model)
        batch["vad"] = torch.stack([slice_pad(item["vad"], j * hop, n_frames, 0)
                                    for j in range(count)])
    if "labels" in model.inputs:
        batch["labels"] = item["labels"].expand(count, -1)
    return batch


def merge_frames(values: torch.Tensor, hop: int, total: int) -> torch.Tensor:
    """Per-window frame values (n, frames) -> (total,): window j starts at frame ``j * hop``."""
    out = values.new_zeros(max(total, hop * (values.shape[0] - 1) + values.shape[1]))
    for j in range(values.shape[0]):
        out[j * hop:j * hop + values.shape[1]] = values[j]
    return out[:total]


@torch.no_grad()
def run_windows(model: Any, batch: dict[str, torch.Tensor], fn: Any,
                batch_size: int = 8) -> torch.Tensor:
    """``fn(part)`` on consecutive parts of ``batch``'s windows, concatenated along dim 0."""
    count = batch["mixture"].shape[0]
    outputs = [fn({k: v[s:s + batch_size] for k, v in batch.items()})
               for s in range(0, count, batch_size)]
    return torch.cat(outputs)


def _separate_windows(model: Any, item: dict[str, torch.Tensor], wiener: int,
                      batch_size: int) -> torch.Tensor:
    plan = clip_plan(model, item)
    batch = chunk_item(model, item, plan)
    chunks = run_windows(model, batch, lambda part: model.separate(part, wiener_iterations=wiener),
                         batch_size)
    return merge(chunks, plan)  # (n, S, C, clip) -> (S, C, L)


def stream_slots(model: Any) -> int | None:
    """Video streams per forward pass of a per-stream model (Sound of Pixels), else None."""
    if type(model).__name__ != "SoundOfPixels":
        return None
    return int(model.spec.extra.get("video_streams", len(model.source_names)))


def scoring_set_options(model: Any) -> dict[str, Any]:
    """Dataset options that let the test set hold every ensemble ``model`` can be scored on:
    a stream-slot model (Sound of Pixels) takes ensembles of any size, separated in groups of
    its slots (:func:`separate_in_stream_groups`)."""
    from avsep.data.records import URMP_INSTRUMENTS

    return {"num_sources": (2, len(URMP_INSTRUMENTS))} if stream_slots(model) is not None else {}


@torch.no_grad()
def separate_long(model: Any, item: dict[str, torch.Tensor], wiener: int,
                  batch_size: int = 8) -> torch.Tensor:
    """Source estimates (S, C, L) for a long item, window by window.

    For a per-stream model given more streams than its slots (see the module docstring), S is
    the item's number of streams and absent (all-zero) streams get silent estimates.
    """
    slots = stream_slots(model)
    video = item.get("video")
    if slots is None or video is None or video.shape[0] == slots:
        return _separate_windows(model, item, wiener, batch_size)
    present = torch.nonzero(present_streams(video)).flatten().tolist()
    channels, length = item["mixture"].shape
    out = torch.zeros(video.shape[0], channels, length)
    for start in range(0, len(present), slots):
        group = present[start:start + slots]
        streams = torch.zeros(slots, *video.shape[1:], dtype=video.dtype)
        streams[:len(group)] = video[group]
        estimate = _separate_windows(model, {**item, "video": streams}, wiener, batch_size)
        out[group] = estimate[:len(group)].float()
    return out

"""How many chunks one model call should take on this CPU: measured at replica start.

On a GPU a larger batch is cheaper per chunk; on a CPU whose threads are already all busy
with one chunk it may not be. Measured on a 2-core EPYC (docs/serve.md): paper-size
MMDenseNet costs less CPU per chunk at batch 8 than at 1, cunet costs more (0.075 CPU-s per
chunk at 1-2, 0.11 at 8: its activations leave the cache), Y-Net about the same. A replica
therefore times its own model on batches of 1, 2, 4, ... chunks of silence and caps its
calls at the size that costs the least CPU per chunk, so batching requests together never
makes a chunk dearer than running it alone.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import numpy as np
import torch

from avsep.data.records import URMP_INSTRUMENTS
from avsep.serve.engine import Request, Separator

RELATIVE_MARGIN = 0.05  # a larger batch must be this much cheaper per chunk to be chosen
RISING = 0.10  # timing stops at a size this much dearer per chunk than the best so far
LONG_CALL_S = 0.3  # a size whose first call took longer than this is timed once
BUDGET_S = 20.0  # wall seconds of calibration after which no larger size is timed


def _cpu_seconds() -> float:
    """CPU time of this process (every thread: the model's own and its OpenMP workers)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def silent_item(separator: Separator) -> dict[str, torch.Tensor]:
    """One chunk item of silence (and a black video, first label) in the model's format."""
    spec = separator.spec
    seconds = spec.clip_samples / separator.rate
    videos = []
    if separator.needs_video:
        frames = int(np.ceil(seconds * spec.fps)) + 1
        height, width = spec.crop or (64, 64)
        videos = [np.zeros((frames, height, width, 3), np.uint8)]
    request = Request(audio=np.zeros((spec.channels, spec.clip_samples), np.float32),
                      rate=separator.rate, videos=videos,
                      labels=[URMP_INSTRUMENTS[0]] if separator.needs_labels else None)
    return separator.make_jobs(request).items[0]


def batch_sizes(limit: int) -> list[int]:
    """1, 2, 4, ... up to ``limit``, and ``limit`` itself."""
    sizes = [1]
    while sizes[-1] * 2 <= limit:
        sizes.append(sizes[-1] * 2)
    return sizes if sizes[-1] == limit else sizes + [limit]


def choose(costs: dict[int, float]) -> int:
    """The size with the lowest cost per chunk; a larger size only when it is cheaper than
    every smaller one by more than :data:`RELATIVE_MARGIN`."""
    best = min(costs)
    for size in sorted(costs):
        if costs[size] < costs[best] * (1.0 - RELATIVE_MARGIN):
            best = size
    return best


def cheapest_batch(separator: Separator, limit: int,
                   clock: Callable[[], float] = _cpu_seconds) -> tuple[int, dict[int, float]]:
    """(the batch size to cap model calls at, CPU-seconds per chunk of each size timed).

    Run it in the thread the model runs in (its torch thread count). Sizes are timed in
    increasing order, best of two calls (one when a call is long); timing stops at a size
    more than :data:`RISING` dearer per chunk than the best so far, or once :data:`BUDGET_S`
    have passed (a slow model: Y-Net at paper size takes ~3 CPU-s per chunk).
    """
    item = silent_item(separator)
    separator.run([item], 0, 1)  # warm-up: first-call allocations, an ONNX export
    costs: dict[int, float] = {}
    started = time.perf_counter()
    for size in batch_sizes(limit):
        if costs and time.perf_counter() - started > BUDGET_S:
            break
        # distinct tensors: the engine encodes a video once per distinct tensor (Y-Net's
        # shared visual features), so one item repeated would time one encoder pass per call
        items = [{k: v.clone() for k, v in item.items()} for _ in range(size)]
        timings = []
        for _ in range(2):
            start = clock()
            separator.run(items, 0, size)
            timings.append((clock() - start) / size)
            if timings[0] * size > LONG_CALL_S:
                break
        costs[size] = min(timings)
        if costs[size] > min(costs.values()) * (1.0 + RISING):
            break
    return choose(costs), costs

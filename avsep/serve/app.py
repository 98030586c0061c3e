"""The Ray Serve application: one deployment whose replicas hold a :class:`Separator`.

Chunks of concurrent requests meet in :meth:`SeparationService.run_batched` (``@serve.batch``)
and go through the model together; with ``batching=False`` each request runs its own chunks.
``build_app(args)`` is the import path ``serve deploy`` configs use.

CPU threads: Ray sets ``OMP_NUM_THREADS`` of a replica to its ``num_cpus`` (1 by default), so
a replica computed on one core whatever the machine had. A replica now sets torch's thread
count to its ``threads`` (default: its CPUs) and runs one model call at a time (a lock): the
call uses every thread it was given, and concurrent requests queue for it instead of
oversubscribing the cores. On CPU the model's convolutional blocks run in ONNX Runtime where
they can (``backend``, :mod:`avsep.serve.accelerate`); docs/serve.md has the measurements.
"""

from __future__ import annotations

import asyncio
import math
import threading
from itertools import groupby
from typing import Any

from ray import serve

from avsep.serve.engine import Separator
from avsep.serve.http import build_http_app
from avsep.serve.limits import Limits

DEFAULT_MAX_BATCH = 8


@serve.deployment(max_ongoing_requests=64)
@serve.ingress()
class SeparationService:
    """A replica: loads the model once, answers HTTP through the FastAPI app."""

    def __init__(self, model_uri: str, tracking_uri: str | None = None,
                 limits: dict[str, Any] | None = None, batching: bool = True,
                 max_batch_size: int = DEFAULT_MAX_BATCH, device: str = "auto",
                 threads: int = 1, precision: str = "fp32", backend: str = "auto"):
        import torch

        torch.set_num_threads(max(1, int(threads)))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.separator = Separator.from_uri(model_uri, tracking_uri=tracking_uri, device=device,
                                            precision=precision, backend=backend)
        self.limits = Limits(**(limits or {}))
        self.batching = batching
        self.max_batch_size = max_batch_size
        self.model_lock = threading.Lock()  # one model call at a time, with all the threads
        self.run_batched.set_max_batch_size(max_batch_size)

    def __serve_build_asgi_app__(self):
        runner = self._run_with_batching if self.batching else self._run_alone
        return build_http_app(self.separator, self.limits, runner)

    def _run_locked(self, items: list[dict], wiener: int, max_batch: int) -> list:
        with self.model_lock:
            return self.separator.run(items, wiener, max_batch)

    async def _run_alone(self, items: list[dict], wiener: int) -> list:
        return await asyncio.to_thread(self._run_locked, items, wiener, self.max_batch_size)

    async def _run_with_batching(self, items: list[dict], wiener: int) -> list:
        return list(await asyncio.gather(*(self.run_batched((item, wiener)) for item in items)))

    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH, batch_wait_timeout_s=0.01)
    async def run_batched(self, jobs: list[tuple[dict, int]]) -> list:
        """Chunk items of any requests -> outputs, one model call per Wiener setting."""
        outputs: list = [None] * len(jobs)
        order = sorted(range(len(jobs)), key=lambda i: jobs[i][1])
        for wiener, group in groupby(order, key=lambda i: jobs[i][1]):
            index = list(group)
            results = await asyncio.to_thread(
                self._run_locked, [jobs[i][0] for i in index], wiener, len(index))
            for i, result in zip(index, results, strict=True):
                outputs[i] = result
        return outputs


def build_app(args: dict[str, Any]):
    """Application builder for ``serve run`` / ``serve deploy`` (``avsep.serve.app:build_app``).

    ``args``: model (URI, required), tracking_uri, limits (dict), batching, max_batch_size,
    num_replicas (int or "auto"), gpus_per_replica, max_replicas (with "auto"),
    cpus_per_replica (Ray's num_cpus, default 1), threads_per_replica (torch threads, default
    the replica's CPUs), precision ("fp32" or "bf16"), backend ("auto", "torch" or
    "onnxruntime": see :mod:`avsep.serve.accelerate`).
    """
    if "model" not in args:
        raise ValueError("build_app needs args.model, e.g. models:/av_singing@champion")
    replicas = args.get("num_replicas", 1)
    cpus = float(args.get("cpus_per_replica", 1))
    options: dict[str, Any] = {
        "ray_actor_options": {"num_gpus": float(args.get("gpus_per_replica", 0)),
                              "num_cpus": cpus},
    }
    if replicas == "auto":
        options["autoscaling_config"] = {"min_replicas": 1,
                                         "max_replicas": int(args.get("max_replicas", 4)),
                                         "target_ongoing_requests": 8}
    else:
        options["num_replicas"] = int(replicas)
    threads = int(args.get("threads_per_replica") or max(1, math.floor(cpus)))
    return SeparationService.options(**options).bind(
        args["model"], args.get("tracking_uri"), args.get("limits"),
        bool(args.get("batching", True)), int(args.get("max_batch_size", DEFAULT_MAX_BATCH)),
        "auto", threads, str(args.get("precision", "fp32")), str(args.get("backend", "auto")),
    )

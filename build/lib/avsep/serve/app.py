"""The Ray Serve application: one deployment whose replicas hold a :class:`Separator`.

With batching on (the default), the chunks of concurrent requests meet in one model call
(:class:`avsep.serve.batcher.Batcher`: a call takes the requests that queued while the previous
one ran); with ``batching=False`` each request runs its own chunks. ``build_app(args)`` is the
import path ``serve deploy`` configs use.

CPU threads: Ray sets ``OMP_NUM_THREADS`` of a replica to its ``num_cpus`` (1 by default), so
a replica computed on one core whatever the machine had. A replica runs its model calls one at
a time in one thread with ``threads`` torch threads (default: its CPUs), and the per-request
work (decoding, resampling, cross-fading, encoding) in helper threads with one torch thread
each (:mod:`avsep.serve.lanes`), so concurrent requests never oversubscribe the cores. On CPU
the model's convolutional blocks run in OpenVINO (bf16) or ONNX Runtime (fp32) where they can
(``backend``; ``auto`` is resolved by :func:`avsep.serve.engine.serving_backend`,
:mod:`avsep.serve.accelerate`); docs/serve.md has the measurements.

Overload: a replica holds at most ``max_ongoing_requests`` requests and the proxy queues at most
``max_queued_requests`` more; beyond them the proxy answers 503 with ``Retry-After``
(:func:`overload_options`, defaults in :mod:`avsep.serve.limits`).
"""

from __future__ import annotations

import math
from typing import Any

from ray import serve

from avsep.serve.batcher import Batcher
from avsep.serve.calibrate import cheapest_batch
from avsep.serve.engine import Separator, serving_backend
from avsep.serve.http import build_http_app
from avsep.serve.lanes import Lanes
from avsep.serve.launch import AUTO_MAX_REPLICAS
from avsep.serve.limits import Limits
from avsep.serve.precision import resolve_precision

DEFAULT_MAX_BATCH = 8


@serve.deployment
@serve.ingress()
class SeparationService:
    """A replica: loads the model once, answers HTTP through the FastAPI app."""

    def __init__(self, model_uri: str, tracking_uri: str | None = None,
                 limits: dict[str, Any] | None = None, batching: bool = True,
                 max_batch_size: int = DEFAULT_MAX_BATCH, device: str = "auto",
                 threads: int = 1, precision: str = "fp32", backend: str = "auto",
                 calibrate: bool = True, wiener_iterations: int | None = None):
        import torch

        threads = max(1, int(threads))
        torch.set_num_threads(threads)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.lanes = Lanes(threads)
        self.backend_asked = backend
        if backend == "auto":  # a replica's own rule (engine.serving_backend)
            backend = serving_backend(torch.device(device), resolve_precision(precision, device))
        self.separator = Separator.from_uri(model_uri, tracking_uri=tracking_uri, device=device,
                                            precision=precision, backend=backend)
        self.limits = Limits(**(limits or {}))
        if wiener_iterations is not None:  # the operator's default instead of the package's
            self.separator.wiener_iterations = int(wiener_iterations)
        # on CPU, model calls are capped at the batch size that costs least per chunk
        self.batch_costs: dict[int, float] = {}
        if calibrate and self.separator.device.type == "cpu" and max_batch_size > 1:
            max_batch_size, self.batch_costs = self.lanes.model_blocking(
                cheapest_batch, self.separator, max_batch_size)
        self.max_batch_size = max_batch_size
        # a cap of one chunk per call leaves the batcher nothing to merge (two requests hold at
        # least two chunks): requests then take the direct path, without the batcher's queue
        self.batcher = Batcher(self._run_model, max_batch_size) \
            if batching and max_batch_size > 1 else None
        self.batching_asked = bool(batching)  # /info: asked for, but a cap of 1 runs direct

    def __serve_build_asgi_app__(self):
        runner = self.batcher.run if self.batcher is not None else self._run_model
        return build_http_app(self.separator, self.limits, runner, self.lanes, self.batcher,
                              {"max_chunks_per_call": self.max_batch_size,
                               "cpu_s_per_chunk_by_batch": self.batch_costs,
                               "batching_asked": self.batching_asked,
                               "backend_asked": self.backend_asked})

    async def _run_model(self, items: list[dict], wiener: int) -> list:
        """One model call over ``items`` (split into batches of ``max_batch_size``)."""
        return await self.lanes.model(self.separator.run, items, wiener, self.max_batch_size)


def overload_options(limits: Limits) -> dict[str, Any]:
    """The deployment options that bound the requests it holds (Ray Serve's own limits).

    Beyond ``max_ongoing_requests`` per replica and ``max_queued_requests`` waiting at the
    proxy, Ray Serve's HTTP proxy answers a request itself, before any replica sees it, with
    ``503`` and ``Retry-After: ceil(retry_after_s)`` (``backpressure_config`` of Ray Serve 2.60).
    """
    return {"max_ongoing_requests": limits.max_ongoing_requests,
            "max_queued_requests": limits.max_queued_requests,
            "backpressure_config": {"status_code": 503, "retry_after_s": limits.retry_after_s}}


def build_app(args: dict[str, Any]):
    """Application builder for ``serve run`` / ``serve deploy`` (``avsep.serve.app:build_app``).

    ``args``: model (URI, required), tracking_uri, limits (dict of
    :class:`avsep.serve.limits.Limits` fields; the overload ones default from the replicas and
    their CPUs, :func:`avsep.serve.limits.overload_defaults`), batching, max_batch_size,
    num_replicas (int or "auto"), gpus_per_replica, max_replicas (with "auto"),
    cpus_per_replica (Ray's num_cpus, default 1), threads_per_replica (torch threads, default
    the replica's CPUs), precision ("fp32" or "bf16"), backend ("auto", "torch",
    "onnxruntime" or "openvino": see :mod:`avsep.serve.accelerate`), calibrate_batch (default
    true: on CPU a replica caps its model calls at the batch size that costs least per chunk,
    measured at start, :mod:`avsep.serve.calibrate`), wiener_iterations (the default of
    requests that do not set it; default: the count the model was validated at, from its
    package).
    """
    if "model" not in args:
        raise ValueError("build_app needs args.model, e.g. models:/av_singing@champion")
    replicas = args.get("num_replicas", 1)
    cpus = float(args.get("cpus_per_replica", 1))
    most_replicas = int(args.get("max_replicas", AUTO_MAX_REPLICAS)) if replicas == "auto" \
        else int(replicas)
    limits = Limits.resolve(args.get("limits"), most_replicas, cpus)
    options: dict[str, Any] = {
        "ray_actor_options": {"num_gpus": float(args.get("gpus_per_replica", 0)),
                              "num_cpus": cpus},
        **overload_options(limits),
    }
    if replicas == "auto":
        options["autoscaling_config"] = {
            "min_replicas": 1, "max_replicas": most_replicas,
            "target_ongoing_requests": min(8, limits.max_ongoing_requests)}
    else:
        options["num_replicas"] = int(replicas)
    threads = int(args.get("threads_per_replica") or max(1, math.floor(cpus)))
    return SeparationService.options(**options).bind(
        args["model"], args.get("tracking_uri"), limits.as_dict(),
        bool(args.get("batching", True)), int(args.get("max_batch_size", DEFAULT_MAX_BATCH)),
        "auto", threads, str(args.get("precision", "fp32")), str(args.get("backend", "auto")),
        bool(args.get("calibrate_batch", True)), args.get("wiener_iterations"),
    )

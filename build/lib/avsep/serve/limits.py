"""Limits of the separation service: on one request, and on how many requests it holds at once.

Per request (beyond them the service answers 413): ``max_upload_bytes``, ``max_duration_s``,
``max_wiener_iterations``.

Overload (Ray Serve's own limits, set on the deployment by :func:`avsep.serve.app.build_app`):
each replica computes at most ``max_ongoing_requests`` requests at once, the HTTP proxy holds at
most ``max_queued_requests`` more waiting for a replica, and every request beyond them is
answered at once by the proxy with ``503`` and ``Retry-After: <retry_after_s>`` instead of being
queued. The memory the service holds is then bounded by ``(replicas x max_ongoing_requests +
max_queued_requests)`` requests, each at most ``max_upload_bytes`` long (docs/serve.md,
"Overload").

Defaults (:func:`overload_defaults`), from the replicas and their CPUs:

- ``max_ongoing_requests = max(8, 4 x ceil(CPUs of a replica))``: a replica runs one model call
  at a time, so the other ongoing requests are the ones its helper threads decode and encode and
  its batcher merges into the next call (it takes every request that queued while the previous
  call ran); 8 covers a batch of chunks from several requests on a small replica;
- ``max_queued_requests = 4 x max_ongoing_requests x replicas`` (``max_replicas`` when
  autoscaling): a burst of four rounds of every replica waits at the proxy. Ray counts a request
  as queued from its arrival until a replica takes it, so a burst of N simultaneous requests
  needs N queue places even when replicas are free: 32 for one small replica covers the 16- and
  20-client bursts of ``benchmarks/serve_load.py`` and the tests;
- ``retry_after_s = 5``: about one round of a replica on a 5-s upload under load.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

DEFAULT_RETRY_AFTER_S = 5.0
OVERLOAD_FLAGS = {"max_ongoing_requests": "--max-ongoing-requests",
                  "max_queued_requests": "--max-queued-requests",
                  "retry_after_s": "--retry-after-s"}


def overload_defaults(replicas: int, cpus_per_replica: float) -> dict[str, float]:
    """The default overload limits of ``replicas`` replicas of ``cpus_per_replica`` CPUs each
    (rule in the module docstring)."""
    ongoing = max(8, 4 * math.ceil(max(cpus_per_replica, 0.0)))
    return {"max_ongoing_requests": ongoing,
            "max_queued_requests": 4 * ongoing * max(1, int(replicas)),
            "retry_after_s": DEFAULT_RETRY_AFTER_S}


@dataclass(frozen=True)
class Limits:
    """Upper bounds on one request (beyond them: 413) and on the requests a deployment holds at
    once (beyond them: 503 with ``Retry-After``, answered by Ray Serve's proxy)."""

    max_upload_bytes: int = 50 * 1024 * 1024
    max_duration_s: float = 600.0
    max_wiener_iterations: int = 3
    max_ongoing_requests: int = 8
    max_queued_requests: int = 32
    retry_after_s: float = DEFAULT_RETRY_AFTER_S

    def __post_init__(self) -> None:
        for name in ("max_ongoing_requests", "max_queued_requests"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{OVERLOAD_FLAGS[name]} ({name}) must be a positive integer, "
                                 f"got {value!r}")
        if not (isinstance(self.retry_after_s, int | float) and
                0 <= self.retry_after_s < math.inf):
            raise ValueError(f"--retry-after-s (retry_after_s) must be a number of seconds "
                             f">= 0, got {self.retry_after_s!r}")

    @classmethod
    def resolve(cls, given: dict[str, Any] | None, replicas: int,
                cpus_per_replica: float) -> Limits:
        """``given`` (any subset of the fields) completed with the overload defaults of
        ``replicas`` x ``cpus_per_replica``; unknown keys are refused by name."""
        given = dict(given or {})
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown limit(s) {unknown}; known: "
                             f"{[f.name for f in fields(cls)]}")
        defaults = overload_defaults(replicas, cpus_per_replica)
        return cls(**{**defaults, **{k: v for k, v in given.items() if v is not None}})

    @property
    def max_request_bytes(self) -> int:
        """The largest request body read at all: two uploads' worth (audio plus a video, or
        one file and its multipart framing); larger ones get 413 unread."""
        return 2 * self.max_upload_bytes

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

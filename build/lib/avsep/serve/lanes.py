"""The threads of a replica: one model lane with every torch thread, helpers with one each.

A replica's CPU work is the model call (tens to hundreds of milliseconds of dense kernels) and
per-request work around it: decoding, resampling, chunking, cross-fading and encoding. Run in
a plain thread pool, each of those threads starts its own OpenMP team of ``threads`` workers,
so at 16 clients a 2-core replica ran a dozen spinning teams at once and an answer that takes
0.1 s alone took 2.5 s (measured, docs/serve.md). Here:

* the **model lane** is one thread whose torch thread count is the replica's ``threads``: model
  calls run there one at a time, each with every core;
* the **helpers** are a small pool whose threads run torch single-threaded: the per-request
  work of concurrent requests shares the cores without oversubscribing them.

torch's intra-op thread count is a per-thread setting (OpenMP's and MKL's thread count of the
calling thread), so each pool sets it once in its initializer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_HELPERS = 4


def _set_torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)


class Lanes:
    """``await lanes.model(fn, *args)`` / ``await lanes.helper(fn, *args)``: ``fn(*args)`` in the
    model thread (``threads`` torch threads) or in a helper thread (1 torch thread)."""

    def __init__(self, threads: int, helpers: int = DEFAULT_HELPERS):
        if threads < 1 or helpers < 1:
            raise ValueError(f"threads ({threads}) and helpers ({helpers}) must be >= 1")
        self.threads = threads
        self._model = ThreadPoolExecutor(1, "avsep-model", _set_torch_threads, (threads,))
        self._helpers = ThreadPoolExecutor(helpers, "avsep-helper", _set_torch_threads, (1,))

    @staticmethod
    async def _run(executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(fn, *args))

    async def model(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._model, fn, *args)

    def model_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the model thread, waited for (replica start-up, outside any loop)."""
        return self._model.submit(fn, *args).result()

    async def helper(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._helpers, fn, *args)

    def close(self) -> None:
        self._model.shutdown(wait=False, cancel_futures=True)
        self._helpers.shutdown(wait=False, cancel_futures=True)

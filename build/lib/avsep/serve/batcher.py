"""Batching that forms a batch when the model becomes free, not when a timer fires.

Ray Serve's ``@serve.batch`` forms a batch from what arrived within ``batch_wait_timeout_s`` of
its first item and queues it for the model at once, while the previous batch still runs: with
a model call of 0.2-2 s, each batch held the few chunks that arrived in its 10 ms window, one
request's chunks were queued as separate items, and every request paid the wait (docs/serve.md
has the trace). :class:`Batcher` keeps requests whole and waits for the model instead: requests
queue while a model call is in flight, and the next call takes every queued request that fits.
With one request at a time each request is its own call at once: the same call, with no wait,
as without batching. A request of at least ``max_chunks`` items can share a call with nothing,
so it skips the queue and runs at once (the model lane still runs calls one at a time): at a
cap of 2 chunks every 5 s stereo upload to cunet is such a request, and queueing them behind
the batcher's calls cost ~10 % of throughput at 16 clients (docs/serve.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

RunModel = Callable[[list[Any], int], Awaitable[list[Any]]]


@dataclass
class _Pending:
    items: list[Any]
    wiener: int
    future: asyncio.Future


class Batcher:
    """``await batcher.run(items, wiener)`` -> that request's outputs, one per item, in order.

    ``run_model(items, wiener)`` computes any list of chunk items (one call of the model lane;
    it splits lists longer than the model's batch itself). A call takes the oldest queued
    request and, in arrival order, every other queued request with the same Wiener setting
    while the items stay within ``max_chunks``; a request of ``max_chunks`` items or more
    is run at once, outside the queue (``direct_requests`` counts them). Requests are never
    split across calls. When a call of several requests fails, each is run again alone, so
    only the request whose items fail gets the error.
    """

    def __init__(self, run_model: RunModel, max_chunks: int):
        if max_chunks < 1:
            raise ValueError(f"max_chunks must be >= 1, got {max_chunks} (--max-batch-size)")
        self.run_model = run_model
        self.max_chunks = max_chunks
        self._queue: deque[_Pending] = deque()
        self._drainer: asyncio.Task | None = None
        self.calls: deque[int] = deque(maxlen=1000)  # items per model call, latest 1000
        self.direct_requests = 0  # requests run at once, outside the queue

    async def run(self, items: list[Any], wiener: int) -> list[Any]:
        if len(items) >= self.max_chunks:  # a call of its own whatever is queued: no wait
            self.direct_requests += 1
            return await self.run_model(list(items), wiener)
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(list(items), wiener, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    def take(self) -> list[_Pending]:
        """The requests of the next call, removed from the queue (empty if none is waiting)."""
        while self._queue and self._queue[0].future.done():  # cancelled by its client
            self._queue.popleft()
        if not self._queue:
            return []
        first = self._queue.popleft()
        batch, size = [first], len(first.items)
        for pending in list(self._queue):
            if pending.future.done():
                self._queue.remove(pending)
            elif pending.wiener == first.wiener:
                if size + len(pending.items) > self.max_chunks:
                    break
                self._queue.remove(pending)
                batch.append(pending)
                size += len(pending.items)
        return batch

    async def _drain(self) -> None:
        while batch := self.take():
            if not await self._call(batch) and len(batch) > 1:
                for pending in batch:  # one request's bad input must not fail the others
                    await self._call([pending], final=True)

    async def _call(self, batch: list[_Pending], final: bool = False) -> bool:
        """One model call for ``batch``; False when it failed (the futures are then failed
        too when ``final`` or when the call held a single request)."""
        items = [item for pending in batch for item in pending.items]
        self.calls.append(len(items))
        try:
            outputs = await self.run_model(items, batch[0].wiener)
        except Exception as err:  # noqa: BLE001 - the request(s) of this call get the error
            if final or len(batch) == 1:
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(err)
            return False
        start = 0
        for pending in batch:
            end = start + len(pending.items)
            if not pending.future.done():
                pending.future.set_result(outputs[start:end])
            start = end
        return True

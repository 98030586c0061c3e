"""Batching inside a replica, without Ray: the batcher forms calls from the requests that queued
while the model was busy, keeps requests whole, and the replica's batch cap is the calibrated
cheapest size per chunk; the model lane and the helpers have their own torch thread counts."""

from __future__ import annotations

import asyncio

import pytest
import torch

from avsep.models import build
from avsep.serve.batcher import Batcher
from avsep.serve.calibrate import LONG_CALL_S, batch_sizes, cheapest_batch, choose, silent_item
from avsep.serve.engine import Separator
from avsep.serve.lanes import Lanes


class GatedModel:
    """A model call that waits for ``gate`` and answers each item with ``item * 10``."""

    def __init__(self):
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()

    async def __call__(self, items: list[int], wiener: int) -> list[int]:
        self.calls.append(list(items))
        await self.gate.wait()
        if -1 in items:
            raise RuntimeError("bad item")
        return [item * 10 + wiener for item in items]


def test_requests_that_queue_while_the_model_runs_share_one_call_whole():
    async def scenario():
        model = GatedModel()
        batcher = Batcher(model, max_chunks=8)
        first = asyncio.create_task(batcher.run([1, 2], 0))
        await asyncio.sleep(0)  # the first request's call starts at once, alone
        queued = [asyncio.create_task(batcher.run(items, wiener)) for items, wiener in
                  (([3, 4, 5], 0), ([6, 7], 0), ([8, 9, 10, 11], 0), ([12], 1))]
        await asyncio.sleep(0)
        model.gate.set()
        results = await asyncio.gather(first, *queued)
        return model.calls, results, list(batcher.calls)

    calls, results, sizes = asyncio.run(scenario())
    # [3,4,5] + [6,7] fit in 8; [8..11] would make 9; [12] has another Wiener setting
    assert calls == [[1, 2], [3, 4, 5, 6, 7], [8, 9, 10, 11], [12]]
    assert sizes == [2, 5, 4, 1]
    assert results == [[10, 20], [30, 40, 50], [60, 70], [80, 90, 100, 110], [121]]


def test_a_request_larger_than_the_cap_goes_alone_and_errors_reach_only_their_call():
    async def scenario():
        model = GatedModel()
        model.gate.set()
        batcher = Batcher(model, max_chunks=2)
        big = await batcher.run([1, 2, 3], 0)
        bad = asyncio.create_task(batcher.run([-1], 0))
        good = asyncio.create_task(batcher.run([4], 0))
        outcome = await asyncio.gather(bad, return_exceptions=True)
        return big, outcome[0], await good, model.calls

    big, error, good, calls = asyncio.run(scenario())
    assert big == [10, 20, 30] and good == [40]
    assert isinstance(error, RuntimeError)
    # the call of both requests failed; each ran again alone, and only -1's owner got the error
    assert calls == [[1, 2, 3], [-1, 4], [-1], [4]]


def test_a_request_that_fills_the_cap_runs_at_once_outside_the_queue():
    """Nothing can share a call with a request of ``max_chunks`` items: it does not wait
    behind the running call and the queued requests (the model lane orders the calls)."""
    async def scenario():
        model = GatedModel()
        batcher = Batcher(model, max_chunks=4)
        first = asyncio.create_task(batcher.run([1, 2], 0))
        await asyncio.sleep(0)
        small = asyncio.create_task(batcher.run([3], 0))  # queued behind the first call
        full = asyncio.create_task(batcher.run([5, 6, 7, 8], 0))
        await asyncio.sleep(0)
        started = [list(call) for call in model.calls]  # before any call could finish
        model.gate.set()
        results = await asyncio.gather(first, small, full)
        return started, model.calls, results, list(batcher.calls), batcher.direct_requests

    started, calls, results, sizes, direct = asyncio.run(scenario())
    assert started == [[1, 2], [5, 6, 7, 8]]
    assert calls == [[1, 2], [5, 6, 7, 8], [3]]
    assert results == [[10, 20], [30], [50, 60, 70, 80]]
    assert sizes == [2, 1] and direct == 1  # the batcher's own calls, and the direct one


def test_batch_sizes_and_the_cheapest_choice():
    assert batch_sizes(1) == [1] and batch_sizes(8) == [1, 2, 4, 8]
    assert batch_sizes(6) == [1, 2, 4, 6]
    assert choose({1: 0.865, 2: 0.70, 4: 0.66, 8: 0.598}) == 8  # MMDenseNet-like: larger cheaper
    assert choose({1: 0.074, 2: 0.077, 4: 0.102, 8: 0.113}) == 1  # cunet-like: larger dearer
    assert choose({1: 1.00, 2: 0.97, 4: 1.2}) == 1  # within the 5 % margin: the smaller size


class VirtualClock:
    """CPU seconds that advance by ``cost[batch] * batch`` on each model call."""

    def __init__(self, separator: Separator, cost: dict[int, float]):
        self.now = 0.0
        self.sizes: list[int] = []
        run = separator.run

        def timed_run(items, wiener=0, max_batch=16):
            self.sizes.append(len(items))
            self.now += cost[len(items)] * len(items)
            return run(items, wiener, max_batch)

        separator.run = timed_run

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("cost, chosen, timed", [
    ({1: 0.9, 2: 0.7, 4: 0.66, 8: 0.6}, 8, [1, 2, 4, 8]),
    ({1: 0.07, 2: 0.075, 4: 0.1, 8: 0.11}, 1, [1, 2, 4]),  # stops at the first dearer size
])
def test_cheapest_batch_times_silent_chunks_and_caps_at_the_cheapest(cost, chosen, timed):
    separator = Separator(build({"name": "mmdensenet", "preset": "tiny"}), backend="torch")
    clock = VirtualClock(separator, cost)
    size, costs = cheapest_batch(separator, 8, clock=clock)
    assert size == chosen
    assert sorted(costs) == timed
    assert all(costs[s] == pytest.approx(cost[s]) for s in timed)
    # one warm-up call of 1, then each size twice, once when its call is long
    assert clock.sizes == [1] + [s for s in timed
                                 for _ in range(1 if cost[s] * s > LONG_CALL_S else 2)]


@pytest.mark.parametrize("config", [{"name": "av_mmdensenet", "preset": "tiny"},
                                    {"name": "cunet", "preset": "tiny",
                                     "conditioning": "label_multiply", "context": "labels"}])
def test_a_silent_chunk_fits_every_input_of_the_model(config):
    separator = Separator(build(config), backend="torch")
    item = silent_item(separator)
    assert set(item) == set(separator.model.inputs)
    assert item["mixture"].shape[-1] == separator.spec.clip_samples
    assert float(item["mixture"].abs().max()) == 0.0
    (output,) = separator.run([item])
    assert output.shape[0] == len(separator.model.source_names)


def test_the_model_lane_has_every_thread_and_helpers_one():
    async def counts(lanes: Lanes) -> tuple[int, int]:
        return (await lanes.model(torch.get_num_threads),
                await lanes.helper(torch.get_num_threads))

    lanes = Lanes(threads=2, helpers=2)
    try:
        assert asyncio.run(counts(lanes)) == (2, 1)
    finally:
        lanes.close()
    with pytest.raises(ValueError, match="must be >= 1"):
        Lanes(threads=0)

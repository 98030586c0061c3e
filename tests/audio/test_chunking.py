"""Overlapping chunks: split + merge gives back the signal; plans cover every sample."""

from __future__ import annotations

import pytest
import torch

from avsep.audio.chunking import ChunkPlan, merge, split


@pytest.mark.parametrize("length", [1, 63, 64, 65, 1000, 4097])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_split_then_merge_is_identity(length, overlap):
    signal = torch.randn(2, 3, length)
    plan = ChunkPlan.for_length(length, 64, overlap)
    chunks = split(signal, plan)
    assert chunks.shape == (len(plan.starts), 2, 3, 64)
    assert plan.starts[-1] + 64 >= length
    torch.testing.assert_close(merge(chunks, plan), signal, atol=1e-6, rtol=0)


def test_merge_blends_differing_chunks_without_jumps():
    plan = ChunkPlan.for_length(256, 64, 0.5)
    chunks = torch.stack([torch.full((64,), float(i)) for i in range(len(plan.starts))])
    merged = merge(chunks, plan)
    assert merged[:32].eq(0).all()  # only the first chunk covers the start
    steps = merged.diff().abs()
    assert steps.max() < 0.1  # a linear cross-fade, not a step from one chunk to the next


def test_bad_plans_say_what_is_expected():
    with pytest.raises(ValueError, match="overlap must be in"):
        ChunkPlan.for_length(100, 10, 1.0)
    plan = ChunkPlan.for_length(100, 10)
    with pytest.raises(ValueError, match="the plan is for 100"):
        split(torch.zeros(99), plan)

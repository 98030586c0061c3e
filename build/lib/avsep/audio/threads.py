"""Run torch's CPU ops on one thread inside a block (BSS Eval, the stereo Wiener EM).

Both run many element-wise passes over medium-sized tensors. Spread over OpenMP threads,
every pass ends at a barrier; on a busy machine a descheduled thread stalls each one. On the
loaded 2-core test box, 2 threads against 1: BSS Eval (8 s, 4 stereo sources) used 1.10 s of
CPU time against 0.32 s, and the stereo Wiener EM ran 4-6x slower. The thread count is
process-wide: it is changed for the duration of the block and restored after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_torch_thread(device: torch.device) -> Iterator[None]:
    """Inside the block torch uses one CPU thread (nothing changes for other devices)."""
    if device.type != "cpu" or torch.get_num_threads() == 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)

"""A few CPU threads for BSS Eval's independent pieces of work.

numpy's matrix products, LAPACK calls and scipy's pocketfft FFTs release the GIL, so plain
threads run them on several cores at once: BSS Eval splits its correlation blocks and its
evaluation windows over the threads and solves the two Gram systems side by side
(:mod:`avsep.metrics.bss_eval`). With one thread everything runs inline, in the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")

# One thread unless asked: on the shared 2-core test box (load 2-6, 2026-12-06) two threads
# were slower than one (8 s/44.1 kHz: 1.40 s against 0.65 s wall) and cost 10-20 % more CPU
# time; a quiet box, where the second core is free, was not available to measure the gain.
DEFAULT_THREADS = 1


def default_threads() -> int:
    """The thread count used when none is given: :data:`DEFAULT_THREADS` (1)."""
    return DEFAULT_THREADS


def check_threads(threads: int | None) -> int:
    """``None`` -> :func:`default_threads`; a positive int is kept; anything else raises."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: expected a positive int (CPU threads for BSS Eval, e.g. 1 "
                         f"or 2) or None for the default, got {threads!r}")
    return threads


def split(items: Sequence[T], parts: int) -> list[Sequence[T]]:
    """``items`` cut into at most ``parts`` contiguous runs of near-equal length, in order."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for part in range(parts):
        stop = start + size + (part < extra)
        out.append(items[start:stop])
        start = stop
    return out


class Workers:
    """A context manager holding ``count`` threads (none when ``count == 1``).

    ``submit`` returns a future; with one thread the call runs at once in the caller and the
    future is already done, so the code that uses it is the same for every count. A call
    running on one of the threads may submit more work.
    """

    def __init__(self, count: int) -> None:
        self.count = check_threads(count)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[Any]] = []
        self._lock = threading.Lock()  # submit is called from the pool's threads too

    def __enter__(self) -> Workers:
        if self.count > 1:
            self._pool = ThreadPoolExecutor(self.count, thread_name_prefix="avsep-bss")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on a thread (or now, in the caller, with one thread)."""
        if self._pool is not None:
            future = self._pool.submit(fn, *args)
            with self._lock:
                self._pending = [f for f in self._pending if not f.done()] + [future]
            return future
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as error:  # re-raised by .result(), as a pool would
            done.set_exception(error)
        return done

    def map(self, fn: Callable[[T], Any], items: Iterable[T]) -> list[Any]:
        """``[fn(item) for item in items]`` spread over the threads, results in order."""
        return [future.result() for future in [self.submit(fn, item) for item in items]]

    def drain(self) -> None:
        """Wait until every submitted call has finished (their results stay in the futures)."""
        with self._lock:
            pending, self._pending = self._pending, []
        wait(pending)

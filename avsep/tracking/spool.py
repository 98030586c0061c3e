"""When the tracking server is away: a local spool per MLflow run, replayed in order.

A search logs through an MLflow server every epoch; the server may restart under it (an
upgrade, a crash, a pod move). Nothing is lost and no trial stops for it:

* :class:`Spool` is one run's append-only log on disk. ``ops.jsonl`` holds one numbered JSON
  operation per line (params, metrics with their own timestamps and steps, tags, a dict, an
  artifact folder, the final status); ``files/<n>/`` holds a copy of the folder operation ``n``
  uploads (the caller may delete its own at once); ``delivered`` holds the number of the last
  operation the server accepted, replaced atomically. :func:`deliver` replays what is pending,
  oldest first, and stops at the first failure, so the server sees the run's records in the
  order they were made, each once (a record whose reply was lost is sent again; MLflow's
  stores accept an identical metric twice as one).
* :class:`OutageClock` says how long the server has been away and when to try it next
  (exponential back-off from 1 s to 30 s). Past the limit (``--tracking-outage-limit``,
  :data:`DEFAULT_OUTAGE_LIMIT_S`) it raises :class:`TrackingOutageError`, whose message names
  the URI and the limit.
* :func:`patiently` runs one call against the server with the same clock (:class:`PatientClient`
  every call of a client): creating a run, the driver closing the trials' runs, and the
  champion registration and a resumed study (:func:`wait_for_server`) wait for the server
  this way.

Every call made here tries once (MLflow's own retries, ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``
with back-off up to about 4 minutes a request, are switched off inside :func:`fail_fast`): the
back-off and the limit are the clock's, and a trial keeps training between tries instead of
sleeping inside a request.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from avsep.tracking.store import (
    TrackingError,
    configure,
    environment_restored,
    is_local_store,
    is_tracking_server,
)

DEFAULT_OUTAGE_LIMIT_S = 600.0
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0

T = TypeVar("T")


class TrackingOutageError(TrackingError):
    """The tracking server stayed unreachable for longer than the outage limit."""


def is_outage(err: BaseException) -> bool:
    """True when ``err`` means the server is away (no connection, a timeout, a 5xx answer),
    False for an error the server gave about the request itself (a bad parameter, a missing
    run), which no retry would fix."""
    import requests
    from mlflow.exceptions import MlflowException

    if isinstance(err, requests.exceptions.HTTPError):
        return err.response is None or err.response.status_code >= 500
    if isinstance(err, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return True
    if isinstance(err, MlflowException):
        return err.get_http_status_code() >= 500
    return False


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """MLflow HTTP requests inside the block try once (``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0``):
    the caller's :class:`OutageClock` does the retrying."""
    name = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
    with environment_restored(name):
        os.environ[name] = "0"
        yield


class OutageClock:
    """The state of one client's connection to the server at ``uri``.

    ``failed(err)`` starts (or continues) an outage and schedules the next try after the
    current back-off, which then doubles up to :data:`MAX_DELAY_S`; ``ok()`` ends it. Once the
    outage has lasted longer than ``limit_s``, ``failed`` and ``check`` raise
    :class:`TrackingOutageError`. ``clock`` and ``sleep`` are the time functions (monotonic
    seconds)."""

    def __init__(self, uri: str, limit_s: float = DEFAULT_OUTAGE_LIMIT_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, where: str | None = None) -> None:
        if not limit_s > 0:
            raise ValueError(f"tracking outage limit {limit_s!r}: expected seconds > 0 "
                             "(--tracking-outage-limit)")
        self.uri, self.limit_s, self.where = uri, float(limit_s), where
        self._clock, self._sleep = clock, sleep
        self.since: float | None = None  # when the current outage began
        self.last_error: BaseException | None = None
        self.next_try = 0.0
        self.delay = FIRST_DELAY_S

    def ok(self) -> None:
        self.since, self.last_error, self.next_try, self.delay = None, None, 0.0, FIRST_DELAY_S

    def failed(self, err: BaseException) -> None:
        now = self._clock()
        if self.since is None:
            self.since = now
        self.last_error = err
        self.next_try = now + self.delay
        self.delay = min(self.delay * 2, MAX_DELAY_S)
        self.check()

    @property
    def away_s(self) -> float:
        """Seconds since the current outage began (0 when the server answers)."""
        return 0.0 if self.since is None else self._clock() - self.since

    def expired(self) -> bool:
        return self.since is not None and self.away_s > self.limit_s

    def check(self) -> None:
        if not self.expired():
            return
        spooled = f"; the records not yet delivered wait in {self.where} and are replayed " \
                  "when the run resumes (avsep tune ... --resume)" if self.where else ""
        raise TrackingOutageError(
            f"MLflow tracking server {self.uri} unreachable for {self.away_s:.0f} s, longer "
            f"than the outage limit of {self.limit_s:g} s (--tracking-outage-limit); last "
            f"error: {_short(self.last_error)}. Bring the server back (same backend store) "
            f"or raise the limit{spooled}")

    def due(self) -> bool:
        return self._clock() >= self.next_try

    def wait(self) -> None:
        """Sleep until the next try, or until just past the limit if that comes first."""
        now = self._clock()
        until = self.next_try
        if self.since is not None:
            until = min(until, self.since + self.limit_s + 1e-3)
        if until > now:
            self._sleep(until - now)


def _short(err: BaseException | None, size: int = 300) -> str:
    text = f"{type(err).__name__}: {err}" if err is not None else "none"
    return text if len(text) <= size else text[:size] + " ..."


def patiently(clock: OutageClock, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, tried again with ``clock``'s back-off while the server is
    away; raises :class:`TrackingOutageError` past the limit, and at once any error that is
    not an outage (:func:`is_outage`)."""
    while True:
        if not clock.due():
            clock.wait()
        try:
            with fail_fast():
                result = call(*args, **kwargs)
        except Exception as err:
            if not is_outage(err):
                raise
            clock.failed(err)
            continue
        clock.ok()
        return result


class PatientClient:
    """An ``MlflowClient`` whose every method is called :func:`patiently` with ``clock``."""

    def __init__(self, client: Any, clock: OutageClock) -> None:
        self._client, self._clock = client, clock

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        return lambda *args, **kwargs: patiently(self._clock, method, *args, **kwargs)


def patient_client(uri: str, clock: OutageClock) -> Any:
    """An ``MlflowClient`` of the tracking store at ``uri`` (MLflow configured for it); unless
    it is a local sqlite store, every call waits out an outage with ``clock``
    (:class:`PatientClient`, the rule :class:`avsep.tracking.store.RunLogger` follows)."""
    import mlflow

    configure(uri)
    client = mlflow.MlflowClient()
    return client if is_local_store(uri) else PatientClient(client, clock)


def wait_for_server(uri: str, limit_s: float = DEFAULT_OUTAGE_LIMIT_S,
                    clock: OutageClock | None = None) -> None:
    """Return once the server at ``uri`` answers ``/health`` (at once for a URI that is not an
    ``http(s)`` server); raises :class:`TrackingOutageError` after ``limit_s`` without it."""
    if not is_tracking_server(uri):
        return
    import requests

    def health() -> None:
        reply = requests.get(uri.rstrip("/") + "/health", timeout=10)
        reply.raise_for_status()

    patiently(clock or OutageClock(uri, limit_s), health)


class Spool:
    """One run's pending tracking records in ``folder`` (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._ops = self.folder / "ops.jsonl"
        self._cursor = self.folder / "delivered"
        self._repair()
        self._next = sum(1 for _ in self._read())

    def _repair(self) -> None:
        """Cut a last line that a crash left half-written, so appends stay one per line."""
        if not self._ops.exists():
            return
        data = self._ops.read_bytes()
        if data and not data.endswith(b"\n"):
            with self._ops.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def _read(self) -> Iterator[dict[str, Any]]:
        if not self._ops.exists():
            return
        with self._ops.open() as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def append(self, op: dict[str, Any], files: Path | None = None) -> int:
        """Add ``op`` (a JSON-able dict) after the others, with a copy of folder ``files``;
        returns its number. The record is on disk (fsync) when this returns."""
        seq = self._next
        if files is not None:
            target = self.folder / "files" / str(seq)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(files, target)
        with self._ops.open("a") as handle:
            handle.write(json.dumps({**op, "seq": seq}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._next += 1
        return seq

    @property
    def delivered(self) -> int:
        """The number of the last delivered operation (-1: none)."""
        try:
            return int(self._cursor.read_text())
        except (FileNotFoundError, ValueError):
            return -1

    def pending(self) -> list[tuple[dict[str, Any], Path | None]]:
        """The operations not delivered yet, oldest first, each with its files (or None)."""
        done = self.delivered
        out = []
        for op in self._read():
            if op["seq"] > done:
                files = self.folder / "files" / str(op["seq"])
                out.append((op, files if files.is_dir() else None))
        return out

    def mark_delivered(self, seq: int) -> None:
        staging = self._cursor.with_suffix(".tmp")
        staging.write_text(str(seq))
        os.replace(staging, self._cursor)
        shutil.rmtree(self.folder / "files" / str(seq), ignore_errors=True)

    def __len__(self) -> int:
        return len(self.pending())


def deliver(spool: Spool, apply: Callable[[dict[str, Any], Path | None], None],
            clock: OutageClock, block: bool) -> int:
    """Replay ``spool``'s pending operations in order through ``apply(op, files)``; returns how
    many are still pending.

    ``block=False`` (during training): one attempt when the clock says a try is due, else none;
    the caller goes on either way. ``block=True`` (the end of a run): back off and retry until
    all is delivered. Both raise :class:`TrackingOutageError` once the server has been away
    longer than the limit, and at once an error that is not an outage."""
    while True:
        todo = spool.pending()
        if not todo:
            return 0
        if not clock.due():
            if not block:
                clock.check()
                return len(todo)
            clock.wait()
        try:
            with fail_fast():
                for op, files in todo:
                    apply(op, files)
                    spool.mark_delivered(op["seq"])
        except Exception as err:
            if not is_outage(err):
                raise
            clock.failed(err)
            if not block:
                return len(spool.pending())
            continue
        clock.ok()
        return 0


def replay_folder(root: Path, apply_for: Callable[[str], Callable[[dict[str, Any], Path | None],
                                                                 None]],
                  clock: OutageClock) -> int:
    """Deliver every run's spool under ``root`` (one folder per run id), blocking; returns how
    many operations were replayed. The driver calls this at the end of a search for what a
    trial left behind (a trial stopped by ASHA or killed before its spool drained)."""
    replayed = 0
    if not root.is_dir():
        return 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        spool = Spool(folder)
        count = len(spool)
        if count:
            deliver(spool, apply_for(folder.name), clock, block=True)
            replayed += count
    return replayed

"""The tracking spool without a server: order, replay after a failure, resume from disk, the
outage limit's message, and the error classes that are (and are not) an outage.

A fake clock drives :class:`OutageClock` (its ``sleep`` advances the clock), so the back-off
and the limit are exercised in no wall time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from avsep.tracking.spool import (
    OutageClock,
    PatientClient,
    Spool,
    TrackingOutageError,
    deliver,
    is_outage,
    patiently,
    replay_folder,
)
from avsep.tracking.store import TrackingError

URI = "http://127.0.0.1:5999"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Server:
    """Records what it accepted; refuses with a connection error while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.received: list[tuple[int, list[str] | None]] = []

    def apply(self, op: dict, files: Path | None) -> None:
        if self.down:
            raise requests.exceptions.ConnectionError("[Errno 111] Connection refused")
        self.received.append((op["step"], sorted(p.name for p in files.iterdir())
                              if files else None))


def _clock(time: FakeTime, limit: float = 600.0, where: str | None = None) -> OutageClock:
    return OutageClock(URI, limit, clock=time.clock, sleep=time.sleep, where=where)


def test_records_are_delivered_in_order_after_the_server_comes_back(tmp_path):
    time, server = FakeTime(), Server()
    spool, clock = Spool(tmp_path / "run"), _clock(time)
    package = tmp_path / "package"
    package.mkdir()
    (package / "weights.pt").write_bytes(b"w" * 10)

    spool.append({"step": 1})
    assert deliver(spool, server.apply, clock, block=False) == 0
    server.down = True
    for step in (2, 3):
        spool.append({"step": step}, files=package if step == 3 else None)
        time.now += 5  # an epoch of training between the records
        deliver(spool, server.apply, clock, block=False)
    (package / "weights.pt").unlink()  # the caller deletes its folder at once: the copy stays
    assert len(spool) == 2 and clock.away_s == 5.0
    assert clock.delay == 4.0  # back-off doubled after each failed try: 1, 2, then 4 s
    server.down = False
    spool.append({"step": 4})
    time.now += 10
    assert deliver(spool, server.apply, clock, block=False) == 0
    assert server.received == [(1, None), (2, None), (3, ["weights.pt"]), (4, None)]
    assert clock.since is None and clock.delay == 1.0  # the outage is over
    assert not (tmp_path / "run" / "files" / "3").exists()  # delivered copies are removed


def test_a_failure_mid_replay_keeps_the_rest_in_order_and_a_new_spool_resumes(tmp_path):
    time, server = FakeTime(), Server()
    spool, clock = Spool(tmp_path / "run"), _clock(time)
    for step in range(1, 6):
        spool.append({"step": step})
    calls = {"n": 0}

    def flaky(op: dict, files: Path | None) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the server drops in the middle of the replay
            raise MlflowException("API request to /api/2.0/mlflow/runs/log-batch failed with "
                                  "exception HTTPConnectionPool: Max retries exceeded")
        server.apply(op, files)

    assert deliver(spool, flaky, clock, block=False) == 3
    assert [s for s, _ in server.received] == [1, 2]
    # the process dies here; a trial restored elsewhere opens the same folder and replays
    again = Spool(tmp_path / "run")
    assert [op["step"] for op, _ in again.pending()] == [3, 4, 5]
    with (tmp_path / "run" / "ops.jsonl").open("a") as handle:
        handle.write('{"step": 6, "se')  # a write cut short by the crash is dropped
    again = Spool(tmp_path / "run")
    assert again.append({"step": 7}) == 5
    assert deliver(again, server.apply, _clock(time), block=True) == 0
    assert [s for s, _ in server.received] == [1, 2, 3, 4, 5, 7]


def test_blocking_delivery_waits_with_back_off_then_names_the_uri_and_the_limit(tmp_path):
    time, server = FakeTime(), Server()
    spool = Spool(tmp_path / "run")
    clock = _clock(time, limit=60, where=str(tmp_path / "run"))
    spool.append({"step": 1})
    server.down = True
    with pytest.raises(TrackingOutageError) as caught:
        deliver(spool, server.apply, clock, block=True)
    message = str(caught.value)
    assert URI in message and "outage limit of 60 s" in message
    assert "--tracking-outage-limit" in message and "Connection refused" in message
    assert str(tmp_path / "run") in message and "--resume" in message
    assert 60 < time.now < 61  # gave up just past the limit, not a whole back-off later
    assert isinstance(caught.value, TrackingError)  # the CLI prints it as one line
    assert len(spool) == 1  # nothing lost: still spooled
    server.down = False
    assert deliver(spool, server.apply, _clock(time), block=True) == 0
    assert server.received == [(1, None)]


def test_non_blocking_delivery_raises_once_the_outage_outlasts_the_limit(tmp_path):
    time, server = FakeTime(), Server()
    spool, clock = Spool(tmp_path / "run"), _clock(time, limit=30)
    server.down = True
    spool.append({"step": 1})
    deliver(spool, server.apply, clock, block=False)
    time.now += 20
    deliver(spool, server.apply, clock, block=False)  # 20 s away: the trial goes on
    time.now += 11
    with pytest.raises(TrackingOutageError, match="unreachable for 31 s"):
        deliver(spool, server.apply, clock, block=False)


def test_patiently_retries_outages_only():
    time = FakeTime()
    answers = [requests.exceptions.ConnectionError("refused"), MlflowException("down"), "ok"]

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert patiently(_clock(time), call) == "ok" and time.now == 3.0  # 1 s, then 2 s back-off

    def bad_request() -> None:
        raise MlflowException("bad param", error_code=INVALID_PARAMETER_VALUE)

    with pytest.raises(MlflowException, match="bad param"):
        patiently(_clock(time), bad_request)  # a client error is raised at once


def test_a_patient_client_retries_each_call():
    time = FakeTime()

    class Client:
        calls = 0

        def set_tag(self, run_id: str, key: str, value: str) -> str:
            self.calls += 1
            if self.calls < 3:
                raise requests.exceptions.ConnectionError("refused")
            return f"{run_id}:{key}={value}"

    client = PatientClient(Client(), _clock(time))
    assert client.set_tag("r1", "stopped_by", "asha") == "r1:stopped_by=asha"
    assert time.now == 3.0  # waited 1 s, then 2 s


def test_what_counts_as_an_outage():
    response = requests.Response()
    response.status_code = 503
    assert is_outage(requests.exceptions.HTTPError("503", response=response))
    response.status_code = 404
    assert not is_outage(requests.exceptions.HTTPError("404", response=response))
    assert is_outage(requests.exceptions.ReadTimeout("slow"))
    assert is_outage(MlflowException("API request failed"))  # INTERNAL_ERROR: 500
    assert not is_outage(MlflowException("no", error_code=INVALID_PARAMETER_VALUE))
    assert not is_outage(ValueError("a bug"))


def test_waiting_for_an_absent_server_ends_at_the_limit_with_its_uri():
    import socket

    from avsep.tracking.spool import wait_for_server

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(TrackingOutageError, match=rf"{uri} unreachable for \d+ s, longer than "
                                                  r"the outage limit of 1\.5 s"):
        wait_for_server(uri, limit_s=1.5)
    wait_for_server("sqlite:////tmp/x.db", limit_s=1.5)  # no server to wait for


def test_the_limit_must_be_positive():
    with pytest.raises(ValueError, match="--tracking-outage-limit"):
        OutageClock(URI, 0)


def test_replay_folder_delivers_every_run_left_behind(tmp_path):
    time = FakeTime()
    got: dict[str, list[int]] = {}
    for run, steps in (("run-a", [1, 2]), ("run-b", [1])):
        spool = Spool(tmp_path / "spool" / run)
        for step in steps:
            spool.append({"step": step})
    Spool(tmp_path / "spool" / "run-c")  # an empty, fully delivered spool

    def apply_for(run_id: str):
        return lambda op, files: got.setdefault(run_id, []).append(op["step"])

    assert replay_folder(tmp_path / "spool", apply_for, _clock(time)) == 3
    assert got == {"run-a": [1, 2], "run-b": [1]}
    assert replay_folder(tmp_path / "spool", apply_for, _clock(time)) == 0
    assert replay_folder(tmp_path / "nothing", apply_for, _clock(time)) == 0


def test_run_logger_spools_everything_while_the_server_is_away(tmp_path):
    import json
    import socket

    from avsep.tracking.store import RunLogger

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
    package = tmp_path / "package"
    package.mkdir()
    (package / "config.json").write_text("{}")
    logger = RunLogger(uri, "exp", "run", {}, run_id="abc123", spool_root=tmp_path / "spool",
                       outage_limit_s=1.5)
    logger.log_params({"lr": 0.001})
    logger.log_metrics({"val/sdr@w1": 2.5, "epoch": 1, "early_stopped": False}, step=1)
    logger.log_artifacts(package, "model")
    logger.set_tags({"champion": "no"})
    with pytest.raises(TrackingOutageError, match=uri):
        logger.finish()  # waits for delivery up to the limit, then names the server
    lines = [json.loads(x) for x in (tmp_path / "spool" / "abc123" / "ops.jsonl").read_text()
             .splitlines()]
    assert [x["op"] for x in lines] == ["params", "metrics", "artifacts", "tags", "terminate"]
    assert lines[0]["params"] == {"lr": "0.001"}
    assert [m[:2] + m[3:] for m in lines[1]["metrics"]] == [["val/sdr_w1", 2.5, 1],
                                                          ["epoch", 1.0, 1]]
    assert (tmp_path / "spool" / "abc123" / "files" / "2" / "config.json").exists()
    assert len(logger.spool) == 5

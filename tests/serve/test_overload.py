"""Overload is answered, not absorbed (issue #21 item 5): a real one-replica Serve app with small
limits (1 ongoing, 2 queued) under a burst of 3x its queue limit answers only 200 and 503, every
503 with ``Retry-After``, and stays healthy. The model is the untrained tiny label-conditioned
U-Net of conftest.py: the test is about the queue, not about separation quality."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

from tests.serve.conftest import LIMITS, _free_port
from tests.serve.test_upload import wav_bytes

pytestmark = pytest.mark.slow  # a Ray and a Serve app of its own: about a minute on 2 cores

OVERLOAD = {"max_ongoing_requests": 1, "max_queued_requests": 2, "retry_after_s": 2.5}
RATE = 11025  # the tiny U-Net's own rate: no resampling work in the way
SECONDS = 8.0


def _rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux: ``VmRSS`` of /proc/PID/status)."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _proxy_pid() -> int:
    """The pid of this Ray's HTTP proxy (one node: one proxy), asked of the actor itself."""
    import os

    import ray

    names = [actor for actor in ray.util.list_named_actors(all_namespaces=True)
             if actor["name"].startswith("SERVE_PROXY_ACTOR")]
    proxy = ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])
    return ray.get(proxy.__ray_call__.remote(lambda _: os.getpid()))


@pytest.fixture(scope="module")
def small_server(cunet_package):
    """Base URL and pids (replica, proxy) of a one-replica Serve app with the OVERLOAD limits."""
    import ray
    from ray import serve

    from avsep.serve.launch import app_args, start_local

    port = _free_port()
    args = app_args(str(cunet_package), None, "1", 0.0, {**LIMITS, **OVERLOAD}, True, 16)
    start_local({**args, "calibrate_batch": False}, "127.0.0.1", port, num_cpus=2)
    url = f"http://127.0.0.1:{port}"
    info = httpx.get(f"{url}/info", timeout=60).json()
    yield url, info, {"replica": info["runtime"]["pid"], "proxy": _proxy_pid()}
    serve.shutdown()
    ray.shutdown()


def _upload(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return wav_bytes((0.1 * rng.standard_normal((1, int(RATE * SECONDS)))).astype(np.float32),
                     RATE, "FLOAT")


async def _burst(url: str, uploads: list[bytes]) -> list[httpx.Response]:
    """All ``uploads`` at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(uploads), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        return await asyncio.gather(*(
            client.post(f"{url}/separate", files={"audio": ("a.wav", data)},
                        data={"labels": "violin"}) for data in uploads))


def test_info_shows_the_overload_limits(small_server):
    _, info, _ = small_server
    assert {name: info["limits"][name] for name in OVERLOAD} == OVERLOAD
    assert info["limits"]["max_upload_bytes"] == LIMITS["max_upload_bytes"]


def test_three_times_the_queue_limit_gets_200_or_503_with_retry_after(small_server):
    url, _, pids = small_server
    # 3x what the deployment holds (1 ongoing + 2 queued): at least 3x its queue limit
    burst = 3 * (OVERLOAD["max_ongoing_requests"] + OVERLOAD["max_queued_requests"])
    before = {name: _rss_mb(pid) for name, pid in pids.items()}
    responses = asyncio.run(_burst(url, [_upload(seed) for seed in range(burst)]))
    after = {name: _rss_mb(pid) for name, pid in pids.items()}
    print(f"burst of {burst}: statuses {sorted(r.status_code for r in responses)}; RSS MB "
          f"before {before}, after {after}")

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, [(r.status_code, r.text[:200]) for r in responses]
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "3"  # 2.5 s rounded up
        else:
            assert response.headers["content-type"] == "application/zip"

    # the replica and the proxy are the same processes, and both answer as before
    assert httpx.get(f"{url}/healthz", timeout=60).json() == {"status": "ok"}
    info = httpx.get(f"{url}/info", timeout=60).json()
    assert info["runtime"]["pid"] == pids["replica"]
    again = asyncio.run(_burst(url, [_upload(100)]))[0]
    assert again.status_code == 200, again.text


def test_an_upload_beyond_the_request_limit_is_refused_by_the_proxy_unread(small_server):
    """Headers only, no body: the proxy's guard answers 413 before reading any of it (the
    replica's own check says "the upload limit is"; the proxy's names what it reads)."""
    url, _, _ = small_server
    declared = 2 * LIMITS["max_upload_bytes"] + 1
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(b"POST /separate HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: multipart/form-data; boundary=x\r\n"
                     b"Content-Length: %d\r\n\r\n" % declared)
        reply = b""
        while b"}" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"413", reply
    message = json.loads(body)["error"]
    assert f"the request is {declared} bytes" in message and "the most this server reads is " \
        f"{2 * LIMITS['max_upload_bytes']} bytes" in message

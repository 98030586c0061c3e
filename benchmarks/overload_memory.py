"""Memory of `avsep serve` under a burst of uploads: the overload limits against the old setting.

One real Ray Serve app on 127.0.0.1 (one replica, an untrained tiny MMDenseNet: the model's
cost is not the point) takes the same burst twice: ``--uploads`` concurrent uploads of
``--upload-mb`` MB each (stereo float WAV at 96 kHz, so the bytes are large and the audio short),
first under small limits (``--ongoing``, ``--queued``: answered 503 beyond them), then under the
setting before issue #21 (64 ongoing per replica, a queue without bound). While each burst runs,
the resident memory (RSS) of the replica and of the HTTP proxy is sampled every 50 ms; printed
and saved: the answers' status codes, each process's RSS before the burst and its peak, and the
load average.

    .venv/bin/python benchmarks/overload_memory.py [--uploads 24] [--upload-mb 4]

The bounded run comes first: the proxy is the same process in both runs and Python rarely
gives memory back, so the second run's peak is read against its own start.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
from _common import save

RATE = 96_000
OLD = {"max_ongoing_requests": 64, "max_queued_requests": 1_000_000}  # before issue #21


def upload(megabytes: float, seed: int) -> bytes:
    """A stereo float32 WAV of about ``megabytes`` MB."""
    frames = int(megabytes * 1e6 / 8)
    noise = 0.1 * np.random.default_rng(seed).standard_normal((frames, 2)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, noise, RATE, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux: ``VmRSS`` of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def proxy_pid() -> int:
    """The pid of this Ray's HTTP proxy, asked of the actor itself."""
    import ray

    names = [a for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("SERVE_PROXY_ACTOR")]
    proxy = ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])
    return ray.get(proxy.__ray_call__.remote(lambda _: os.getpid()))


class Peaks(threading.Thread):
    """Samples the RSS (MB) of ``pids`` every 50 ms until stopped; keeps each one's peak."""

    def __init__(self, pids: dict[str, int]):
        super().__init__(daemon=True)
        self.pids = pids
        self.start_mb = self.sample()
        self.peak_mb = dict(self.start_mb)
        self.done = threading.Event()

    def sample(self) -> dict[str, float]:
        return {name: rss_mb(pid) for name, pid in self.pids.items()}

    def run(self) -> None:
        while not self.done.wait(0.05):
            for name, mb in self.sample().items():
                self.peak_mb[name] = max(self.peak_mb[name], mb)


async def burst(url: str, uploads: list[bytes]) -> list[int]:
    limits = httpx.Limits(max_connections=len(uploads), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=1200, limits=limits) as client:
        answers = await asyncio.gather(*(client.post(f"{url}/separate",
                                                     files={"audio": ("a.wav", data)})
                                         for data in uploads))
    return [a.status_code for a in answers]


def measure(url: str, uploads: list[bytes], proxy: int) -> dict:
    info = httpx.get(f"{url}/info", timeout=120).json()
    peaks = Peaks({"replica": info["runtime"]["pid"], "proxy": proxy})
    load_before = os.getloadavg()[0]
    peaks.start()
    began = time.perf_counter()
    statuses = asyncio.run(burst(url, uploads))
    seconds = time.perf_counter() - began
    peaks.done.set()
    peaks.join()
    return {"limits": {k: info["limits"][k] for k in OLD}, "statuses": {
        str(code): statuses.count(code) for code in sorted(set(statuses))},
        "rss_mb_before": peaks.start_mb, "rss_mb_peak": peaks.peak_mb,
        "rss_mb_growth": {k: peaks.peak_mb[k] - peaks.start_mb[k] for k in peaks.start_mb},
        "burst_s": seconds, "load_before": load_before, "load_after": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=24)
    parser.add_argument("--upload-mb", type=float, default=4.0)
    parser.add_argument("--ongoing", type=int, default=1)
    parser.add_argument("--queued", type=int, default=2)
    args = parser.parse_args()

    import ray
    from ray import serve

    from avsep.models import build
    from avsep.models.package import save_model_package
    from avsep.serve.app import build_app
    from avsep.serve.launch import APP_NAME, app_args, start_local

    config = {"name": "mmdensenet", "preset": "tiny"}
    package = save_model_package(build(config), config, Path(tempfile.mkdtemp()) / "pkg")
    uploads = [upload(args.upload_mb, seed) for seed in range(args.uploads)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def app(limits: dict) -> dict:
        return {**app_args(str(package), None, "1", 0.0, limits, True, 8, 1.0),
                "calibrate_batch": False}

    bounded = {"max_ongoing_requests": args.ongoing, "max_queued_requests": args.queued}
    start_local(app(bounded), "127.0.0.1", port, num_cpus=2)
    proxy = proxy_pid()
    figures = {"uploads": args.uploads, "upload_mb": len(uploads[0]) / 1e6}
    figures["bounded"] = measure(url, uploads, proxy)
    print("bounded:", figures["bounded"], flush=True)
    serve.run(build_app(app(OLD)), name=APP_NAME, route_prefix="/")
    figures["old"] = measure(url, uploads, proxy)
    print("old (64 ongoing, unbounded queue):", figures["old"], flush=True)
    serve.shutdown()
    ray.shutdown()
    save("overload_memory", figures)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()

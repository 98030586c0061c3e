"""Load test of `avsep serve` on this machine: real-time factor, latency and throughput.

Starts a real Ray Serve application on 127.0.0.1 (batching on, then off), sends WAV uploads
from 1, 4 and 16 concurrent clients, and reports the real-time factor of one request
(processing time / audio duration), p50/p99 latency and requests per second.

    .venv/bin/python benchmarks/serve_load.py [--model URI] [--seconds 10] [--requests 32]

Without --model it serves a freshly initialised model of the zoo (``--zoo-model``, default
``mmdensenet`` at paper size): the weights do not change the cost of a forward pass.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
from _common import save


def make_upload(seconds: float, rate: int) -> bytes:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    audio = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    buffer = io.BytesIO()
    sf.write(buffer, audio.astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


def package_fresh_model(name: str, preset: str) -> str:
    from avsep.models import build
    from avsep.models.package import save_model_package

    config = {"name": name, "preset": preset}
    folder = Path(tempfile.mkdtemp(prefix="avsep-bench-model-"))
    save_model_package(build(config), config, folder)
    return str(folder)


async def one_request(client: httpx.AsyncClient, url: str, data: bytes) -> float:
    start = time.perf_counter()
    response = await client.post(url, files={"audio": ("clip.wav", data, "audio/wav")})
    response.raise_for_status()
    return time.perf_counter() - start


async def load(url: str, data: bytes, clients: int, requests: int) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            queue.get_nowait()
            latencies.append(await one_request(client, url, data))

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"clients": clients, "requests": requests,
            "p50_s": statistics.median(ordered),
            "p99_s": ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))],
            "requests_per_s": requests / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model URI or package folder")
    parser.add_argument("--zoo-model", default="mmdensenet")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each upload")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    import ray
    from ray import serve

    from avsep.serve.launch import app_args, start_local

    model = args.model or package_fresh_model(args.zoo_model, args.preset)
    url = f"http://127.0.0.1:{args.port}/separate"
    label = args.model or f"{args.zoo_model}/{args.preset} (untrained)"
    figures: dict[str, object] = {"model": label, "upload_seconds": args.seconds}
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        for batching in (True, False):
            config = app_args(model, None, "1", 0.0, {}, batching, 16)
            start_local(config, "127.0.0.1", args.port)
            info = httpx.get(f"http://127.0.0.1:{args.port}/info", timeout=60).json()
            data = make_upload(args.seconds, info["sample_rate"])
            asyncio.run(load(url, data, 1, 2))  # warm-up
            single = asyncio.run(load(url, data, 1, 3))
            key = "batching_on" if batching else "batching_off"
            figures[key] = {"real_time_factor": single["p50_s"] / args.seconds,
                            "levels": [asyncio.run(load(url, data, c, args.requests))
                                       for c in (1, 4, 16)]}
            for level in figures[key]["levels"]:
                print(f"{key:13} clients={level['clients']:2d}  p50={level['p50_s']:.3f}s  "
                      f"p99={level['p99_s']:.3f}s  {level['requests_per_s']:.2f} req/s")
            print(f"{key:13} real-time factor of one request: "
                  f"{figures[key]['real_time_factor']:.3f}")
            serve.shutdown()
    finally:
        ray.shutdown()
    save("serve_load", figures)


if __name__ == "__main__":
    main()

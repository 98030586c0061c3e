"""Forward+backward throughput and peak memory of every registered model at paper size.

For each model × device (CPU, and CUDA when available) × precision (fp32, bf16 autocast):
one warm-up step, then ``--iters`` timed steps of ``loss.backward()`` on a random batch of
the model's paper spec (``avsep.models.base.example_batch``). Reports samples/s and peak
memory:

* CUDA: ``torch.cuda.max_memory_allocated`` (reset before the timed steps);
* CPU: peak resident set size minus the RSS after building the model and its batch, sampled
  every 2 ms from ``/proc/self/statm`` by a background thread (torch's CPU allocator is
  invisible to tracemalloc, so RSS is the honest measure; it includes allocator caching).
  Every cell runs in a fresh subprocess so memory freed by earlier models cannot hide the
  next one's peak.

Usage: ``python benchmarks/model_throughput.py [--models cunet mhunet] [--iters 3]
[--batch-size 1] [--devices cpu cuda] [--threads N] [--name model_throughput]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import save  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Context manager: peak RSS (bytes) above the level at entry, sampled in a thread."""

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def delta(self) -> int:
        return self.peak - self.base


def measure(name: str, device: str, precision: str, iters: int, batch_size: int
            ) -> dict[str, Any]:
    """One model/device/precision cell: samples/s, seconds per step, peak memory (MiB)."""
    import torch

    from avsep.models import build
    from avsep.models.base import example_batch

    model = build({"name": name, "preset": "paper"}).to(device).train()
    batch = example_batch(model, batch_size, device=device)
    autocast = (torch.autocast(device_type=device, dtype=torch.bfloat16)
                if precision == "bf16" else nullcontext())

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with autocast:
            out = model(batch)
            loss = model.loss(batch, out)
        loss.float().backward()

    cuda = device == "cuda"
    tracker = PeakRSS() if not cuda else nullcontext()  # baseline: model and batch built
    with tracker:
        step()  # warm-up
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(iters):
            step()
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if cuda else tracker.delta
    return {"samples_per_s": batch_size * iters / elapsed, "s_per_step": elapsed / iters,
            "peak_mib": peak / 2**20,
            "memory": "cuda max_memory_allocated" if cuda else "peak RSS delta",
            "parameters": sum(p.numel() for p in model.parameters())}


def _cell(name: str, device: str, precision: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one cell in a fresh interpreter and parse its JSON line."""
    cmd = [sys.executable, __file__, "--cell", name, device, precision, "--iters",
           str(args.iters), "--batch-size", str(args.batch_size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("CELL "):
            return json.loads(line[5:])
    return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"}


def main(argv: list[str] | None = None) -> int:
    import torch

    from avsep.models import available

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--devices", nargs="*", default=None)
    parser.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--name", default="model_throughput")
    parser.add_argument("--cell", nargs=3, metavar=("MODEL", "DEVICE", "PRECISION"),
                        help=argparse.SUPPRESS)  # internal: measure one cell, print JSON
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cell:
        try:
            row = measure(*args.cell, args.iters, args.batch_size)
        except Exception as err:  # noqa: BLE001 - reported to the parent, which goes on
            row = {"error": f"{type(err).__name__}: {err}"}
        print("CELL " + json.dumps(row))
        return 0
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    models = args.models or available()
    figures: dict[str, Any] = {"batch_size": args.batch_size, "iters": args.iters,
                               "results": {}}
    print(f"{'model':15s} {'device':6s} {'prec':5s} {'samples/s':>10s} {'s/step':>8s} "
          f"{'peak MiB':>9s}")
    for name in models:
        for device in devices:
            for precision in args.precisions:
                row = _cell(name, device, precision, args)
                if "error" in row:
                    print(f"{name:15s} {device:6s} {precision:5s} failed: {row['error']}")
                else:
                    print(f"{name:15s} {device:6s} {precision:5s} {row['samples_per_s']:10.3f} "
                          f"{row['s_per_step']:8.3f} {row['peak_mib']:9.1f}", flush=True)
                figures["results"].setdefault(name, {}).setdefault(device, {})[precision] = row
    save(args.name, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Multichannel Wiener EM on CPU: avsep's torch version against norbert 0.2.1.

Same random problem for both (complex128 mixture STFT, non-negative magnitudes, 4 sources,
4096-point STFT bins, ``--frames`` frames), mono and stereo, 1 EM iteration (open-unmix's
default) and 2. Each side runs ``--repeats`` times, interleaved, and the best wall time and
the best process CPU time are kept (the machine may be shared: the load average is saved
beside the figures; on a loaded machine the CPU-time ratio is the steadier one). Prints and
saves ``results/wiener_speed[_TAG].json`` with the speed ratio, the goal (stereo at least
as fast as norbert) met or not, and the largest relative difference to norbert.

    .venv/bin/python benchmarks/wiener_speed.py [--frames 300] [--threads 1] [--tag NAME]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

from avsep.audio import wiener  # noqa: E402


def main() -> int:
    import norbert

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--bins", type=int, default=2049)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: keep)")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    figures: dict[str, object] = {"frames": args.frames, "bins": args.bins,
                                  "sources": args.sources,
                                  "torch_threads": torch.get_num_threads(),
                                  "load_average_1min": os.getloadavg()[0], "cases": {}}
    for channels in (1, 2):
        shape = (args.frames, args.bins, channels)
        x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * 20
        v = np.abs(rng.standard_normal((*shape, args.sources))) * 10
        for iterations in (1, 2):
            best = {"norbert": float("inf"), "avsep": float("inf")}
            cpu = dict(best)
            for _ in range(args.repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                ref = norbert.wiener(v.copy(), x.copy(), iterations, use_softmask=False)
                best["norbert"] = min(best["norbert"], time.perf_counter() - start)
                cpu["norbert"] = min(cpu["norbert"], time.process_time() - start_cpu)
                start, start_cpu = time.perf_counter(), time.process_time()
                ours = wiener(torch.from_numpy(v), torch.from_numpy(x), iterations).numpy()
                best["avsep"] = min(best["avsep"], time.perf_counter() - start)
                cpu["avsep"] = min(cpu["avsep"], time.process_time() - start_cpu)
            error = float(np.abs(ours - ref).max() / np.abs(ref).max())
            ratio = best["norbert"] / best["avsep"]
            cpu_ratio = cpu["norbert"] / cpu["avsep"]
            name = f"{'stereo' if channels == 2 else 'mono'}_iter{iterations}"
            figures["cases"][name] = {"norbert_s": best["norbert"], "avsep_s": best["avsep"],
                                      "speedup": ratio, "norbert_cpu_s": cpu["norbert"],
                                      "avsep_cpu_s": cpu["avsep"], "speedup_cpu_time": cpu_ratio,
                                      "max_relative_difference": error}
            print(f"{name:13s} norbert {best['norbert']:.3f} s  avsep {best['avsep']:.3f} s  "
                  f"speed-up {ratio:.2f}x (CPU time {cpu_ratio:.2f}x)  "
                  f"max rel. diff {error:.1e}", flush=True)
    stereo = [c["speedup"] for k, c in figures["cases"].items() if k.startswith("stereo")]
    stereo_cpu = [c["speedup_cpu_time"] for k, c in figures["cases"].items()
                  if k.startswith("stereo")]
    figures["goal_stereo_at_least_norbert"] = {
        "speedups": stereo, "met": min(stereo) >= 1.0,
        "speedups_cpu_time": stereo_cpu, "met_cpu_time": min(stereo_cpu) >= 1.0}
    print(f"goal stereo >= norbert: {'met' if min(stereo) >= 1.0 else 'NOT met'} ({stereo}); "
          f"CPU time: {'met' if min(stereo_cpu) >= 1.0 else 'NOT met'} ({stereo_cpu})")
    save("wiener_speed" + (f"_{args.tag}" if args.tag else ""), figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

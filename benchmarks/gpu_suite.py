"""Every GPU figure of issue #13 in one run, saved as one JSON (``results/gpu_suite.json``).

Steps, each a subprocess with its own time limit so that one failure or overrun costs only
its own figure (the whole suite is sized for <= 8 minutes on one GPU):

1. ``model_throughput``: training steps/s of every zoo model at paper size, fp32 vs bf16
   autocast, on CUDA (``benchmarks/model_throughput.py --devices cuda``);
2. ``loader``: the DataLoader throughput of the singing AV loader at paper settings
   (``benchmarks/loader_throughput.py``), next to the GPU step rate of the model it feeds;
3. ``bss_eval``: BSS Eval v4 on the GPU against museval at 8 s and 30 s
   (``benchmarks/bss_eval_speed.py --device cuda``);
4. ``serve_engine``: the serving engine's real-time factor on the GPU (``Separator`` on
   ``cuda``, fp32 and bf16, the engine-only path of ``benchmarks/serve_load.py``).

Nothing is downloaded: models have random weights, audio and caches are synthetic. On a
machine without CUDA, :func:`main` prints :data:`NO_CUDA` and returns 0 without running.

    .venv/bin/python benchmarks/gpu_suite.py [--budget-s 480]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import RESULTS, save  # noqa: E402

NO_CUDA = ("gpu_suite: no CUDA device (torch.cuda.is_available() is False); nothing was "
           "measured. Run `bash benchmarks/gpu_suite.sh` on a machine with an NVIDIA GPU.")
SERVE_MODELS = ("mmdensenet", "cunet", "ynet")


def _step(name: str, argv: list[str], limit_s: float, result_file: str) -> dict[str, Any]:
    """Run one benchmark script; return its saved figures or what went wrong."""
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]],
                              timeout=limit_s, capture_output=True, text=True, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"{name}: over its {limit_s:.0f} s limit"}
    print(done.stdout[-3000:], done.stderr[-2000:] if done.returncode else "", flush=True)
    out: dict[str, Any] = {"seconds": time.perf_counter() - start, "returncode": done.returncode}
    path = RESULTS / f"{result_file}.json"
    if done.returncode == 0 and path.exists():
        out.update(json.loads(path.read_text())["figures"])
    else:
        out["error"] = done.stderr[-2000:]
    return out


def serve_engine_on_gpu(seconds: float = 5.0, rounds: int = 3) -> dict[str, Any]:
    """Real-time factor of ``Separator.separate`` on CUDA for the served zoo models."""
    import serve_load

    from avsep.serve.engine import Request, Separator
    from avsep.serve.upload import decode_video

    audio = serve_load.make_audio(seconds)
    figures: dict[str, Any] = {"upload_seconds": seconds}
    for name in SERVE_MODELS:
        _, model = serve_load.package_fresh_model(name, "paper")
        spec = model.spec
        videos = []
        if "video" in model.inputs:
            video = serve_load.mp4_bytes(seconds, spec.fps, tuple(spec.crop))
            videos = [decode_video(video, spec.fps, tuple(spec.crop))]
        request = Request(audio=audio, rate=serve_load.UPLOAD_RATE, videos=videos)
        for precision in ("fp32", "bf16"):
            separator = Separator(model, device="cuda", precision=precision, backend="torch")
            separator.separate(request)  # warm-up: CUDA context, kernels, cuFFT plans
            wall = serve_load.timed(lambda s=separator, r=request: s.separate(r), rounds)
            factor = wall / seconds
            figures[f"{name}_{precision}_real_time_factor"] = factor
            print(f"serve engine {name} {precision} on cuda: real-time factor {factor:.4f}",
                  flush=True)
    return figures


def _loader_next_to_gpu(loader: dict[str, Any], models: dict[str, Any]) -> dict[str, Any]:
    """Singing loader samples/s beside the GPU samples/s of the AV singing model."""
    rows = loader.get("results", {}).get("singing", {}).get("workers", {})
    gpu = models.get("results", {}).get("av_mmdensenet", {}).get("cuda", {})
    out: dict[str, Any] = {"loader_samples_per_s_by_workers": {
        k: v["samples_per_s"] for k, v in rows.items()}}
    for precision, row in gpu.items():
        if "samples_per_s" in row:
            out[f"av_mmdensenet_gpu_{precision}_samples_per_s"] = row["samples_per_s"]
            out[f"av_mmdensenet_gpu_{precision}_s_per_step"] = row.get("s_per_step")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=480.0, help="whole-suite limit")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    budget = args.budget_s
    figures: dict[str, Any] = {"gpu": torch.cuda.get_device_name(0)}
    figures["model_throughput"] = _step(
        "model_throughput", ["model_throughput.py", "--devices", "cuda", "--iters", "5",
                             "--name", "gpu_model_throughput"], 0.35 * budget,
        "gpu_model_throughput")
    figures["loader"] = _step("loader", ["loader_throughput.py", "--kinds", "singing",
                                         "--workers", "0", "1", "2", "4", "--seconds", "3"],
                              0.15 * budget, "loader_throughput")
    figures["loader_vs_gpu_step"] = _loader_next_to_gpu(figures["loader"],
                                                        figures["model_throughput"])
    for seconds, share in ((8, 0.1), (30, 0.25)):
        figures[f"bss_eval_{seconds}s"] = _step(
            "bss_eval", ["bss_eval_speed.py", "--seconds", str(seconds), "--device", "cuda",
                         "--repeats", "2", "--tag", f"gpu_{seconds}s"], share * budget,
            f"bss_eval_speed_gpu_{seconds}s")
    try:
        figures["serve_engine"] = serve_engine_on_gpu()
    except Exception as err:  # noqa: BLE001 - the other figures are still saved
        figures["serve_engine"] = {"error": f"{type(err).__name__}: {err}"}
    save("gpu_suite", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

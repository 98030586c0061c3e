"""OpenVINO measured in a process of its own, for ``tests/serve``: the test processes never
import OpenVINO, since two full test runs each lost a worker to SIGSEGV in a later test that
started Ray in the process where OpenVINO had run (docs/serve.md).

    python tests/serve/openvino_probe.py engine
        every model of ``test_engine.MODELS``: OpenVINO fp32 against torch on the same batches,
        OpenVINO bf16 and torch bf16 against fp32 (relative errors), compiled blocks, and the
        network calls seen by an audit hook from before ``import openvino`` to exit
    python tests/serve/openvino_probe.py champion TRACKING_URI MODEL_URI SONG...
        vocals SI-SDR of each song's mixture with torch bf16 and OpenVINO bf16

Prints one JSON object (the last line of stdout; at exit, after any thread OpenVINO started).
"""

from __future__ import annotations

import atexit
import json
import sys

NETWORK_EVENTS = ("socket.connect", "socket.getaddrinfo")
seen: list[str] = []
sys.addaudithook(lambda event, args: seen.append(event) if event in NETWORK_EVENTS else None)


def engine() -> dict:
    import copy

    import torch

    from avsep.models import build
    from avsep.serve.engine import Separator
    from tests.serve.test_engine import MODELS, _request, in_batches, relative_error

    out = {}
    for key, config in MODELS.items():
        torch.manual_seed(0)
        model = build(config).eval()
        reference = Separator(copy.deepcopy(model))
        items = reference.make_jobs(_request(model)).items
        plain = torch.stack(reference.run(items))
        same_batches = in_batches(reference, items)
        fast = Separator(copy.deepcopy(model), backend="openvino")
        outputs = in_batches(fast, items)
        half = torch.stack(Separator(copy.deepcopy(model), precision="bf16").run(items))
        fast_half = torch.stack(Separator(copy.deepcopy(model), precision="bf16",
                                          backend="openvino").run(items))
        out[key] = {"compiled_blocks": fast.compiled_blocks, "backend": fast.backend,
                    "fp32_max_difference": (outputs - same_batches).abs().max().item(),
                    "scale": plain.abs().max().item(),
                    "torch_bf16_error": relative_error(half, plain),
                    "openvino_bf16_error": relative_error(fast_half, plain)}
    out["ynet_mc3_trunk"] = mc3_trunk()
    return out


def mc3_trunk() -> dict:
    """Y-Net-mr's MC3-18 video trunk (paper size only; the tiny preset has a small 3-D
    front-end): blocks found in a paper-size Y-Net, and the trunk alone in OpenVINO against
    torch on a short clip of small frames, fp32 and bf16."""
    import copy

    import torch

    from avsep.models import build
    from avsep.models.ynet import MC3Frontend
    from avsep.serve.accelerate import compile_blocks
    from tests.serve.test_engine import relative_error

    counts = {backend: compile_blocks(build({"name": "ynet", "preset": "paper"}), backend, 2,
                                      "bf16") for backend in ("onnxruntime", "openvino")}
    torch.manual_seed(0)
    frontend = MC3Frontend().eval()
    frames = torch.rand(2, 3, 8, 32, 32)
    compiled = {precision: copy.deepcopy(frontend) for precision in ("fp32", "bf16")}
    for precision, copied in compiled.items():
        compile_blocks(copied, "openvino", 2, precision)
    with torch.inference_mode():
        plain = frontend.net(frames)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = frontend.net(frames).float()
        fp32, bf16 = (compiled[precision].net(frames) for precision in ("fp32", "bf16"))
    return {"compiled_blocks": counts, "scale": plain.abs().max().item(),
            "fp32_max_difference": (fp32 - plain).abs().max().item(),
            "torch_bf16_error": relative_error(half, plain),
            "openvino_bf16_error": relative_error(bf16, plain)}


def champion(tracking_uri: str, model_uri: str, songs: list[str]) -> dict:
    import soundfile as sf

    from avsep.metrics.sdr import si_sdr
    from avsep.serve.engine import Request, Separator

    runs = {backend: Separator.from_uri(model_uri, tracking_uri=tracking_uri, precision="bf16",
                                        backend=backend) for backend in ("torch", "openvino")}
    scores = {backend: [] for backend in runs}
    for song in songs:
        mixture, rate = sf.read(song, dtype="float32", always_2d=True)
        truth, _ = sf.read(song.replace("mixture.wav", "vocals.wav"), dtype="float32",
                           always_2d=True)
        for backend, separator in runs.items():
            vocals = separator.separate(Request(audio=mixture.T, rate=rate))["vocals"]
            scores[backend].append(float(si_sdr(truth.mean(1), vocals.mean(0)[:len(truth)])))
    return {"si_sdr": scores, "compiled_blocks": runs["openvino"].compiled_blocks}


if __name__ == "__main__":
    what, *args = sys.argv[1:]
    result = engine() if what == "engine" else champion(args[0], args[1], args[2:])
    atexit.register(lambda: print(json.dumps({**result, "network_calls": len(seen)})))

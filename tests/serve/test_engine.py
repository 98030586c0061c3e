"""The serving engine alone: ONNX Runtime and OpenVINO blocks and bf16 change no more than
rounding, for every separator a request can feed; OpenVINO is never imported where it would
report usage."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from avsep.models import build
from avsep.serve.accelerate import CompiledBlock
from avsep.serve.engine import Request, Separator, auto_backend

MODELS = {
    "mmdensenet": {"name": "mmdensenet", "preset": "tiny"},
    "av_mmdensenet": {"name": "av_mmdensenet", "preset": "tiny"},
    "cunet": {"name": "cunet", "preset": "tiny", "conditioning": "film_bottleneck",
              "context": "labels"},
    "ynet": {"name": "ynet", "preset": "tiny"},
}
COMPILED_BLOCKS = {  # MMDenseNet's bands; ONNX Runtime runs the audio-only ones
    "onnxruntime": {"mmdensenet": 2, "av_mmdensenet": 0, "cunet": 0, "ynet": 0},
    "openvino": {"mmdensenet": 2, "av_mmdensenet": 2, "cunet": 0, "ynet": 0},
}


def _request(model: torch.nn.Module, seconds: float = 3.0) -> Request:
    rng = np.random.default_rng(0)
    spec = model.spec
    rate = spec.stft.sample_rate
    audio = (0.1 * rng.standard_normal((spec.channels, int(seconds * rate)))).astype(np.float32)
    videos = []
    if "video" in model.inputs:
        frames = int(np.ceil(seconds * spec.fps)) + 1
        videos = [rng.integers(0, 256, (frames, *spec.crop, 3), dtype=np.uint8)]
    labels = ["violin", "flute"] if "labels" in model.inputs else None
    return Request(audio=audio, rate=rate, videos=videos, labels=labels)


@pytest.mark.parametrize("backend", list(COMPILED_BLOCKS))
@pytest.mark.parametrize("key", list(MODELS))
def test_compiled_blocks_and_bf16_match_the_torch_model(key, backend):
    torch.manual_seed(0)
    model = build(MODELS[key]).eval()
    reference = Separator(copy.deepcopy(model))
    jobs = reference.make_jobs(_request(model))
    assert len(jobs.items) >= 3
    plain = torch.stack(reference.run(jobs.items))  # (n, S, C, chunk)
    scale = plain.abs().max().item()
    # torch's own results move with the batch size (~1e-3 relative for MMDenseNet), so the
    # runtimes are compared with torch on the same batches
    same_batches = torch.stack(reference.run(jobs.items[:2]) + reference.run(jobs.items[2:3]) +
                               reference.run(jobs.items[3:], max_batch=3))

    fast = Separator(copy.deepcopy(model), backend=backend)  # fp32
    assert fast.compiled_blocks == COMPILED_BLOCKS[backend][key]
    assert sum(isinstance(m, CompiledBlock) for m in fast.model.modules()) \
        == COMPILED_BLOCKS[backend][key]
    # exported at the first call with a batch of 2, then run with batches of 1 and 3
    outputs = fast.run(jobs.items[:2]) + fast.run(jobs.items[2:3], max_batch=1) + \
        fast.run(jobs.items[3:], max_batch=3)
    assert (torch.stack(outputs) - same_batches).abs().max().item() <= 1e-5 * scale + 1e-7

    def relative(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a - b).pow(2).sum().sqrt() / b.pow(2).sum().sqrt()).item()

    half = torch.stack(Separator(copy.deepcopy(model), precision="bf16").run(jobs.items))
    assert relative(half, plain) < 0.1, f"bf16 relative error {relative(half, plain):.3f}"
    if backend == "openvino":  # its blocks in bf16 too: no further from fp32 than torch's
        compiled = Separator(copy.deepcopy(model), precision="bf16", backend=backend)
        fast_half = torch.stack(compiled.run(jobs.items))
        assert relative(fast_half, plain) < max(0.02, 2 * relative(half, plain))


def test_auto_backend_picks_the_runtime_of_the_precision_on_cpu_only():
    assert Separator(build(MODELS["mmdensenet"]), backend="auto").backend == "onnxruntime"
    assert Separator(build(MODELS["mmdensenet"])).compiled_blocks == 0  # the default: torch
    assert Separator(build(MODELS["mmdensenet"]), precision="bf16",
                     backend="auto").backend == "openvino"
    assert auto_backend(torch.device("meta"), "bf16") == "torch"  # not a CPU
    # a model without such blocks runs in torch, and says so
    cunet = Separator(build(MODELS["cunet"]), precision="bf16", backend="auto")
    assert (cunet.backend, cunet.compiled_blocks) == ("torch", 0)


def test_openvino_is_installed_without_its_telemetry_and_reports_nothing():
    """scripts/setup.sh installs openvino alone: with openvino-telemetry, ``import openvino``
    reports to Google Analytics. Nothing here opens a connection while OpenVINO converts and
    runs a block."""
    import importlib.util
    import subprocess
    import sys

    assert importlib.util.find_spec("openvino") is not None
    assert importlib.util.find_spec("openvino_telemetry") is None
    script = (  # counted at exit: a usage report goes out from a thread after the import
        "import atexit, sys\n"
        "seen = []\n"
        "sys.addaudithook(lambda e, a: seen.append(e) if e in ('socket.connect', "
        "'socket.getaddrinfo') else None)\n"
        "import torch\n"
        "from avsep.models import build\n"
        "from avsep.serve.engine import Separator\n"
        "s = Separator(build({'name': 'mmdensenet', 'preset': 'tiny'}), backend='openvino')\n"
        "s.run(s.make_jobs(__import__('tests.serve.test_engine', fromlist=['x'])._request("
        "s.model)).items[:1])\n"
        "atexit.register(lambda: print('compiled', s.compiled_blocks, 'network calls', "
        "len(seen)))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert "compiled 2 network calls 0" in done.stdout, done.stdout + done.stderr[-2000:]


def test_openvino_is_refused_while_its_telemetry_is_installed(tmp_path, monkeypatch):
    package = tmp_path / "openvino_telemetry"  # what `pip install openvino` would add
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert auto_backend(torch.device("cpu"), "bf16") == "torch"
    with pytest.raises(ImportError, match="pip uninstall -y openvino-telemetry"):
        Separator(build(MODELS["mmdensenet"]), precision="bf16", backend="openvino")


@pytest.mark.parametrize("options, message", [
    ({"precision": "fp8"}, "avsep serve --precision"),
    ({"backend": "tensorrt"}, "avsep serve --backend"),
])
def test_bad_engine_options_name_the_flag(options, message):
    with pytest.raises(ValueError, match=message):
        Separator(build(MODELS["mmdensenet"]), **options)

"""The serving engine alone: ONNX Runtime and OpenVINO blocks and bf16 change no more than
rounding, for every separator a request can feed; OpenVINO is never imported where it would
report usage. OpenVINO runs in a process of its own (``openvino_probe.py``): this one never
imports it (docs/serve.md: a process where it ran crashed when it later started Ray)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avsep.models import build
from avsep.serve.accelerate import CompiledBlock
from avsep.serve.engine import Request, Separator, auto_backend, serving_backend

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
ROOT = Path(__file__).resolve().parents[2]


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


def in_batches(separator: Separator, items: list) -> torch.Tensor:
    """``items`` run as a batch of 2, then 1, then the rest in batches of up to 3 (a compiled
    block converts at the first call, with a batch of 2): (n, S, C, chunk). torch's own
    results move with the batch size (~1e-3 relative for MMDenseNet), so the runtimes are
    compared with torch on these same batches."""
    return torch.stack(separator.run(items[:2]) + separator.run(items[2:3], max_batch=1) +
                       separator.run(items[3:], max_batch=3))


def relative_error(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """||estimate - reference|| / ||reference|| over every value."""
    return ((estimate - reference).pow(2).sum().sqrt() / reference.pow(2).sum().sqrt()).item()


@pytest.mark.parametrize("key", list(MODELS))
def test_onnxruntime_and_bf16_match_the_torch_model(key):
    torch.manual_seed(0)
    model = build(MODELS[key]).eval()
    reference = Separator(copy.deepcopy(model))
    jobs = reference.make_jobs(_request(model))
    assert len(jobs.items) >= 3
    plain = torch.stack(reference.run(jobs.items))  # (n, S, C, chunk)
    scale = plain.abs().max().item()
    same_batches = in_batches(reference, jobs.items)

    fast = Separator(copy.deepcopy(model), backend="onnxruntime")  # fp32
    assert fast.compiled_blocks == COMPILED_BLOCKS["onnxruntime"][key]
    assert sum(isinstance(m, CompiledBlock) for m in fast.model.modules()) \
        == COMPILED_BLOCKS["onnxruntime"][key]
    outputs = in_batches(fast, jobs.items)
    assert (outputs - same_batches).abs().max().item() <= 1e-5 * scale + 1e-7

    half = torch.stack(Separator(copy.deepcopy(model), precision="bf16").run(jobs.items))
    error = relative_error(half, plain)
    assert error < 0.1, f"bf16 relative error {error:.3f}"


def run_probe(*args: str) -> dict:
    """``tests/serve/openvino_probe.py ARGS`` in a process of its own -> its JSON."""
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "serve" / "openvino_probe.py"),
                           *args], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_auto_backend_is_onnxruntime_in_fp32_on_cpu_only():
    assert Separator(build(MODELS["mmdensenet"]), backend="auto").backend == "onnxruntime"
    assert Separator(build(MODELS["mmdensenet"])).compiled_blocks == 0  # the default: torch
    # OpenVINO only when asked for (docs/serve.md): bf16 runs in torch
    assert Separator(build(MODELS["mmdensenet"]), precision="bf16",
                     backend="auto").backend == "torch"
    assert auto_backend(torch.device("meta"), "fp32") == "torch"  # not a CPU
    # a model without such blocks runs in torch, and says so
    cunet = Separator(build(MODELS["cunet"]), backend="auto")
    assert (cunet.backend, cunet.compiled_blocks) == ("torch", 0)


@pytest.fixture
def planted_telemetry(tmp_path, monkeypatch) -> None:
    """An ``openvino_telemetry`` package on the path, as `pip install openvino` would add."""
    package = tmp_path / "openvino_telemetry"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_replica_resolves_auto_to_openvino_for_bf16_on_the_cpu():
    """``avsep serve``'s replicas (not ``separate``, not this process): OpenVINO for a bf16
    network on the CPU where it is installed without its telemetry; fp32 as ``auto``."""
    import importlib.util

    cpu = torch.device("cpu")
    installed = importlib.util.find_spec("openvino") is not None
    assert serving_backend(cpu, "bf16") == ("openvino" if installed else "torch")
    assert serving_backend(cpu, "fp32") == auto_backend(cpu, "fp32") == "onnxruntime"
    assert serving_backend(torch.device("meta"), "bf16") == "torch"  # not a CPU
    assert "openvino" not in sys.modules  # deciding did not import it


def test_a_replica_keeps_torch_while_openvino_would_report(planted_telemetry):
    assert serving_backend(torch.device("cpu"), "bf16") == "torch"
    assert "openvino" not in sys.modules


def test_openvino_blocks_match_torch_and_report_nothing():
    """In its own process: OpenVINO in fp32 equals torch on the same batches (1e-5 of full
    scale), in bf16 it is no further from fp32 than torch's bf16 autocast, for every model
    (both MMDenseNet bands compiled, AV ones too; cunet and the tiny Y-Net have none and say torch;
    the paper Y-Net's MC3-18 trunk is compiled and checked alone).
    scripts/setup.sh installs openvino without openvino-telemetry, with which ``import openvino``
    reports to Google Analytics: no connection is opened from the import to the exit."""
    import importlib.util

    assert importlib.util.find_spec("openvino") is not None
    assert importlib.util.find_spec("openvino_telemetry") is None
    probe = run_probe("engine")
    assert probe["network_calls"] == 0
    assert "openvino" not in sys.modules  # nothing here (auto, the CLI) imported it
    for key in MODELS:
        figures = probe[key]
        blocks = COMPILED_BLOCKS["openvino"][key]
        assert (figures["compiled_blocks"], figures["backend"]) \
            == (blocks, "openvino" if blocks else "torch"), (key, figures)
        assert figures["fp32_max_difference"] <= 1e-5 * figures["scale"] + 1e-7, (key, figures)
        assert figures["openvino_bf16_error"] < max(0.02, 2 * figures["torch_bf16_error"]), \
            (key, figures)
    trunk = probe["ynet_mc3_trunk"]  # Y-Net-mr's video trunk, OpenVINO only
    assert trunk["compiled_blocks"] == {"onnxruntime": 0, "openvino": 1}, trunk
    assert trunk["fp32_max_difference"] <= 1e-5 * trunk["scale"] + 1e-7, trunk
    assert trunk["openvino_bf16_error"] < max(0.02, 2 * trunk["torch_bf16_error"]), trunk


def test_openvino_is_refused_while_its_telemetry_is_installed(planted_telemetry):
    with pytest.raises(ImportError, match="pip uninstall -y openvino-telemetry"):
        Separator(build(MODELS["mmdensenet"]), precision="bf16", backend="openvino")


@pytest.mark.parametrize("options, message", [
    ({"precision": "fp8"}, "avsep serve --precision"),
    ({"backend": "tensorrt"}, "avsep serve --backend"),
])
def test_bad_engine_options_name_the_flag(options, message):
    with pytest.raises(ValueError, match=message):
        Separator(build(MODELS["mmdensenet"]), **options)

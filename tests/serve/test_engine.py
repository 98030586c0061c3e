"""The serving engine alone: ONNX Runtime blocks and bf16 autocast change no more than rounding,
for every separator a request can feed."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from avsep.models import build
from avsep.serve.accelerate import OrtBlock
from avsep.serve.engine import Request, Separator

MODELS = {
    "mmdensenet": {"name": "mmdensenet", "preset": "tiny"},
    "av_mmdensenet": {"name": "av_mmdensenet", "preset": "tiny"},
    "cunet": {"name": "cunet", "preset": "tiny", "conditioning": "film_bottleneck",
              "context": "labels"},
    "ynet": {"name": "ynet", "preset": "tiny"},
}
ONNX_BLOCKS = {"mmdensenet": 2, "av_mmdensenet": 0, "cunet": 0, "ynet": 0}  # MMDenseNet's bands


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


@pytest.mark.parametrize("key", list(MODELS))
def test_onnxruntime_and_bf16_match_the_torch_model(key):
    torch.manual_seed(0)
    model = build(MODELS[key]).eval()
    reference = Separator(copy.deepcopy(model))
    jobs = reference.make_jobs(_request(model))
    assert len(jobs.items) >= 3
    plain = torch.stack(reference.run(jobs.items))  # (n, S, C, chunk)
    scale = plain.abs().max().item()
    # torch's own results move with the batch size (~1e-3 relative for MMDenseNet), so ONNX
    # Runtime is compared with torch on the same batches
    same_batches = torch.stack(reference.run(jobs.items[:2]) + reference.run(jobs.items[2:3]) +
                               reference.run(jobs.items[3:], max_batch=3))

    fast = Separator(copy.deepcopy(model), backend="onnxruntime")
    assert fast.onnx_blocks == ONNX_BLOCKS[key]
    assert sum(isinstance(m, OrtBlock) for m in fast.model.modules()) == ONNX_BLOCKS[key]
    # exported at the first call with a batch of 2, then run with batches of 1 and 3
    outputs = fast.run(jobs.items[:2]) + fast.run(jobs.items[2:3], max_batch=1) + \
        fast.run(jobs.items[3:], max_batch=3)
    assert (torch.stack(outputs) - same_batches).abs().max().item() <= 1e-5 * scale + 1e-7

    half = torch.stack(Separator(copy.deepcopy(model), precision="bf16").run(jobs.items))
    error = (half - plain).pow(2).sum().sqrt() / plain.pow(2).sum().sqrt()
    assert error.item() < 0.1, f"bf16 relative error {error.item():.3f}"


def test_auto_backend_uses_onnxruntime_on_cpu_only_where_it_can():
    assert Separator(build(MODELS["mmdensenet"]), backend="auto").backend == "onnxruntime"
    assert Separator(build(MODELS["mmdensenet"])).onnx_blocks == 0  # the class default: torch


@pytest.mark.parametrize("options, message", [
    ({"precision": "fp8"}, "avsep serve --precision"),
    ({"backend": "tensorrt"}, "avsep serve --backend"),
])
def test_bad_engine_options_name_the_flag(options, message):
    with pytest.raises(ValueError, match=message):
        Separator(build(MODELS["mmdensenet"]), **options)

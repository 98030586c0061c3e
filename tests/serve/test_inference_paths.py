"""Serving's inference-only fast paths give the training path's numbers (issue #21 item 2).

A pre-activation ``ConvBlock`` without autograd applies its ReLU in place on the BatchNorm's
output (never on its input: a block without a BatchNorm keeps the plain path).
``DenseBlock`` without autograd and with one item writes every layer's maps into one buffer
instead of concatenating (``_forward_inference``); MMDenseNet's bands hand the dense blocks
their parts (skip + upsampled maps, bottleneck + visual features) to concatenate there. The
values must equal the ``torch.cat`` path's exactly, in fp32 and under bf16 autocast (the CPU
serving default), and whole uploads through the engine must give the same stems.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsep.models import build
from avsep.models.blocks.conv import ConvBlock
from avsep.models.blocks.dense import DenseBlock
from avsep.serve.engine import Request, Separator


def _cat_path(block: DenseBlock, *parts: torch.Tensor) -> torch.Tensor:
    """The training path: autograd on, so ``forward`` concatenates."""
    with torch.enable_grad():
        return block(*parts).detach()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("include_input", [True, False])
def test_dense_block_buffer_path_equals_cat_path(dtype, include_input):
    torch.manual_seed(0)
    block = DenseBlock(6, growth=4, num_layers=3, include_input=include_input).eval()
    for bn in (m for m in block.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)  # frozen statistics that are not the identity
        bn.running_var.uniform_(0.5, 2.0)
    parts = (torch.randn(1, 4, 9, 10).to(dtype), torch.randn(1, 2, 9, 10).to(dtype))
    autocast = dtype == torch.bfloat16  # bf16 maps come with bf16 autocast, as in serving
    with torch.autocast("cpu", torch.bfloat16, enabled=autocast):
        reference = _cat_path(block, *parts)
        with torch.inference_mode():
            fast = block(*parts)
            joined = block(torch.cat(parts, 1))
    assert fast.shape == (1, block.out_channels, 9, 10)
    assert fast.dtype == reference.dtype
    assert torch.equal(fast, reference) and torch.equal(joined, reference)
    batch = torch.randn(2, 6, 9, 10)  # batches keep the cat path: same numbers per item
    with torch.inference_mode():
        assert torch.equal(block(batch), _cat_path(block, batch))


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_preact_conv_block_inplace_relu_equals_plain_and_keeps_its_input(norm):
    torch.manual_seed(0)
    block = ConvBlock(3, 5, 3, preact=True, norm=norm, bias=False).eval()
    x = torch.randn(1, 3, 7, 8)
    kept = x.clone()
    with torch.enable_grad():
        reference = block(x).detach()
    with torch.inference_mode():
        fast = block(x)
    assert torch.equal(fast, reference)
    assert torch.equal(x, kept)  # the input is not touched (no ReLU in place on it)


def test_dense_block_promotes_like_cat():
    """A bf16 part next to an fp32 one gives an fp32 buffer, as ``torch.cat`` promotes."""
    block = DenseBlock(4, growth=2, num_layers=2).eval()
    parts = (torch.randn(1, 2, 5, 6).bfloat16().float(), torch.randn(1, 2, 5, 6).bfloat16())
    with torch.inference_mode():
        fast = block(*parts)
    assert fast.dtype == torch.float32
    assert torch.equal(fast, _cat_path(block, *parts))


@pytest.mark.parametrize("name", ["mmdensenet", "av_mmdensenet"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_mmdensenet_upload_stems_equal_the_cat_path(name, precision, monkeypatch):
    torch.manual_seed(0)
    model = build({"name": name, "preset": "tiny"})
    separator = Separator(model, precision=precision, backend="torch")
    rng = np.random.default_rng(1)
    rate = separator.rate
    videos = [rng.integers(0, 256, (2 * 25 + 2, 32, 32, 3), dtype=np.uint8)] \
        if separator.needs_video else []
    request = Request(audio=(0.3 * rng.standard_normal((2, 2 * rate))).astype(np.float32),
                      rate=rate, videos=videos)
    jobs = separator.make_jobs(request)
    used = []
    buffer_path = DenseBlock._forward_inference
    monkeypatch.setattr(DenseBlock, "_forward_inference",
                        lambda self, parts: used.append(1) or buffer_path(self, parts))
    # one item per call, as a replica whose calibrated cap is one chunk runs it
    fast = separator.assemble(separator.run(jobs.items, 0, max_batch=1), jobs)
    assert used  # the buffer path ran
    cat_forward = DenseBlock.forward

    def always_cat(self, x, *more):
        with torch.enable_grad():
            return cat_forward(self, x, *more)

    monkeypatch.setattr(DenseBlock, "forward", always_cat)
    used.clear()
    reference = separator.assemble(separator.run(jobs.items, 0, max_batch=1), jobs)
    assert not used
    assert set(fast) == {"vocals", "accompaniment"}
    for stem, audio in fast.items():
        assert audio.shape == (2, 2 * rate)
        assert np.array_equal(audio, reference[stem]), (stem, np.abs(audio - reference[stem]).max())

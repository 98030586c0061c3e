"""Run a model's heavy convolutional blocks in ONNX Runtime on CPU (``backend="onnxruntime"``).

The zoo models compute STFTs, masks and the iSTFT with complex tensors, which ONNX cannot
express, so the whole model is not exported: only its pure tensor -> tensor blocks are, each
replaced in place by an :class:`OrtBlock` that exports the block at its first call (dynamic
batch axis) and runs it in an ``onnxruntime.InferenceSession`` from then on. Everything around
the blocks stays in torch.

Exportable blocks (:data:`EXPORTABLE`): MMDenseNet's band networks
(``avsep.models.mmdensenet.DenseBand``) when they take no visual features: input and output
(B, C, T, F) float32. Measured on MMDenseNet at paper size (docs/serve.md): ONNX Runtime runs
the two bands 4-9x faster than torch eager on the same 2 threads (oneDNN spends most of its
time in the dense blocks' ``torch.cat``, BatchNorm and ReLU; ONNX Runtime fuses and plans
them), with outputs equal to 1e-7.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import torch
from torch import nn

BACKENDS = ("torch", "onnxruntime")


def _is_exportable(module: nn.Module) -> bool:
    from avsep.models.mmdensenet import DenseBand

    if isinstance(module, DenseBand):
        return not module.visual_dim  # the AV bands also take visual features
    return False


class OrtBlock(nn.Module):
    """A tensor -> tensor block run by ONNX Runtime; exported at its first call.

    ``forward(x, *extra)``: ``x`` float32 (B, ...) with the shape the block was exported with
    except B; ``extra`` must be None (what an audio-only DenseBand gets for ``visual``).
    """

    def __init__(self, block: nn.Module, threads: int):
        super().__init__()
        self.block = block.eval()
        self.threads = max(1, int(threads))
        self.session = None
        self.shape: tuple[int, ...] | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        """Attributes the model reads from the block (e.g. DenseBand.multiple) pass through."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["block"], name)

    def _export(self, x: torch.Tensor) -> None:
        import onnxruntime as ort

        buffer = io.BytesIO()
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(self.block, (x.clone(),), buffer, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "batch"},
                                                                "y": {0: "batch"}},
                              dynamo=False, opset_version=17)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(buffer.getvalue(), options,
                                            providers=["CPUExecutionProvider"])
        self.shape = tuple(x.shape[1:])

    def forward(self, x: torch.Tensor, *extra: torch.Tensor | None) -> torch.Tensor:
        if any(e is not None for e in extra) or x.device.type != "cpu":
            return self.block(x, *extra)
        with self._lock:
            if self.session is None:
                self._export(x.float())
        if tuple(x.shape[1:]) != self.shape:  # another chunk length: torch, not a re-export
            return self.block(x, *extra)
        array = np.ascontiguousarray(x.detach().float().numpy())
        return torch.from_numpy(self.session.run(None, {"x": array})[0])


def use_onnxruntime(model: nn.Module, threads: int) -> int:
    """Replace ``model``'s exportable blocks by :class:`OrtBlock` in place; how many.

    Raises ``ImportError`` naming the package when onnxruntime is not installed.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ImportError("backend 'onnxruntime' needs the onnxruntime package (pip install "
                          "onnxruntime onnx, pinned in pyproject.toml), or use "
                          "`avsep serve --backend torch`") from err
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _is_exportable(child):
                setattr(parent, name, OrtBlock(child, threads))
                replaced += 1
    return replaced

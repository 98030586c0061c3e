"""Run a model's heavy convolutional blocks in an inference runtime on CPU: ONNX Runtime
(``backend="onnxruntime"``) or OpenVINO (``backend="openvino"``).

The zoo models compute STFTs, masks and the iSTFT with complex tensors, which neither runtime
takes, so the whole model is not exported: only its pure tensor -> tensor blocks are, each
replaced in place by a :class:`CompiledBlock` that converts the block at its first call (batch
axis dynamic, the other axes as that call's) and runs it in the runtime from then on; a call
of another shape runs the block in torch. Everything around the blocks stays in torch.

Blocks: MMDenseNet's band networks (``avsep.models.mmdensenet.DenseBand``), input and output
(B, C, T, F) float32, plus the AV bands' visual features (B, N, T_v) for OpenVINO; for
OpenVINO also Y-Net's MC3-18 video trunk (``avsep.models.ynet.VideoTrunk``), frames
(N, 3, T, H, W) -> (N, 256, T, H/8, W/8), 3.9x faster than torch's bf16 autocast on a 50-frame
clip here (0.092 against 0.359 s, 2 threads, 2026-12-06).
- ONNX Runtime (fp32; the audio-only bands): outputs equal torch's to 1e-7; faster than torch
  fp32 eager (it fuses BatchNorm and ReLU into the convolutions and plans the dense blocks'
  concatenations), slower than torch bf16 on a CPU with native bf16 (docs/serve.md).
- OpenVINO (``openvino`` package, installed without ``openvino-telemetry``: see
  :func:`openvino_would_report`): the same fusions, in bf16 on a CPU with native bf16 (AMX or
  AVX512-BF16) when the separator runs in bf16 (its ``INFERENCE_PRECISION_HINT``), else fp32.
  On this project's 2-core AMX machine it runs paper-size MMDenseNet's bands in bf16 about
  twice as fast as torch's bf16 autocast (docs/serve.md). The default of ``avsep serve``'s
  replicas in bf16 (:func:`avsep.serve.engine.serving_backend`); elsewhere only when asked
  (``--backend openvino``): a process that had run it crashed when it later started Ray
  (docs/serve.md).
"""

from __future__ import annotations

import io
import threading

import numpy as np
import torch
from torch import nn


class CompiledBlock(nn.Module):
    """A tensor -> tensor block run by an inference runtime, converted at its first call.

    ``forward(x, *extra)``: ``x`` (B, ...) and, for a block of two inputs, the second tensor
    (B, ...) in ``extra`` (None entries are dropped); every input float32 on CPU with the
    shapes of the first call except B, else the call runs in torch. Returns float32 (B, ...).
    Subclasses convert (:meth:`_compile`) and run (:meth:`_infer`).
    """

    def __init__(self, block: nn.Module, threads: int, inputs: int = 1):
        super().__init__()
        self.block = block.eval()
        self.threads = max(1, int(threads))
        self.inputs = inputs
        self.shapes: tuple[tuple[int, ...], ...] | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        """Attributes the model reads from the block (e.g. DenseBand.multiple) pass through."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["block"], name)

    def _onnx(self, inputs: list[torch.Tensor]) -> bytes:
        """The block exported to ONNX (inputs ``x0``, ``x1``, ..., output ``y``, batch axis
        dynamic), the form both runtimes read; in float32 (the runtime sets its own precision),
        also when the separator calls the model under bf16 autocast."""
        names = [f"x{i}" for i in range(len(inputs))]
        buffer = io.BytesIO()
        with torch.autocast("cpu", enabled=False):
            torch.onnx.export(self.block, tuple(inputs), buffer, input_names=names,
                              output_names=["y"],
                              dynamic_axes={**{n: {0: "batch"} for n in names}, "y": {0: "batch"}},
                              dynamo=False, opset_version=17)
        return buffer.getvalue()

    def _compile(self, inputs: list[torch.Tensor]) -> None:
        raise NotImplementedError

    def _infer(self, arrays: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *extra: torch.Tensor | None) -> torch.Tensor:
        given = [x, *(e for e in extra if e is not None)]
        if len(given) != self.inputs or x.device.type != "cpu":
            return self.block(x, *extra)
        shapes = tuple(tuple(t.shape[1:]) for t in given)
        with self._lock:  # one conversion; a runtime request runs one call at a time
            if self.shapes is None:
                with torch.inference_mode(False), torch.no_grad():
                    self._compile([t.detach().float().clone() for t in given])
                self.shapes = shapes
            if shapes != self.shapes:  # another chunk length: torch, not a new conversion
                return self.block(x, *extra)
            arrays = [np.ascontiguousarray(t.detach().float().numpy()) for t in given]
            return torch.from_numpy(self._infer(arrays))


class OrtBlock(CompiledBlock):
    """A block run by an ``onnxruntime.InferenceSession`` (fp32) with the replica's threads."""

    def _compile(self, inputs: list[torch.Tensor]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(self._onnx(inputs), options,
                                            providers=["CPUExecutionProvider"])

    def _infer(self, arrays: list[np.ndarray]) -> np.ndarray:
        return self.session.run(None, {f"x{i}": a for i, a in enumerate(arrays)})[0]


class OpenVinoBlock(CompiledBlock):
    """A block compiled by OpenVINO for the CPU from its ONNX export, in ``precision`` ("bf16"
    or "fp32": the compiled model's inference precision hint), with the replica's threads."""

    def __init__(self, block: nn.Module, threads: int, inputs: int = 1,
                 precision: str = "fp32"):
        super().__init__(block, threads, inputs)
        self.precision = precision

    def _compile(self, inputs: list[torch.Tensor]) -> None:
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(core.read_model(self._onnx(inputs)), "CPU", {
            "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32",
            "INFERENCE_NUM_THREADS": self.threads, "PERFORMANCE_HINT": "LATENCY"})
        self.request = compiled.create_infer_request()

    def _infer(self, arrays: list[np.ndarray]) -> np.ndarray:
        # the request owns its output buffer: copy before the next call reuses it
        return np.array(self.request.infer(dict(enumerate(arrays)))[0])


def _block_inputs(module: nn.Module, backend: str) -> int:
    """How many tensors ``module`` takes when ``backend`` can run it; 0: it cannot."""
    from avsep.models.mmdensenet import DenseBand
    from avsep.models.ynet import VideoTrunk

    if isinstance(module, VideoTrunk):  # Y-Net's MC3-18 trunk: OpenVINO only (not measured
        return 1 if backend == "openvino" else 0  # in ONNX Runtime, which runs fp32 only)
    if not isinstance(module, DenseBand):
        return 0
    if module.visual_dim:  # the AV bands also take visual features
        return 2 if backend == "openvino" else 0
    return 1


INSTALL = {"onnxruntime": "pip install onnxruntime onnx (pinned in pyproject.toml)",
           "openvino": "pip install --no-deps openvino==2026.4.1, as scripts/setup.sh does"}


def installed(package: str) -> bool:
    """Whether ``package`` can be imported here (found on the path; not imported)."""
    import importlib.util

    return importlib.util.find_spec(package) is not None


def openvino_would_report() -> bool:
    """Whether ``import openvino`` would send usage data: OpenVINO's declared dependency
    ``openvino-telemetry``, when installed, reports every import to Google Analytics unless
    the user opted out. avsep's setup installs OpenVINO without it (scripts/setup.sh) and
    never imports OpenVINO while it is installed."""
    return installed("openvino_telemetry")


def _check_runtime(backend: str) -> None:
    """Raise ``ImportError`` naming the fix when ``backend``'s runtime cannot be used."""
    if backend == "openvino" and openvino_would_report():
        raise ImportError("backend 'openvino': the openvino-telemetry package is installed, and "
                          "importing openvino would then send usage data to Google Analytics; "
                          "remove it (pip uninstall -y openvino-telemetry: scripts/setup.sh "
                          "installs openvino without it), or use `--backend torch`")
    try:
        __import__(backend)
    except ImportError as err:
        raise ImportError(f"backend {backend!r} needs the {backend} package ({INSTALL[backend]}), "
                          "or use `--backend torch`") from err


def compile_blocks(model: nn.Module, backend: str, threads: int, precision: str = "fp32"
                   ) -> int:
    """Replace ``model``'s blocks that ``backend`` ("onnxruntime" or "openvino") can run by
    :class:`CompiledBlock` wrappers in place; how many (0: the model has none, or "torch";
    the runtime is then not imported).

    Raises ``ImportError`` naming the fix when the backend's runtime cannot be used.
    """
    if backend == "torch":
        return 0
    blocks = [(parent, name, inputs) for parent in list(model.modules())
              for name, child in parent.named_children()
              if (inputs := _block_inputs(child, backend))]
    if blocks:
        _check_runtime(backend)
    for parent, name, inputs in blocks:
        child = getattr(parent, name)
        setattr(parent, name, OrtBlock(child, threads, inputs) if backend == "onnxruntime"
                else OpenVinoBlock(child, threads, inputs, precision))
    return len(blocks)

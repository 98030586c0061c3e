"""Which runtime runs a served model's heavy blocks: ``--backend auto|torch|onnxruntime|openvino``.

Light at import (no torch), so the command-line parsers share :data:`BACKEND_CHOICES` and
:data:`BACKEND_HELP`; the runtimes themselves are in :mod:`avsep.serve.accelerate`.
"""

from __future__ import annotations

BACKENDS = ("torch", "onnxruntime", "openvino")
BACKEND_CHOICES = ("auto", *BACKENDS)  # the --backend flag of serve and separate
BACKEND_HELP = ("auto (default): on CPU in fp32, the model's convolutional blocks (MMDenseNet's "
                "bands) run in ONNX Runtime, the rest in torch; in bf16, a replica of avsep "
                "serve runs them and Y-Net's video trunk in OpenVINO (1.7x and 3.9x faster on "
                "an AMX CPU) and avsep separate everything in torch (docs/serve.md says why). "
                "openvino: "
                "those blocks in OpenVINO (bf16 where the network runs in bf16); torch: "
                "everything in torch")

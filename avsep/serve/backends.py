"""Which runtime runs a served model's heavy blocks: ``--backend auto|torch|onnxruntime|openvino``.

Light at import (no torch), so the command-line parsers share :data:`BACKEND_CHOICES` and
:data:`BACKEND_HELP`; the runtimes themselves are in :mod:`avsep.serve.accelerate`.
"""

from __future__ import annotations

BACKENDS = ("torch", "onnxruntime", "openvino")
BACKEND_CHOICES = ("auto", *BACKENDS)  # the --backend flag of serve and separate
BACKEND_HELP = ("auto (default): on CPU, the model's convolutional blocks (MMDenseNet's bands) "
                "run in OpenVINO when the network runs in bf16 and in ONNX Runtime in fp32, "
                "the rest in torch; torch: everything in torch (docs/serve.md)")

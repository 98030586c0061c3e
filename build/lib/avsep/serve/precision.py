"""Which float precision the network runs in when serving: ``--precision auto|fp32|bf16``.

Light at import (no torch until a function runs), so the command-line parsers can share
:data:`PRECISION_CHOICES` and :data:`PRECISION_HELP`.
"""

from __future__ import annotations

from typing import Any

PRECISIONS = ("fp32", "bf16")
PRECISION_CHOICES = ("auto", *PRECISIONS)  # the --precision flag of serve and separate
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # native bf16 arithmetic on this CPU
PRECISION_HELP = ("auto (default): bf16 autocast for the network on a CPU with native bf16 "
                  "(AVX512-BF16 or AMX), fp32 elsewhere; fp32: full precision (outputs as the "
                  "model was validated); bf16: always bf16. STFT, masks, Wiener and iSTFT stay "
                  "float32 (docs/serve.md)")


def cpu_supports_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively (any of :data:`CPU_BF16_FLAGS`, as
    ``torch.cpu.get_capabilities()`` reports them): only there is bf16 faster than fp32."""
    import torch

    capabilities = torch.cpu.get_capabilities()
    return any(bool(capabilities.get(flag)) for flag in CPU_BF16_FLAGS)


def resolve_precision(precision: str, device: Any = "cpu") -> str:
    """``"auto"`` -> ``"bf16"`` on a CPU with native bf16 (:func:`cpu_supports_bf16`), else
    ``"fp32"`` (GPUs too: bf16 there is not measured yet); ``"fp32"``/``"bf16"`` unchanged.

    bf16 is the CPU default because it costs at most 0.05 dB SI-SDR on the synthetic test songs
    (``benchmarks/precision_cost.py``, docs/serve.md) for about twice the speed.
    """
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {precision!r} "
                         "(avsep serve --precision, avsep separate --precision)")
    if precision != "auto":
        return precision
    import torch

    return "bf16" if torch.device(device).type == "cpu" and cpu_supports_bf16() else "fp32"

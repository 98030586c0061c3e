"""Input validation shared by the public functions of :mod:`avsep.audio`.

Every check raises ``TypeError`` (not a tensor, wrong dtype kind) or ``ValueError`` (wrong
shape or value) with a message of the form ``"<function>: <name> must be <expected>, got
<what it was>"`` so a caller sees at once what was expected.
"""

from __future__ import annotations

from typing import Any

import torch

_REAL_FLOATS = (torch.float32, torch.float64)
_COMPLEX = (torch.complex64, torch.complex128)


def describe(x: Any) -> str:
    """Short description of ``x`` for error messages, e.g. ``float32 (2, 513, 100)``."""
    if isinstance(x, torch.Tensor):
        return f"{str(x.dtype).removeprefix('torch.')} {tuple(x.shape)}"
    return type(x).__name__


def require_tensor(
    fn: str,
    name: str,
    x: Any,
    *,
    kind: str,
    layout: str,
    min_ndim: int = 0,
    ndim: int | None = None,
) -> torch.Tensor:
    """Check that ``x`` is a tensor of ``kind`` ("real", "complex" or "any") and rank.

    ``layout`` is the expected shape in words, e.g. ``"(..., frames, bins, channels)"``; it is
    repeated in the error message.
    """
    expected = {"real": "real float32/float64", "complex": "complex", "any": "float or complex"}
    what = f"{fn}: {name} must be a {expected[kind]} tensor {layout}, got {describe(x)}"
    if not isinstance(x, torch.Tensor):
        raise TypeError(what)
    ok_kind = {
        "real": x.dtype in _REAL_FLOATS,
        "complex": x.dtype in _COMPLEX,
        "any": x.dtype in _REAL_FLOATS + _COMPLEX,
    }[kind]
    if not ok_kind:
        raise TypeError(what)
    if x.ndim < min_ndim or (ndim is not None and x.ndim != ndim):
        raise ValueError(what)
    return x


def require_positive_int(fn: str, name: str, value: Any, *, allow_zero: bool = False) -> int:
    """Check that ``value`` is an int > 0 (or >= 0 with ``allow_zero``)."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{fn}: {name} must be an integer >= {low}, got {value!r}")
    return value


def source_axis(fn: str, x: torch.Tensor, source_dim: int, layout: str) -> int:
    """Positive index of the source axis ``source_dim`` (negative) of ``x``."""
    if not isinstance(source_dim, int) or source_dim >= 0:
        raise ValueError(f"{fn}: source_dim must be a negative axis index, got {source_dim!r}")
    if x.ndim < -source_dim:
        raise ValueError(
            f"{fn}: expected a tensor {layout} with the source axis at {source_dim} "
            f"(pass source_dim=-3 for layouts without a channel axis), got {describe(x)}"
        )
    return x.ndim + source_dim

"""Input checks shared by the metric functions: type, dtype, rank and shape agreement."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def as_real_tensor(
    value: Any, name: str, *, min_ndim: int = 1, layout: str = "(..., samples)",
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> torch.Tensor:
    """Convert a numpy array or tensor to a real ``dtype`` tensor, or raise a clear error.

    ``name`` and ``layout`` appear in the message (e.g. ``references``, ``(sources, samples,
    channels)``). Complex, boolean, object and non-array inputs, and inputs with fewer than
    ``min_ndim`` dimensions, raise ``TypeError``/``ValueError``.
    """
    if isinstance(value, np.ndarray):
        if value.dtype == object or not (np.issubdtype(value.dtype, np.number)):
            raise TypeError(f"{name}: expected a real numeric array {layout}, "
                            f"got numpy dtype {value.dtype}")
        if np.iscomplexobj(value):
            raise TypeError(f"{name}: expected a real array {layout}, got complex {value.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(value))
    elif isinstance(value, torch.Tensor):
        if value.is_complex():
            raise TypeError(f"{name}: expected a real tensor {layout}, got complex {value.dtype}")
        if value.dtype == torch.bool:
            raise TypeError(f"{name}: expected a real tensor {layout}, got torch.bool")
        tensor = value.detach()
    else:
        raise TypeError(f"{name}: expected a numpy array or torch tensor {layout}, "
                        f"got {type(value).__name__}")
    if tensor.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimensions {layout}, "
                         f"got shape {tuple(tensor.shape)}")
    return tensor.to(device=device if device is not None else tensor.device, dtype=dtype)


def check_same_shape(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str],
                     layout: str) -> None:
    """Raise ``ValueError`` naming both inputs when their shapes differ."""
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape {layout}; "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` when ``x`` holds NaN or infinite values."""
    if bool(torch.isfinite(x.sum())):  # cheap pass first: a NaN/inf anywhere spoils the sum
        return
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or infinite values; expected finite audio")


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """Detach a tensor to a CPU numpy array."""
    return x.detach().cpu().numpy()


def like_input(template: ArrayLike, result: torch.Tensor) -> ArrayLike:
    """Return ``result`` as numpy when ``template`` was numpy, else as the tensor it is."""
    return to_numpy(result) if isinstance(template, np.ndarray) else result


def real_pair(references: ArrayLike, estimates: ArrayLike, layout: str = "(..., samples)"
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Both inputs as float64 tensors of one shape on the references' device."""
    ref = as_real_tensor(references, "references", layout=layout)
    est = as_real_tensor(estimates, "estimates", layout=layout, device=ref.device)
    check_same_shape(ref, est, ("references", "estimates"), layout)
    if ref.shape[-1] == 0:
        raise ValueError(f"references: expected at least one sample {layout}, got "
                         f"shape {tuple(ref.shape)}")
    return ref, est

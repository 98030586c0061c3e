"""museval's BSS Eval v4 as the reference implementation, loaded without ``import museval``.

``import museval`` imports ``musdb`` -> ``stempeg``, which needs an ``ffmpeg`` binary at
import time. The metrics themselves live in the standalone module ``museval/metrics.py``,
which needs only numpy and scipy, so it is loaded from its file with
``importlib.util.spec_from_file_location`` and called exactly as ``museval.evaluate`` calls
it in its default ``mode="v4"``. Used by the tests and the speed benchmark.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np


@cache
def load_museval_metrics() -> ModuleType:
    """The module ``museval/metrics.py`` of the installed museval, loaded from its file."""
    spec = importlib.util.find_spec("museval")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("museval is not installed; it is the reference for BSS Eval v4")
    path = Path(next(iter(spec.submodule_search_locations))) / "metrics.py"
    module_spec = importlib.util.spec_from_file_location("museval_metrics", path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def museval_v4(references: np.ndarray, estimates: np.ndarray, window: int | float,
               hop: int | float, filters_len: int = 512) -> dict[str, np.ndarray]:
    """``museval.evaluate(references, estimates, win, hop)`` (mode v4), window/hop in samples.

    references, estimates: (sources, samples, channels) of the same length (museval would pad
    or truncate the estimates; callers here pass equal lengths). ``filters_len`` is
    museval's default 512 (``museval.evaluate`` offers no other; tests use shorter filters to
    keep museval's dense solves fast). Returns ``{"sdr", "isr",
    "sir", "sar"}`` each (sources, frames).
    """
    metrics = load_museval_metrics()
    sdr, isr, sir, sar, _ = metrics.bss_eval(
        np.asarray(references), np.asarray(estimates), compute_permutation=False,
        window=window, hop=hop, filters_len=filters_len, framewise_filters=False,
        bsseval_sources_version=False,
    )
    return {"sdr": sdr, "isr": isr, "sir": sir, "sar": sar}

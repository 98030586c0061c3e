"""Search objectives: ``METRIC[:min|max]`` strings, their modes, and the Pareto front.

``val/sdr`` (and every ``val/sdr@wK``, ``val/sdri``, ``val/score``) is maximised; ``val/loss``,
``model/params`` and ``model/latency_ms`` are minimised unless a ``:max``/``:min`` suffix says
otherwise. Several comma-separated objectives make the search multi-objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MINIMISED = ("val/loss", "train/loss", "model/params", "model/latency_ms")
KNOWN = ("val/sdr", "val/sdri", "val/score", *MINIMISED)


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: str  # "max" | "min"

    def __str__(self) -> str:
        return f"{self.metric}:{self.mode}"


def parse(text: str) -> list[Objective]:
    """``"val/sdr,model/params"`` -> [Objective(val/sdr, max), Objective(model/params, min)]."""
    objectives = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        metric, _, mode = part.partition(":")
        if not (metric in KNOWN or metric.startswith("val/sdr@w")):
            raise ValueError(f"unknown objective {metric!r}; expected one of {', '.join(KNOWN)} "
                             "or val/sdr@w<k>, optionally with :min or :max")
        if mode and mode not in ("min", "max"):
            raise ValueError(f"objective {part!r}: mode must be 'min' or 'max', got {mode!r}")
        objectives.append(Objective(metric, mode or ("min" if metric in MINIMISED else "max")))
    if not objectives:
        raise ValueError("no objective given; e.g. --objective val/sdr")
    if len({o.metric for o in objectives}) != len(objectives):
        raise ValueError(f"objective {text!r} names a metric twice")
    return objectives


def score(metrics: dict[str, float], objective: Objective | None) -> float:
    """``metrics``' value of ``objective`` as a larger-is-better score (-inf when missing or
    not finite). ``None``: ``val/sdr``, else ``val/score`` (the default ranking)."""
    import math

    if objective is None:
        objective = Objective("val/sdr" if "val/sdr" in metrics else "val/score", "max")
    value = float(metrics.get(objective.metric, float("nan")))
    if not math.isfinite(value):
        return float("-inf")
    return value if objective.mode == "max" else -value


def pareto_mask(values: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """Non-dominated rows of ``values`` (n, k) under ``modes`` -> bool (n,); NaN rows excluded."""
    signs = np.array([1.0 if m == "max" else -1.0 for m in modes])
    scores = values * signs  # larger is better in every column
    valid = np.isfinite(scores).all(axis=1)
    keep = valid.copy()
    for i in np.flatnonzero(valid):
        others = scores[valid]
        dominated = ((others >= scores[i]).all(axis=1) & (others > scores[i]).any(axis=1)).any()
        keep[i] = not dominated
    return keep

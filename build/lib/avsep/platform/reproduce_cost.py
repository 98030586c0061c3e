"""``avsep reproduce --dry-run``: the trials a reproduction would train, and what they cost.

Nothing trains and no data is read. Per stage, every trial (arm × seed, as
:func:`avsep.platform.reproduce_trials.stage_points` makes them) with its model, epochs and
mixtures per epoch. The cost is estimated from the project's own measurements, never guessed:

* **GPU-hours** from ``benchmarks/results/model_throughput.json`` (``python
  benchmarks/model_throughput.py --devices cuda``): forward + backward samples/s of each model
  at its *paper* size on CUDA (bf16 autocast, as training runs on a GPU; fp32 when bf16 failed),
  times the mixtures a trial sees (``epochs × (train_length + val_length)``; validation counted
  as training steps, so it is an upper bound). A model without a CUDA figure makes the GPU
  estimate unavailable, and the message names the benchmark to run.
* **CPU-minutes** at ``--preset tiny`` from the tiny-preset measurements
  (``benchmarks/results/tiny_presets_*.json``, ``benchmarks/tiny_presets.py``): each model's
  training CPU-seconds per mixture, times the training mixtures of a trial (validation and
  test scoring not included). Models never measured are named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from avsep.platform.reproduce import ReproduceOptions
    from avsep.platform.reproduce_trials import Point
    from avsep.studies.base import Study

#: where the benchmarks save their JSON figures (a source checkout; absent in a wheel)
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
THROUGHPUT_COMMAND = "python benchmarks/model_throughput.py --devices cuda"


@dataclass
class Estimate:
    """A cost in ``unit`` (None: unavailable, ``note`` says why and what to run)."""

    value: float | None
    unit: str
    note: str


def trials(study: Study, options: ReproduceOptions) -> list[Point]:
    """Every trial of the reproduction, stage by stage."""
    from avsep.platform.reproduce_trials import stage_points, study_stages

    points = []
    for number, keys in enumerate(study_stages(study)):
        points += stage_points(study, number, [study.arm(k) for k in keys], options)
    return points


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def gpu_throughput(results: Path = RESULTS) -> dict[str, float]:
    """model -> CUDA samples/s at paper size (bf16, else fp32) from model_throughput.json."""
    data = _read(results / "model_throughput.json") or {}
    out = {}
    for model, devices in data.get("figures", {}).get("results", {}).items():
        cuda = devices.get("cuda", {})
        for precision in ("bf16", "fp32"):
            rate = cuda.get(precision, {}).get("samples_per_s")
            if rate:
                out[model] = float(rate)
                break
    return out


def tiny_cpu_seconds(results: Path = RESULTS) -> dict[str, float]:
    """model -> training CPU-seconds per mixture at the tiny preset (the newest measurement)."""
    newest: dict[str, tuple[str, float]] = {}
    for path in sorted(results.glob("tiny_presets*.json")):
        data = _read(path) or {}
        when = str(data.get("when", ""))
        for model, row in data.get("figures", {}).get("models", {}).items():
            cpu, items = row.get("train_cpu_s"), row.get("items_seen")
            if cpu and items and (model not in newest or when > newest[model][0]):
                newest[model] = (when, float(cpu) / float(items))
    return {model: value for model, (_, value) in newest.items()}


def gpu_hours(points: list[Point], options: ReproduceOptions,
              results: Path = RESULTS) -> Estimate:
    rates = gpu_throughput(results)
    missing = sorted({p.model for p in points} - set(rates))
    if missing:
        return Estimate(None, "GPU-hours", f"{results / 'model_throughput.json'} "
                        f"has no CUDA figure for {', '.join(missing)}; run `{THROUGHPUT_COMMAND}` "
                        "on a GPU machine")
    mixtures = options.epochs * (options.train_length + options.val_length)
    hours = sum(mixtures / rates[p.model] for p in points) / 3600
    return Estimate(hours, "GPU-hours", f"model_throughput CUDA samples/s at paper size, "
                    f"{mixtures} mixtures per trial (validation counted as training)")


def cpu_minutes(points: list[Point], options: ReproduceOptions,
                results: Path = RESULTS) -> Estimate:
    if options.preset != "tiny":
        return Estimate(None, "CPU-minutes", "the tiny-preset measurements do not "
                        f"apply at --preset {options.preset}")
    per_item = tiny_cpu_seconds(results)
    measured = [p for p in points if p.model in per_item]
    missing = sorted({p.model for p in points} - set(per_item))
    minutes = sum(options.epochs * options.train_length * per_item[p.model]
                  for p in measured) / 60
    note = "training only (tiny_presets measurements)"
    if missing:
        note += (f"; not measured: {', '.join(missing)} (their trials are not counted; "
                 "`python benchmarks/tiny_presets.py` measures a model)")
    return Estimate(minutes if measured else None, "CPU-minutes", note)


def describe(study: Study, options: ReproduceOptions, results: Path = RESULTS) -> str:
    """The dry run's text: one line per trial, then the estimates."""
    points = trials(study, options)
    lines = [f"avsep reproduce {study.key} --dry-run: {len(points)} trial(s) in "
             f"{len(study_stages_of(points))} stage(s), {options.epochs} epoch(s) of "
             f"{options.train_length} training + {options.val_length} validation mixtures each, "
             f"preset {options.preset}, {options.seeds} seed(s)"]
    for point in points:
        lines.append(f"  stage {point.stage}  {point.label:<40} {point.space} ({point.model})")
    for estimate in (gpu_hours(points, options, results), cpu_minutes(points, options, results)):
        value = "unavailable" if estimate.value is None else f"{estimate.value:.3g}"
        lines.append(f"{estimate.unit}: {value} — {estimate.note}")
    return "\n".join(lines)


def study_stages_of(points: list[Point]) -> list[int]:
    return sorted({p.stage for p in points})

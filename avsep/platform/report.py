"""End-of-search report: top-trials table, Optuna parameter importances and plots, Pareto front.

Works from the Tune results table (one row per trial, its best epoch for the objective) and the
space's declared dimensions, so it needs no live searcher: ``avsep report`` rebuilds the same
report from a finished or interrupted search folder. Importances are Optuna's default
evaluator (``optuna.importance.get_param_importances``, PED-ANOVA in Optuna 5) on a study
rebuilt from the finished trials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avsep.evaluation.markdown import markdown
from avsep.platform.objectives import Objective, pareto_mask
from avsep.search_spaces.base import SearchSpace
from avsep.search_spaces.dims import Categorical, Float, Int

TABLE_METRICS = ("val/sdr", "val/sdri", "val/sdr_mixture", "val/wiener", "val/loss",
                 "model/params", "model/latency_ms",
                 "training_iteration")


@dataclass
class Report:
    table: pd.DataFrame
    importances: dict[str, float] = field(default_factory=dict)
    pareto: pd.DataFrame | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _distribution(dim: Any) -> Any:
    import optuna

    if isinstance(dim, Categorical):
        return optuna.distributions.CategoricalDistribution(list(dim.choices))
    if isinstance(dim, Float):
        return optuna.distributions.FloatDistribution(dim.low, dim.high, log=dim.log)
    if isinstance(dim, Int):
        return optuna.distributions.IntDistribution(dim.low, dim.high, log=dim.log)
    return None


def param_columns(frame: pd.DataFrame, space: SearchSpace) -> dict[str, str]:
    """Dimension name -> results column (``config/<name>``) for the sampled dimensions."""
    return {d.name: f"config/{d.name}" for d in space.dimensions
            if f"config/{d.name}" in frame.columns and _distribution(d) is not None}


def rebuild_study(frame: pd.DataFrame, space: SearchSpace, objective: Objective) -> Any:
    """An in-memory Optuna study holding every finished trial of ``frame``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if objective.mode == "max" else "minimize")
    dims = {d.name: d for d in space.dimensions}
    for _, row in frame.iterrows():
        value = row.get(objective.metric)
        if value is None or not math.isfinite(float(value)):
            continue
        params, dists = {}, {}
        for name, column in param_columns(frame, space).items():
            raw = row[column]
            if raw is None or (isinstance(raw, float) and math.isnan(raw)):
                continue  # conditional dimension not sampled in this trial
            dist = _distribution(dims[name])
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                raw = next((c for c in dist.choices if c == raw or str(c) == str(raw)), None)
                if raw is None:
                    continue
            elif isinstance(dist, optuna.distributions.IntDistribution):
                raw = int(raw)
            else:
                raw = float(raw)
            params[name], dists[name] = raw, dist
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists,
                                                  value=float(value)))
    return study


def top_table(frame: pd.DataFrame, space: SearchSpace, objective: Objective,
              k: int = 10) -> pd.DataFrame:
    """The best ``k`` trials by ``objective``: trial id, objective, metrics and parameters."""
    columns = ["trial_id", *[m for m in TABLE_METRICS if m in frame.columns and
                            m != objective.metric]]
    params = list(param_columns(frame, space).values())
    ordered = frame.sort_values(objective.metric, ascending=objective.mode == "min",
                                na_position="last")
    table = ordered[[*columns[:1], objective.metric, *columns[1:], *params]].head(k)
    return table.rename(columns={c: c.removeprefix("config/") for c in params})


def importances(study: Any) -> dict[str, float]:
    """Importances of the study's parameters ({} when too few trials to tell)."""
    import warnings

    import optuna

    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    varied = {n for t in finished for n in t.params
              if len({str(u.params.get(n)) for u in finished}) > 1}
    if len(finished) < 2 or not varied:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "few trials per regime" on small searches
            return dict(optuna.importance.get_param_importances(study, params=sorted(varied)))
    except (RuntimeError, ValueError):
        return {}


def _plots(study: Any, out: Path, notes: list[str]) -> list[Path]:
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    files = []
    for name, plot in (("optimization_history", ovm.plot_optimization_history),
                       ("param_importances", ovm.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optuna's ExperimentalWarning
                ax = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            notes.append(f"no {name} plot: {err}")
            continue
        path = out / f"{name}.png"
        (ax[0] if isinstance(ax, np.ndarray) else ax).figure.savefig(path, dpi=80,
                                                                     bbox_inches="tight")
        plt.close("all")
        files.append(path)
    return files


def _pareto(frame: pd.DataFrame, objectives: Sequence[Objective], out: Path
            ) -> tuple[pd.DataFrame, list[Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [o.metric for o in objectives]
    values = frame[metrics].astype(float).to_numpy()
    mask = pareto_mask(values, [o.mode for o in objectives])
    front = frame.loc[mask, ["trial_id", *metrics]].sort_values(metrics[0])
    front.to_csv(out / "pareto_front.csv", index=False)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(values[:, 1], values[:, 0], c="lightgray", label="trials")
    ax.plot(front[metrics[1]], front[metrics[0]], "o-", c="crimson", label="Pareto front")
    ax.set_xlabel(str(objectives[1]))
    ax.set_ylabel(str(objectives[0]))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "pareto_front.png", dpi=80)
    plt.close(fig)
    return front, [out / "pareto_front.csv", out / "pareto_front.png"]


def write_report(frame: pd.DataFrame, space: SearchSpace, objectives: Sequence[Objective],
                 out: Path, k: int = 10) -> Report:
    """Write ``top_trials.md``/``.csv``, importances (JSON + PNG plots), the Pareto front."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    primary = objectives[0]
    if primary.metric not in frame.columns:
        frame = frame.assign(**{primary.metric: np.nan})
    table = top_table(frame, space, primary, k)
    report = Report(table=table)
    (out / "top_trials.md").write_text(markdown(table))
    table.to_csv(out / "top_trials.csv", index=False)
    report.files += [out / "top_trials.md", out / "top_trials.csv"]
    study = rebuild_study(frame, space, primary)
    report.importances = importances(study)
    (out / "importances.json").write_text(json.dumps(report.importances, indent=2))
    report.files.append(out / "importances.json")
    if report.importances:
        report.files += _plots(study, out, report.notes)
    else:
        report.notes.append("importances need >= 2 finished trials with varied parameters")
    if len(objectives) > 1 and all(o.metric in frame.columns for o in objectives):
        report.pareto, files = _pareto(frame, objectives, out)
        report.files += files
    return report

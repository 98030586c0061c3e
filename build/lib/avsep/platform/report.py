"""End-of-search report: top-trials table, Optuna parameter importances and plots, Pareto front.

Works from the Tune results table (one row per trial, its best epoch for the objective) and the
space's declared dimensions, so it needs no live searcher: ``avsep report`` rebuilds the same
report from a finished or interrupted search folder. Importances are Optuna's default
evaluator (``optuna.importance.get_param_importances``, PED-ANOVA in Optuna 5) on a study
rebuilt from the finished trials, over the dimensions that varied among them, and only when
there are enough of them (:func:`importance_check`: at least :data:`MIN_TRIALS` finished trials
and :data:`TRIALS_PER_DIMENSION` per varied dimension); otherwise the report says why. The
plots name their metric and draw the unprocessed mixture's value (:func:`mixture_baseline`).
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


#: importances are computed only from this many finished trials ...
MIN_TRIALS = 5
#: ... and at least this many per varied dimension (PED-ANOVA compares the top quantile of the
#: trials with all of them: on 2 trials with equal scores it still names one dimension 1.00, and
#: among 6 trials one outlier gives its learning rate 0.85)
TRIALS_PER_DIMENSION = 2

#: axis names of the metrics a search ranks by (others are shown as their key)
METRIC_LABELS = {
    "val/sdr": "validation SI-SDR (dB)",
    "val/sdri": "validation SI-SDR improvement over the mixture (dB)",
    "val/sdr_mixture": "validation SI-SDR of the unprocessed mixture (dB)",
    "val/score": "validation score (minus the validation loss)",
    "val/loss": "validation loss",
    "model/params": "model parameters",
    "model/latency_ms": "model latency (ms)",
}


def metric_label(metric: str) -> str:
    """The axis name of ``metric`` (e.g. ``"validation SI-SDR (dB)"`` for ``val/sdr``)."""
    return METRIC_LABELS.get(metric, metric)


def mixture_baseline(frame: pd.DataFrame, objective: Objective) -> float | None:
    """The objective's value for the unprocessed mixture: the median ``val/sdr_mixture`` of the
    trials (same validation items for every trial of a search) for ``val/sdr``, 0 dB for
    ``val/sdri``, None for metrics without one."""
    if objective.metric == "val/sdri":
        return 0.0
    if objective.metric != "val/sdr" or "val/sdr_mixture" not in frame:
        return None
    values = pd.to_numeric(frame["val/sdr_mixture"], errors="coerce").dropna()
    return float(values.median()) if len(values) else None


def _finished(study: Any) -> list[Any]:
    import optuna

    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
            and t.value is not None and math.isfinite(t.value)]


def varied_dimensions(study: Any) -> list[str]:
    """Parameters that took at least two different values among the finished trials that
    sampled them (a conditional dimension sampled by one trial did not vary)."""
    finished = _finished(study)
    names = sorted({n for t in finished for n in t.params})
    return [n for n in names
            if len({str(t.params[n]) for t in finished if n in t.params}) > 1]


def importance_check(study: Any) -> tuple[list[str], str | None]:
    """The dimensions importances may be computed over, and None; or ``[]`` and the reason
    there are too few finished trials (:data:`MIN_TRIALS`, :data:`TRIALS_PER_DIMENSION`)."""
    finished = _finished(study)
    varied = varied_dimensions(study)
    if not varied:
        return [], (f"no importances: no parameter varied among the {len(finished)} finished "
                    "trial(s)")
    values = [t.value for t in finished]
    if max(values) == min(values):
        return [], (f"no importances: all {len(finished)} finished trials scored the same "
                    f"({values[0]:.4g})")
    need = max(MIN_TRIALS, TRIALS_PER_DIMENSION * len(varied))
    if len(finished) < need:
        return [], (f"no importances: {len(finished)} finished trial(s) for {len(varied)} varied "
                    f"dimension(s) ({', '.join(varied)}); they need >= {need} "
                    f"({TRIALS_PER_DIMENSION} per varied dimension, at least {MIN_TRIALS}): "
                    "run more --num-samples")
    return varied, None


def importances(study: Any, notes: list[str] | None = None) -> dict[str, float]:
    """Importances of the parameters that varied ({} when too few finished trials to tell;
    the reason goes to ``notes``). Optuna's default evaluator over :func:`importance_check`'s
    dimensions only."""
    import warnings

    import optuna

    varied, reason = importance_check(study)
    if reason:
        if notes is not None:
            notes.append(reason)
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "few trials per regime" on small searches
            return dict(optuna.importance.get_param_importances(study, params=varied))
    except (RuntimeError, ValueError) as err:
        if notes is not None:
            notes.append(f"no importances: {err}")
        return {}


def history_figure(study: Any, objective: Objective, baseline: float | None) -> Any:
    """The optimisation history (objective of every finished trial and the best so far), its
    y axis named after the metric, with the mixture's value as a dashed line when known."""
    import warnings

    import optuna.visualization.matplotlib as ovm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's ExperimentalWarning
        ax = ovm.plot_optimization_history(study, target_name=metric_label(objective.metric))
    ax = ax[0] if isinstance(ax, np.ndarray) else ax
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle="--",
                   label=f"unprocessed mixture ({baseline:.2f} dB)")
        ax.legend(loc="best", fontsize=8)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_title(f"search history: {objective.metric} per trial (best epoch)")
    return ax.figure


def importance_figure(study: Any, objective: Objective, params: list[str]) -> Any:
    """Optuna's importance bars over ``params`` (the dimensions that varied), titled with the
    metric and the number of finished trials they rest on."""
    import warnings

    import optuna.visualization.matplotlib as ovm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = ovm.plot_param_importances(study, params=params,
                                        target_name=metric_label(objective.metric))
    ax = ax[0] if isinstance(ax, np.ndarray) else ax
    ax.set_title(f"importance for {objective.metric} over {len(_finished(study))} finished "
                 f"trials ({len(params)} varied dimensions)")
    ax.set_title("", loc="left")  # optuna's "Hyperparameter Importances" would overlap it
    return ax.figure


def _plots(study: Any, objective: Objective, baseline: float | None, varied: list[str],
           out: Path, notes: list[str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    figures = [("optimization_history", lambda: history_figure(study, objective, baseline))]
    if varied:
        figures.append(("param_importances",
                        lambda: importance_figure(study, objective, varied)))
    for name, make in figures:
        try:
            figure = make()
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            notes.append(f"no {name} plot: {err}")
            continue
        path = out / f"{name}.png"
        figure.savefig(path, dpi=80, bbox_inches="tight")
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
    ax.set_xlabel(metric_label(objectives[1].metric))
    ax.set_ylabel(metric_label(objectives[0].metric))
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
    report.importances = importances(study, report.notes)
    (out / "importances.json").write_text(json.dumps(report.importances, indent=2))
    report.files.append(out / "importances.json")
    if _finished(study):
        report.files += _plots(study, primary, mixture_baseline(frame, primary),
                               list(report.importances), out, report.notes)
    if len(objectives) > 1 and all(o.metric in frame.columns for o in objectives):
        report.pareto, files = _pareto(frame, objectives, out)
        report.files += files
    return report

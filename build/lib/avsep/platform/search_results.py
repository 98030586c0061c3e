"""The end of a search: one row per trial, the MLflow runs closed, the report written, the
finalists re-scored and the best trial handed to the champion guard; and the report of a search
folder rebuilt without Ray (``avsep report``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsep.platform.objectives import Objective, parse
from avsep.platform.search_plan import CONTEXT_KEY, Plan, SearchSetupError, report_dir
from avsep.platform.study_runs import parent_run, spool_root
from avsep.platform.trial_history import trial_history
from avsep.search_spaces import EXPERIMENT_KEY, get
from avsep.tracking.registry import register_champions


@dataclass
class SearchOutcome:
    """What :func:`run` hands back: the report, champion and counts."""

    report_dir: Path
    table: Any
    trials: int
    failed: int
    champion_version: str | None = None
    champion_run: str | None = None
    champion_value: float | None = None
    pareto: Any = None
    importances: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    verdict: Any = None  # registry.Registration of the champion guard (None: no trial finished)
    finalists: Any = None  # finalists.rescore_finalists table (None: not re-scored)
    notes: list[str] = field(default_factory=list)  # the report's (e.g. too few trials)


#: the MLflow UI's view of an experiment's training runs: MLflow 3.17's UI opens an experiment
#: in its GenAI mode ("Traces") unless the URL's ``workflowType`` says otherwise (its
#: ``mlflow.workflowType`` local-storage setting starts at genai; the experiment tag
#: ``mlflow.experimentKind`` is only read when the UI's workflow switch is off)
UI_RUNS_VIEW = "#/experiments/{id}/runs?workflowType=machine_learning"


def paper_points_line(plan: Plan) -> str:
    """One line saying which configurations the search evaluates first, and at what lr and
    batch size (the space's tiny values on the tiny preset; the papers' on the paper preset)."""
    points = plan.paper_points()
    declared = len(plan.space.paper_points) or len(plan.space.points_to_evaluate)
    if not points:
        return (f"paper points: none of the space's {declared} enqueued "
                f"(--paper-points {plan.options.paper_points}); the sampler starts alone")
    if plan.preset == "tiny" and plan.space.paper_points:
        train = ", ".join(f"{k} {v:g}" for k, v in plan.space.tiny_train.items())
        how = (f"with their design choices at the tiny preset's {train} (the papers' values "
               "are for the paper preset: --preset paper; docs/search.md)")
    else:
        how = "at the papers' own learning rates and batch sizes"
    runs = min(len(points), plan.options.num_samples)
    budget = (f" (--num-samples {plan.options.num_samples}: the first {runs} of the "
              f"{len(points)} enqueued)" if runs < len(points) else "")
    return f"paper points: {runs} of {declared} evaluated first{budget}, {how}"


def tool_lines(plan: Plan) -> list[str]:
    """Where to look at the search: the MLflow UI link that opens its training runs, and
    optuna-dashboard on its Optuna study (both installed in avsep's environment)."""
    import sys

    import mlflow

    from avsep.tracking.store import is_tracking_server

    bin_dir = Path(sys.executable).parent
    lines = []
    try:
        experiment = mlflow.MlflowClient(plan.mlflow_uri).get_experiment_by_name(plan.name)
    except Exception:  # noqa: BLE001 - a remote store that went away: the links are optional
        experiment = None
    view = UI_RUNS_VIEW.format(id=experiment.experiment_id) if experiment is not None else None
    if view and is_tracking_server(plan.mlflow_uri):  # a tracking server's UI
        lines.append(f"MLflow UI: open {plan.mlflow_uri.rstrip('/')}/{view} (the study's "
                     "training runs)")
    elif view:
        lines.append(f"MLflow UI: {bin_dir / 'mlflow'} ui --backend-store-uri {plan.mlflow_uri} "
                     f"--host 127.0.0.1 --port 5000, then open http://127.0.0.1:5000/{view} "
                     "(the study's training runs)")
    lines.append(f"Optuna study {plan.optuna_study!r}: {bin_dir / 'optuna-dashboard'} "
                 f"{plan.optuna_storage} --host 127.0.0.1 --port 8080, then open "
                 "http://127.0.0.1:8080/")
    return lines


def results_frame(results: Any, objective: Objective) -> Any:
    """One row per trial at its best epoch for ``objective`` (its last epoch when the objective
    was never finite), with ``config/<param>`` columns and ``error``."""
    import math

    import pandas as pd

    from avsep.tracking.store import flatten

    rows = []
    for result in results:
        history = trial_history(result)
        if history is None or history.empty:
            row: dict[str, Any] = dict(result.metrics or {})
        else:
            values = pd.to_numeric(history.get(objective.metric), errors="coerce") \
                if objective.metric in history else pd.Series(dtype=float)
            finite = values[values.map(lambda v: math.isfinite(v) if v == v else False)]
            index = (finite.idxmax() if objective.mode == "max" else finite.idxmin()) \
                if len(finite) else history.index[-1]
            row = history.loc[index].to_dict()
        config = {k: v for k, v in (result.config or {}).items()
                  if k not in (CONTEXT_KEY, EXPERIMENT_KEY)}
        row.update({f"config/{k}": v for k, v in flatten(config).items()})
        row["trial_id"] = row.get("trial_id") or (result.metrics or {}).get("trial_id") \
            or result.path.rsplit("/", 1)[-1]
        row["error"] = bool(result.error)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if objective.metric not in frame:
        frame[objective.metric] = float("nan")
    return frame


def _close_runs(plan: Plan, results: Any) -> None:
    """Deliver what the trials left spooled, then set the final MLflow status of every trial's
    run from its Tune result; both wait for an absent tracking server up to the outage limit."""
    from avsep.tracking.spool import OutageClock, patient_client
    from avsep.tracking.store import replay_spools

    limit = plan.options.tracking_outage_limit
    clock = OutageClock(plan.mlflow_uri, limit, where=str(spool_root(plan)))
    replayed = replay_spools(plan.mlflow_uri, spool_root(plan), clock)
    if replayed:
        print(f"avsep tune: delivered {replayed} tracking records the trials left spooled",
              flush=True)
    client = patient_client(plan.mlflow_uri, clock)
    for result in results:
        run_id = (result.metrics or {}).get("mlflow_run_id")
        if not run_id:
            continue
        # Tune's verdict wins: a trial that ASHA stopped is interrupted inside its loop (and
        # may have marked its run FAILED or left it RUNNING), but it did not fail
        client.set_terminated(run_id, "FAILED" if result.error else "FINISHED")
        if not result.error and (result.metrics or {}).get("epoch", 0) < plan.options.max_epochs \
                and not result.metrics.get("early_stopped"):
            client.set_tag(run_id, "stopped_by", "asha")


def finish(plan: Plan, results: Any, seconds: float = 0.0,
           parent_run_id: str | None = None) -> SearchOutcome:
    """Close runs, write the report and log it to the study's run, apply the champion guard;
    returns the outcome."""
    from avsep.platform.report import write_report
    from avsep.tracking.store import RunLogger

    primary = plan.objectives[0]
    frame = results_frame(results, primary)
    _close_runs(plan, results)
    report = write_report(frame, plan.space, plan.objectives, plan.report_dir, plan.options.top_k)
    failed = sum(1 for r in results if r.error)
    outcome = SearchOutcome(report_dir=plan.report_dir, table=report.table, trials=len(results),
                            failed=failed, pareto=report.pareto, importances=report.importances,
                            seconds=seconds, notes=list(report.notes))
    study = RunLogger(plan.mlflow_uri, plan.name, "", {}, plan.artifact_root,
                      run_id=parent_run_id or parent_run(plan), spool_root=spool_root(plan),
                      outage_limit_s=plan.options.tracking_outage_limit)
    study.log_metrics({"trials": len(results), "failed_trials": failed,
                       "search_seconds": seconds}, step=0)
    best = _best_result(results, primary)
    outcome.finalists = _finalists(plan, frame, primary)
    if outcome.finalists is not None and len(outcome.finalists):
        from avsep.evaluation.markdown import markdown

        outcome.finalists.to_csv(plan.report_dir / "finalists.csv", index=False)
        (plan.report_dir / "finalists.md").write_text(
            "Finalists re-scored on fresh validation seeds (mean and spread); rank 1 is the "
            "champion.\n\n" + markdown(outcome.finalists.drop(columns=["values"])))
        chosen = str(outcome.finalists["run_id"].iloc[0])
        best = next((r for r in results
                     if (r.metrics or {}).get("mlflow_run_id") == chosen), best)
    study.log_artifacts(plan.report_dir, "report")
    if best is not None:
        candidate = _candidate(plan, best, primary)
        outcome.champion_run, outcome.champion_value = candidate.run_id, candidate.value
        # best first; the guard reads on only to find the best audio-only trial (@champion-audio)
        others = (_candidate(plan, r, primary) for r in _ranked(results, primary) if r is not best)
        verdict = register_champions(plan.mlflow_uri, itertools.chain([candidate], others),
                                     plan.register_as, force=plan.options.force,
                                     outage_limit_s=plan.options.tracking_outage_limit)
        outcome.verdict = verdict
        outcome.champion_version = verdict.version
        study.set_tags({"champion_run": candidate.run_id, "champion": verdict.message})
    study.finish()
    return outcome


def _finalists(plan: Plan, frame: Any, objective: Objective) -> Any:
    """The top ``--finalists`` trials re-scored on fresh validation seeds (None when off, or
    when the objective is not a validation metric or fewer than 2 trials finished)."""
    from avsep.platform.finalists import rescore_finalists

    finished = frame[~frame["error"].astype(bool)] if "error" in frame else frame
    if plan.options.finalists < 2 or not objective.metric.startswith("val/") \
            or len(finished.dropna(subset=[objective.metric])) < 2:
        return None
    print(f"avsep tune: re-scoring the top {plan.options.finalists} trials on fresh "
          "validation seeds before choosing the champion", flush=True)
    return rescore_finalists(plan.mlflow_uri, finished, objective, k=plan.options.finalists)


def _candidate(plan: Plan, best: Any, objective: Objective) -> Any:
    """The guard's view of ``best``: its objective, baseline and SI-SDRi at its best epoch."""
    from avsep.tracking.registry import Candidate

    history = trial_history(best)
    values = history[objective.metric].astype(float)
    row = history.loc[values.idxmax() if objective.mode == "max" else values.idxmin()]

    def metric(name: str) -> float | None:
        value = row.get(name)
        return None if value is None or value != value else float(value)

    value = float(row[objective.metric])
    return Candidate(run_id=best.metrics["mlflow_run_id"], objective=objective, value=value,
                     fingerprint=plan.fingerprint, sdr_mixture=metric("val/sdr_mixture"),
                     sdri=metric("val/sdri"),
                     tags={"space": plan.space.name, "study": plan.name,
                           "trial_id": str(best.metrics.get("trial_id", ""))},
                     description=f"best of search {plan.name!r} on space {plan.space.name!r} "
                                 f"for its input contract: {objective} = {value:.3f}; "
                                 "artifacts/package holds the avsep model package (config.json: "
                                 "model config, metrics, input contract)")


def _ranked(results: Any, objective: Objective) -> list[Any]:
    """The trials that logged a model package, best objective over their epochs first."""
    scored = []
    for result in results:
        frame = trial_history(result)
        if frame is None or objective.metric not in frame or not (result.metrics or {}).get(
                "mlflow_run_id"):
            continue
        value = frame[objective.metric].astype(float).agg(objective.mode)
        if value == value:
            scored.append((value if objective.mode == "max" else -value, result))
    return [r for _, r in sorted(scored, key=lambda pair: pair[0], reverse=True)]


def _best_result(results: Any, objective: Objective) -> Any:
    """The trial with the best objective over its epochs that logged a model package (the
    first of equals)."""
    ranked = _ranked(results, objective)
    return ranked[0] if ranked else None


def load_results(experiment_path: str) -> Any:
    """The ``ResultGrid`` of a finished or interrupted search folder (Ray need not run)."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    try:
        return ResultGrid(ExperimentAnalysis(experiment_path))
    except (FileNotFoundError, ValueError) as err:
        raise SearchSetupError(f"{experiment_path}: not a search folder ({err})") from None


def report_only(experiment_path: str, objective: str | None = None,
                out: Path | None = None, top_k: int = 10) -> Any:
    """Rewrite the report of a search folder; returns the :class:`~.report.Report`."""
    from avsep.platform.report import write_report

    results = load_results(experiment_path)
    spaces = {r.config[CONTEXT_KEY]["run"]["tags"]["space"] for r in results
              if r.config and CONTEXT_KEY in r.config}
    if len(spaces) != 1:
        raise SearchSetupError(f"{experiment_path}: expected trials of one space, found "
                               f"{sorted(spaces) or 'none'}")
    space = get(spaces.pop())
    objectives = parse(objective or space.objective)
    frame = results_frame(results, objectives[0])
    storage, _, name = experiment_path.rstrip("/").rpartition("/")
    folder = out or report_dir(storage, name)
    return write_report(frame, space, objectives, folder, top_k)

"""MLflow naming of a search: the study's parent run and each trial's run name; where the
search's runs spool their records while the tracking server is away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avsep.platform.search_plan import Plan, is_remote_storage


def spool_root(plan: Plan) -> Path:
    """``<storage>/<study>/mlflow-spool``: one folder per MLflow run of the search, on the
    search's storage, so a trial restored on another node (shared NFS storage) and the driver
    at the end of the search replay what it holds. On remote storage (``s3://``: no atomic
    append there) it is ``$AVSEP_HOME/mlflow-spool/<study>`` on each node, and a trial
    restored on another node cannot replay what its first node spooled (the driver's end of
    search replays only its own node's)."""
    from avsep import settings

    if is_remote_storage(plan.storage):
        return settings.home() / "mlflow-spool" / plan.name
    return Path(plan.experiment_path) / "mlflow-spool"


def _short(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.0e}" if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4) \
            else f"{value:.3g}"
        return text.replace("e-0", "e-").replace("e+0", "e")
    return str(value)


def trial_run_name(params: dict[str, Any], model: str | None = None) -> str:
    """``av_mmdensenet·conv2d_lstm·mask·lr3e-4``: the model, then each sampled choice (a
    categorical's value, a flag's name, a number after its parameter's name)."""
    parts = [model] if model else []
    for key, value in params.items():
        if isinstance(value, bool):
            parts.append(key if value else f"no-{key}")
        elif isinstance(value, int | float):
            parts.append(f"{key}{_short(value)}")
        elif value is not None and str(value) not in parts:
            parts.append(str(value))
    return "·".join(parts) or "trial"


def parent_run(plan: Plan) -> str:
    """The study's MLflow run: the newest unfinished one of this study when resuming, else a
    new one. Returns its id."""
    import mlflow

    from avsep.tracking.store import RunLogger, code_version, configure, experiment_id

    tags = {"kind": "study", "space": plan.space.name, "study": plan.name,
            "optuna_study": plan.optuna_study, "optuna_storage": plan.optuna_storage,
            "data_fingerprint": plan.fingerprint, "code_version": code_version()}
    if plan.options.resume:
        from avsep.tracking.spool import wait_for_server

        wait_for_server(plan.mlflow_uri, plan.options.tracking_outage_limit)
        configure(plan.mlflow_uri)
        client = mlflow.MlflowClient()
        found = client.search_runs(
            [experiment_id(plan.mlflow_uri, plan.name, plan.artifact_root)],
            filter_string=f"tags.kind = 'study' and tags.study = '{plan.name}'",
            order_by=["attributes.start_time DESC"], max_results=1)
        if found:
            client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id
    logger = RunLogger(plan.mlflow_uri, plan.name, f"{plan.name} (study)", tags,
                       plan.artifact_root, spool_root=spool_root(plan),
                       outage_limit_s=plan.options.tracking_outage_limit)
    opts = plan.options
    logger.log_params({"space": plan.space.name, "num_samples": opts.num_samples,
                       "max_epochs": opts.max_epochs, "seed": opts.seed,
                       "objectives": ",".join(map(str, plan.objectives)),
                       "grace_period": opts.grace_period,
                       "reduction_factor": opts.reduction_factor,
                       "max_failures": opts.max_failures,
                       "warm_start": opts.warm_start or ""})
    return logger.run_id

"""The search driver: Ray Tune + Optuna (define-by-run space) + ASHA, logged to MLflow.

:func:`prepare` runs every check that can fail *before* a trial starts — unknown space, bad
base config, configs of the space that do not build, missing data, unreachable MLflow store,
bad objective — and returns a :class:`Plan`. :func:`run` starts (or with ``resume`` restores)
the ``Tuner``: ``OptunaSearch`` over the space with the papers' configurations enqueued first,
its Optuna study persisted in an RDB storage (sqlite beside the MLflow store by default,
``optuna_storage`` on a cluster; ``warm_start`` copies a finished study's trials into it),
``ASHAScheduler`` on the first objective, ``max_concurrent_trials`` from the cluster's
resources, ``max_failures`` retries of a crashed trial from its last checkpoint (a diverging or
always-crashing trial is then recorded as failed and the search goes on).

MLflow: the study is one parent run (tag ``kind=study``); each trial is a nested run (tag
``mlflow.parentRunId``) named after its distinguishing choices (:func:`trial_run_name`), with
each searched parameter logged once under its own name. At the end :func:`finish` closes the
trials' runs, writes the report (:mod:`avsep.platform.report`), logs it to the parent run, and
hands the best trial to the champion guard (:mod:`avsep.platform.registry`), which registers a
pyfunc model and moves ``models:/<name>@champion`` only when the rules allow.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from avsep.config import ExperimentConfig, merge, read_file, validate
from avsep.platform.cluster_size import bootstrap_config, max_nodes, max_resources
from avsep.platform.objectives import Objective, parse
from avsep.platform.registry import register
from avsep.search_spaces import EXPERIMENT_KEY, SearchSpace, get

CONTEXT_KEY = "avsep"


@dataclass
class SearchOptions:
    """Everything ``avsep tune`` can set (paths may be relative; :func:`prepare` resolves)."""

    space: str
    data: str | None = None
    num_samples: int = 8
    max_epochs: int = 2
    gpus_per_trial: float = 0.0
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    objective: str | None = None
    resume: bool = False
    storage: str | None = None
    mlflow_uri: str | None = None
    name: str | None = None
    config: str | None = None
    preset: str | None = None  # None: the base config's model.preset, else "tiny"
    seed: int = 0
    grace_period: int = 1  # ASHA: epochs before a trial can be stopped
    reduction_factor: int = 2  # ASHA: keep 1/reduction_factor of the trials at each rung
    sampler: str = "tpe"  # tpe | random (see avsep.platform.searcher; bohb is refused)
    time_budget: float | None = None  # seconds for the whole search (Tune's time_budget_s)
    finalists: int = 3  # top trials re-scored on fresh validation sets (avsep.platform.finalists)
    max_concurrent: int | None = None
    register_as: str | None = None
    force: bool = False  # move @champion even when the guard would keep the current one
    top_k: int = 10
    check_samples: int = 8
    num_cpus: int | None = None  # local Ray only
    address: str | None = None  # a Ray cluster (else $RAY_ADDRESS, else a new local Ray)
    max_failures: int = 2  # retries of a crashed trial, from its last checkpoint
    optuna_storage: str | None = None  # RDB URL; default sqlite beside the MLflow store
    warm_start: str | None = None  # a finished Optuna study (same storage) to learn from


@dataclass
class Plan:
    """A checked search: resolved paths, base config, objectives."""

    options: SearchOptions
    space: SearchSpace
    base: dict[str, Any]
    objectives: list[Objective]
    storage: str
    name: str
    mlflow_uri: str
    artifact_root: Path | None
    register_as: str
    fingerprint: str = ""
    optuna_storage: str = ""
    optuna_study: str = ""
    links: dict[str, str] = field(default_factory=dict)  # tags naming upstream stage models

    @property
    def experiment_path(self) -> str:
        return f"{self.storage.rstrip('/')}/{self.name}"

    @property
    def report_dir(self) -> Path:
        return report_dir(self.storage, self.name)


def report_dir(storage: str, name: str) -> Path:
    """``<storage>/<name>/report`` for local storage; ``$AVSEP_HOME/reports/<name>`` when the
    search lives on remote storage (``s3://...``), never a local folder named ``s3:``."""
    from avsep import settings

    if "://" in storage and not storage.startswith("file://"):
        return settings.home() / "reports" / name
    return Path(storage.removeprefix("file://")) / name / "report"


class SearchSetupError(ValueError):
    """The search cannot start; raised by :func:`prepare` before any trial."""


def _storage(options: SearchOptions) -> str:
    from avsep import settings

    storage = options.storage or os.environ.get("AVSEP_STORAGE")
    if storage and "://" in storage and not storage.startswith("file://"):
        return storage  # s3://, gs://, ...: shared storage on a cluster
    path = Path((storage or str(settings.home() / "ray_results")).removeprefix("file://"))
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def check_space_configs(space: SearchSpace, base: dict[str, Any], count: int, seed: int = 0
                        ) -> list[ExperimentConfig]:
    """Validate and build (on the meta device: no memory) sampled configs of ``space``, check
    that the data holds a cache that fits each model's spec, and that the train and val
    datasets can be built from it with the sampled options."""
    import torch

    from avsep.models import build
    from avsep.platform.data import build_dataset, resolve_cache

    checked, datasets_seen = [], set()
    for i, sampled in enumerate(space.sample(count, seed)):
        cfg = validate(merge(base, sampled), f"space {space.name!r} sample {i}")
        try:
            with torch.device("meta"):
                model = build(cfg.model.build_dict())
        except (ValueError, KeyError, TypeError) as err:
            raise SearchSetupError(f"space {space.name!r} sample {i} ({cfg.model.build_dict()}) "
                                   f"does not build: {err}") from None
        resolve_cache(cfg.data.cache, model.spec, space=space.name, preset=cfg.model.preset)
        key = json.dumps([cfg.model.build_dict(), cfg.data.options], sort_keys=True, default=str)
        if key not in datasets_seen:  # the datasets accept the options and the data suffices
            datasets_seen.add(key)
            for split in ("train", "val"):
                try:
                    build_dataset(cfg, model, split)
                except (ValueError, KeyError) as err:
                    raise SearchSetupError(f"space {space.name!r} sample {i}: the {split} data "
                                           f"cannot feed {cfg.model.name}: {err}") from None
        checked.append(cfg)
    return checked


def prepare(options: SearchOptions) -> Plan:
    """Check everything that can be checked before a trial starts; see the module docstring."""
    from avsep import settings
    from avsep.platform.data import find_caches
    from avsep.platform.mlflow_utils import check_tracking_uri, experiment_id, resolve_tracking_uri
    from avsep.platform.registry import data_fingerprint

    space = get(options.space)
    if options.num_samples < 1 or options.max_epochs < 1 or options.workers_per_trial < 1:
        raise SearchSetupError("--num-samples, --max-epochs and --workers-per-trial must be >= 1")
    objectives = parse(options.objective or space.objective)
    base = read_file(options.config) if options.config else {}
    # the base config must be valid on its own, even where the space overrides a value
    validate(merge({"model": {"name": "(from the space)"}}, base), options.config or "config")
    data = options.data or base.get("data", {}).get("cache")
    find_caches(data)  # the folder exists and holds caches
    preset = options.preset or base.get("model", {}).get("preset", "tiny")
    base = merge(base, {"model": {"preset": preset},
                        "data": {"cache": str(Path(data).expanduser().resolve())},
                        "train": {"epochs": options.max_epochs, "seed": options.seed}})
    if options.max_failures < 0:
        raise SearchSetupError("--max-failures must be >= 0")
    from avsep.platform.searcher import check as check_searcher

    check_searcher(options.sampler, options.grace_period, options.reduction_factor,
                   options.time_budget, options.max_epochs)
    storage = _storage(options)
    local_root = Path(storage) if "://" not in storage else None
    mlflow_uri = check_tracking_uri(resolve_tracking_uri(
        options.mlflow_uri, local_root.parent if local_root else None))
    base, upstream = upstream_stages(options, space, base, mlflow_uri,
                                     (local_root.parent if local_root else settings.home()))
    check_space_configs(space, base, options.check_samples, options.seed)
    artifact_root = settings.default_artifact_root(local_root.parent) \
        if local_root and mlflow_uri.startswith("sqlite:") else None
    name = options.name or space.name
    # create the store's tables and the experiment now: concurrent trials must not race to
    # initialise a fresh sqlite database
    experiment_id(mlflow_uri, name, artifact_root)
    if upstream:
        from avsep.platform.stages import link_downstream, link_tags

        link_downstream(mlflow_uri, upstream, name)
    optuna_url = optuna_storage_url(options.optuna_storage, mlflow_uri, local_root)
    study = optuna_study_name(optuna_url, name, options.resume, options.warm_start)
    return Plan(options=options, space=space, base=base, objectives=objectives,
                storage=storage, name=name, mlflow_uri=mlflow_uri,
                artifact_root=artifact_root,
                register_as=options.register_as or f"avsep-{space.name}",
                fingerprint=data_fingerprint(base), optuna_storage=optuna_url,
                optuna_study=study, links=link_tags(upstream) if upstream else {})


def _dotted(config: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return None
        config = config[part]
    return config


def upstream_stages(options: SearchOptions, space: SearchSpace, base: dict[str, Any],
                    mlflow_uri: str, root: Path) -> tuple[dict[str, Any], list[Any]]:
    """``base`` with the registered champions of the space's upstream stages (e.g. VocaLiST
    before Y-Net-mr-V) merged in, and their resolutions. A stage whose config key the base
    already sets is skipped; a stage with no champion yet runs its own search first."""
    from dataclasses import replace

    from avsep.platform.stages import apply_overrides, ensure_stages, stages_of

    stages = tuple(s for s in stages_of(space) if _dotted(base, s.provides) is None)
    if not stages:
        return base, []

    def run_upstream(stage: Any) -> None:
        print(f"avsep tune: space {space.name!r} needs models:/{stage.register_as}@champion, "
              f"which does not exist yet: running the {stage.space!r} search first", flush=True)
        run(prepare(replace(options, space=stage.space, register_as=stage.register_as,
                            name=None, objective=None, resume=False, warm_start=None)))

    resolved = ensure_stages(stages, mlflow_uri, root / "stages", run_upstream)
    return apply_overrides(base, resolved), resolved


# --------------------------------------------------------------------------- the Optuna study
def optuna_storage_url(explicit: str | None, mlflow_uri: str, local_root: Path | None) -> str:
    """``explicit``, else ``sqlite:///<dir>/optuna.db`` beside a sqlite MLflow store, else
    beside the local results, else under ``$AVSEP_HOME``. Only the driver writes to it."""
    from avsep import settings

    if explicit:
        if "://" not in explicit:
            raise SearchSetupError(f"--optuna-storage {explicit!r}: expected an RDB URL, e.g. "
                                   "sqlite:////abs/optuna.db or postgresql://user@host/db")
        return explicit
    if mlflow_uri.startswith("sqlite:///"):
        folder = Path(mlflow_uri[len("sqlite:///"):]).parent
    else:
        folder = local_root.parent if local_root else settings.home()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def _study_names(url: str) -> list[str]:
    import optuna

    try:
        return [s.study_name for s in optuna.get_all_study_summaries(storage=url)]
    except Exception as err:  # noqa: BLE001 - bad URL, missing driver, unreachable server
        raise SearchSetupError(f"optuna storage {url}: cannot be opened ({err}); pass another "
                               "--optuna-storage") from None


def optuna_study_name(url: str, name: str, resume: bool, warm_start: str | None) -> str:
    """The Optuna study of this search: ``name``, or ``name-2``, ``name-3``... when a study of
    that name already holds another search (a resumed search keeps its study). Checks that
    ``warm_start`` names a study of the storage."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    existing = set(_study_names(url))
    if warm_start and warm_start not in existing:
        raise SearchSetupError(f"--warm-start {warm_start!r}: no such study in {url}; studies "
                               f"there: {sorted(existing) or 'none'}")
    if resume:
        taken = sorted(n for n in existing if n == name or n.startswith(f"{name}-"))
        return taken[-1] if taken else name
    study, n = name, 1
    while study in existing:
        n += 1
        study = f"{name}-{n}"
    return study


def _seed_study(plan: Plan) -> list[dict[str, Any]]:
    """Create the plan's Optuna study, copy the ``warm_start`` study's finished trials into it,
    and return the paper points still to evaluate (those the old study did not run)."""
    import optuna

    points = [dict(p) for p in plan.space.points_to_evaluate]
    if not plan.options.warm_start:
        return points
    old = optuna.load_study(study_name=plan.options.warm_start, storage=plan.optuna_storage)
    done = [t for t in old.trials if t.state == optuna.trial.TrialState.COMPLETE]
    directions = ["maximize" if o.mode == "max" else "minimize" for o in plan.objectives]
    if len(old.directions) != len(directions):
        raise SearchSetupError(f"--warm-start {plan.options.warm_start!r} has "
                               f"{len(old.directions)} objective(s); this search has "
                               f"{len(directions)}")
    new = optuna.create_study(storage=plan.optuna_storage, study_name=plan.optuna_study,
                              directions=directions, load_if_exists=True)
    new.add_trials(done)
    return [p for p in points if not any(all(t.params.get(k) == v for k, v in p.items())
                                         for t in done)]


# --------------------------------------------------------------------------- MLflow naming
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

    from avsep.platform.mlflow_utils import RunLogger, code_version, configure, experiment_id

    tags = {"kind": "study", "space": plan.space.name, "study": plan.name,
            "optuna_study": plan.optuna_study, "optuna_storage": plan.optuna_storage,
            "data_fingerprint": plan.fingerprint, "code_version": code_version()}
    if plan.options.resume:
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
                       plan.artifact_root)
    opts = plan.options
    logger.log_params({"space": plan.space.name, "num_samples": opts.num_samples,
                       "max_epochs": opts.max_epochs, "seed": opts.seed,
                       "objectives": ",".join(map(str, plan.objectives)),
                       "grace_period": opts.grace_period,
                       "reduction_factor": opts.reduction_factor,
                       "max_failures": opts.max_failures,
                       "warm_start": opts.warm_start or ""})
    return logger.run_id


# --------------------------------------------------------------------------- the trial
def run_trial(config: dict[str, Any]) -> None:
    """A Tune function trainable: one experiment of the space, 1 worker inline or Ray Train."""
    import ray.tune

    from avsep.platform.mlflow_utils import flatten
    from avsep.platform.train_loop import SET_KEYS, RunContext, make_config, train_loop_per_worker

    ctx = config[CONTEXT_KEY]
    experiment = merge(ctx["base"], config[EXPERIMENT_KEY])
    params = {k: v for k, v in config.items() if k not in (CONTEXT_KEY, EXPERIMENT_KEY)}
    trial = ray.tune.get_context()
    name = trial_run_name(params, experiment.get("model", {}).get("name"))
    run = RunContext(**{**ctx["run"], "run_name": name,
                        "params": {**params, SET_KEYS: sorted(flatten(config[EXPERIMENT_KEY]))},
                        "tags": {**ctx["run"]["tags"], "trial_id": trial.get_trial_id(),
                                 "trial_name": trial.get_trial_name()}})
    if ctx["workers_per_trial"] <= 1:
        train_loop_per_worker(make_config(experiment, run))
        return
    from ray.tune.integration.ray_train import TuneReportCallback

    from avsep.platform.trainer import torch_trainer

    trainer = torch_trainer(validate(experiment, "trial config"), run,
                            ctx["workers_per_trial"], ctx["gpus_per_worker"], ctx["storage"],
                            f"{trial.get_trial_id()}-train", callbacks=[TuneReportCallback()],
                            cpus_per_worker=ctx["cpus_per_worker"])
    result = trainer.fit()
    if result.error:
        raise result.error


DRIVER_RESOURCE = "avsep_driver"  # custom resource of the node type preemption cannot take


def _trainable(plan: Plan, function: Any = None) -> Any:
    import ray.tune

    options = plan.options
    if options.workers_per_trial <= 1:
        resources = {"cpu": options.cpus_per_worker, "gpu": options.gpus_per_trial}
    elif cluster_capacity().get(DRIVER_RESOURCE):
        # the trial only launches a TorchTrainer (whose controller Ray attaches to the trial's
        # node) and its workers hold the compute: on a cluster whose on-demand node advertises
        # DRIVER_RESOURCE (cluster.yaml's head), both sit there, out of reach of a spot
        # reclaim, and only the spot workers can be lost
        resources = {"cpu": 0, DRIVER_RESOURCE: 1}
    else:  # Tune refuses an empty request, so the trial holds a sliver of a CPU
        resources = {"cpu": 0.01}
    return ray.tune.with_resources(function or run_trial, resources)


def cluster_capacity() -> dict[str, float]:
    """The cluster's CPUs/GPUs: the most its autoscaling config allows when Ray knows that
    config (as Ray Train does, or from ``~/ray_bootstrap_config.yaml`` on a ``ray up``
    head), else what exists now."""
    import ray

    total = dict(ray.cluster_resources())
    try:
        from ray._private.state import state  # Ray Train reads the same private helper

        most = state.get_max_resources_from_cluster_config() or {}
    except Exception:  # noqa: BLE001 - no autoscaler config (local Ray, older Ray)
        most = {}
    if not most and (config := bootstrap_config()):  # `ray up`'s v1 autoscaler: off the GCS
        most = max_resources(config)
    for key in ("CPU", "GPU"):
        value = most.get(key)
        if value and value < sys.maxsize:
            total[key] = max(total.get(key, 0), float(value))
    return total


def concurrency(plan: Plan) -> int:
    """Trials that fit at once on the cluster (at its autoscaling maximum when known, see
    :func:`cluster_capacity`); at least 1. ``--max-concurrent`` overrides it."""
    if plan.options.max_concurrent:
        return plan.options.max_concurrent
    total = cluster_capacity()
    workers = plan.options.workers_per_trial
    fits = [total.get("CPU", 1) // (plan.options.cpus_per_worker * workers)]
    if plan.options.gpus_per_trial > 0:
        fits.append(total.get("GPU", 0) // (plan.options.gpus_per_trial * workers))
    return max(1, int(min(fits)))


def _param_space(plan: Plan, parent_run_id: str | None = None) -> dict[str, Any]:
    from avsep.platform.mlflow_utils import code_version

    options = plan.options
    run = {"mlflow_uri": plan.mlflow_uri, "mlflow_experiment": plan.name,
           "artifact_root": str(plan.artifact_root) if plan.artifact_root else None,
           "objective": str(plan.objectives[0]), "parent_run_id": parent_run_id,
           "tags": {"space": plan.space.name, "study": plan.name,
                    "data_fingerprint": plan.fingerprint, "code_version": code_version(),
                    **plan.links}}
    return {CONTEXT_KEY: {"base": plan.base, "run": run, "storage": plan.storage,
                          "workers_per_trial": options.workers_per_trial,
                          "gpus_per_worker": options.gpus_per_trial,
                          "cpus_per_worker": options.cpus_per_worker}}


def init_ray(num_cpus: int | None = None, address: str | None = None) -> None:
    """Join the cluster at ``address`` (else ``$RAY_ADDRESS``) when one is asked for, else
    start a new local Ray (``address="local"``: a stale ``/tmp/ray/ray_current_cluster`` left
    by an ended cluster is never joined)."""
    import ray

    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # DDP workers of a trial start slowly on a loaded 2-core box (each imports torch);
    # Ray Train's default 60 s start timeout fails them there
    os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "300")
    if ray.is_initialized():
        return
    cluster = address or os.environ.get("RAY_ADDRESS")
    if cluster and cluster != "local":
        ray.init(address=cluster)
    else:
        ray.init(address="local", num_cpus=num_cpus or min(2, os.cpu_count() or 1),
                 include_dashboard=False, log_to_driver=True, configure_logging=False)


def build_tuner(plan: Plan, parent_run_id: str | None = None, trainable: Any = None) -> Any:
    """A new ``Tuner``, or the restored one when ``--resume`` and the search folder exists
    (unfinished trials continue and errored ones are retried from their last checkpoint).
    ``trainable``: the function each trial runs (default :func:`run_trial`)."""
    import optuna
    import ray.tune

    from avsep.platform import searcher

    trainable = _trainable(plan, trainable)
    if plan.options.resume:
        if not ray.tune.Tuner.can_restore(plan.experiment_path):
            raise SearchSetupError(f"{plan.experiment_path}: nothing to resume (no search "
                                   "state there); run without --resume to start it")
        return ray.tune.Tuner.restore(plan.experiment_path, trainable=trainable,
                                      resume_unfinished=True, resume_errored=True,
                                      restart_errored=False)
    options = plan.options
    search = searcher.build(plan.space.function, plan.objectives, _seed_study(plan),
                            plan.optuna_study, optuna.storages.RDBStorage(plan.optuna_storage),
                            sampler=options.sampler, seed=options.seed,
                            num_samples=options.num_samples, max_epochs=options.max_epochs,
                            grace_period=options.grace_period,
                            reduction_factor=options.reduction_factor,
                            time_budget=options.time_budget)
    return ray.tune.Tuner(
        trainable,
        param_space=_param_space(plan, parent_run_id),
        tune_config=ray.tune.TuneConfig(search_alg=search.search_alg,
                                        scheduler=search.scheduler,
                                        num_samples=plan.options.num_samples,
                                        max_concurrent_trials=concurrency(plan),
                                        time_budget_s=search.time_budget_s),
        run_config=ray.tune.RunConfig(
            name=plan.name, storage_path=plan.storage,
            failure_config=ray.tune.FailureConfig(max_failures=plan.options.max_failures,
                                                  fail_fast=False),
            checkpoint_config=ray.tune.CheckpointConfig(num_to_keep=1),
            verbose=1),
    )


# --------------------------------------------------------------------------- the end
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
    verdict: Any = None  # registry.Verdict of the champion guard (None: no trial finished)
    finalists: Any = None  # finalists.rescore_finalists table (None: not re-scored)


def results_frame(results: Any, objective: Objective) -> Any:
    """One row per trial at its best epoch for ``objective`` (its last epoch when the objective
    was never finite), with ``config/<param>`` columns and ``error``."""
    import math

    import pandas as pd

    from avsep.platform.mlflow_utils import flatten

    rows = []
    for result in results:
        history = result.metrics_dataframe
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
    """Set the final MLflow status of every trial's run from its Tune result."""
    import mlflow

    from avsep.platform.mlflow_utils import configure

    configure(plan.mlflow_uri)
    client = mlflow.MlflowClient()
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
    from avsep.platform.mlflow_utils import RunLogger
    from avsep.platform.report import write_report

    primary = plan.objectives[0]
    frame = results_frame(results, primary)
    _close_runs(plan, results)
    report = write_report(frame, plan.space, plan.objectives, plan.report_dir, plan.options.top_k)
    failed = sum(1 for r in results if r.error)
    outcome = SearchOutcome(report_dir=plan.report_dir, table=report.table, trials=len(results),
                            failed=failed, pareto=report.pareto, importances=report.importances,
                            seconds=seconds)
    study = RunLogger(plan.mlflow_uri, plan.name, "", {}, plan.artifact_root,
                      run_id=parent_run_id or parent_run(plan))
    study.log_metrics({"trials": len(results), "failed_trials": failed,
                       "search_seconds": seconds}, step=0)
    best = _best_result(results, primary)
    outcome.finalists = _finalists(plan, frame, primary)
    if outcome.finalists is not None and len(outcome.finalists):
        from avsep.platform.report import markdown

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
        verdict = register(
            plan.mlflow_uri, candidate, plan.register_as, force=plan.options.force,
            tags={"space": plan.space.name, "study": plan.name,
                  "trial_id": str(best.metrics.get("trial_id", ""))},
            description=f"best of search {plan.name!r} on space {plan.space.name!r}: "
                        f"{primary} = {candidate.value:.3f}; artifacts/package holds the avsep "
                        "model package (config.json: model config, metrics, input contract)")
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
    from avsep.platform.registry import Candidate

    history = best.metrics_dataframe
    values = history[objective.metric].astype(float)
    row = history.loc[values.idxmax() if objective.mode == "max" else values.idxmin()]

    def metric(name: str) -> float | None:
        value = row.get(name)
        return None if value is None or value != value else float(value)

    return Candidate(run_id=best.metrics["mlflow_run_id"], objective=objective,
                     value=float(row[objective.metric]), fingerprint=plan.fingerprint,
                     sdr_mixture=metric("val/sdr_mixture"), sdri=metric("val/sdri"))


def _best_result(results: Any, objective: Objective) -> Any:
    """The trial with the best objective over its epochs that logged a model package."""
    best, best_value = None, None
    for result in results:
        frame = result.metrics_dataframe
        if frame is None or objective.metric not in frame or not (result.metrics or {}).get(
                "mlflow_run_id"):
            continue
        value = frame[objective.metric].astype(float).agg(objective.mode)
        if value != value:
            continue
        better = best_value is None or (value > best_value if objective.mode == "max"
                                        else value < best_value)
        if better:
            best, best_value = result, value
    return best


def local_cpus(options: SearchOptions) -> int:
    """Logical CPUs of a local Ray: 2 (the box), plus one when a trial's DDP workers would
    otherwise fill every CPU and leave none for the trial that launches them."""
    base = options.num_cpus or min(2, os.cpu_count() or 1)
    if options.workers_per_trial > 1:
        return max(base, math.ceil(options.workers_per_trial * options.cpus_per_worker) + 1)
    return base


def run(plan: Plan, trainable: Any = None) -> SearchOutcome:
    """Run (or resume) the search of ``plan`` and finish it; see the module docstring.
    ``trainable``: the function each trial runs (default :func:`run_trial`)."""
    import ray

    from avsep.platform.mlflow_utils import check_cluster_tracking_uri

    init_ray(local_cpus(plan.options), plan.options.address)
    # an autoscaling cluster may start with the head alone: count the nodes it can grow to
    nodes = max(sum(1 for n in ray.nodes() if n["Alive"]), max_nodes(bootstrap_config()))
    check_cluster_tracking_uri(plan.mlflow_uri, nodes)
    parent = parent_run(plan)
    tuner = build_tuner(plan, parent, trainable)
    start = time.perf_counter()
    results = tuner.fit()
    return finish(plan, results, time.perf_counter() - start, parent)


def describe(plan: Plan) -> dict[str, Any]:
    """A printable summary of the plan (for logs)."""
    return {"space": plan.space.name, "study": plan.name, "storage": plan.storage,
            "mlflow": plan.mlflow_uri, "optuna": f"{plan.optuna_storage} (study "
                                                 f"{plan.optuna_study!r})",
            "data_fingerprint": plan.fingerprint, "objectives": [str(o) for o in plan.objectives],
            "options": asdict(plan.options)}


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

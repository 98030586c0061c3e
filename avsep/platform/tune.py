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
each searched parameter logged once under its own name. While a tracking server is away, each
run's records wait in a spool on the search's storage (:func:`~.study_runs.spool_root`) and are
delivered in order when it is back; past ``--tracking-outage-limit`` seconds the search fails
naming the URI and the limit (:mod:`avsep.tracking.spool`). At the end :func:`finish` closes the
trials' runs, writes the report (:mod:`avsep.platform.report`), logs it to the parent run, and
hands the trials, best first, to the champion guard (:mod:`avsep.tracking.registry`), which
registers pyfunc models and moves ``models:/<name>@champion`` (best overall) and
``@champion-audio`` (best without video) only when the rules allow.

The pieces live in their own modules: :mod:`~avsep.platform.search_plan` (options, plan),
:mod:`~avsep.platform.optuna_study`, :mod:`~avsep.platform.ray_resources` (Ray, capacity,
concurrency), :mod:`~avsep.platform.study_runs` (MLflow run names) and
:mod:`~avsep.platform.search_results` (the end of a search).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from avsep.config import ExperimentConfig, merge, read_file, validate
from avsep.platform.cluster_size import bootstrap_config, max_nodes
from avsep.platform.objectives import parse
from avsep.platform.optuna_study import optuna_storage_url, optuna_study_name, seed_study
from avsep.platform.ray_resources import (
    DRIVER_RESOURCE,
    cluster_capacity,
    concurrency,
    init_ray,
    init_search_ray,
    local_cpus,
)
from avsep.platform.search_plan import (
    CONTEXT_KEY,
    Plan,
    SearchOptions,
    SearchSetupError,
    is_remote_storage,
)
from avsep.platform.search_results import SearchOutcome, finish
from avsep.platform.study_runs import parent_run, spool_root, trial_run_name
from avsep.search_spaces import EXPERIMENT_KEY, SearchSpace, get

__all__ = ["Plan", "SearchOptions", "SearchOutcome", "SearchSetupError", "build_tuner",
           "check_space_configs", "describe", "init_ray", "init_search_ray", "local_cpus",
           "prepare", "run", "run_trial"]

#: Tune's ``reuse_actors``: a finished (or ASHA-stopped) trial's process takes the next trial
#: that needs the same resources, so a trial does not start a process and import torch, MLflow
#: and avsep again (several seconds a trial on 2 cores: Swaminathan's smoke reproduction, 5
#: trials and 8 scorings, took 45 s instead of 62 s, one run each). A trial seeds its own
#: generators and opens its own MLflow run, and Ray ends a stopped trial's thread
#: (``SystemExit`` in its report) before the process is reused.
REUSE_TRIAL_PROCESSES = True


def _storage(options: SearchOptions) -> str:
    from avsep import settings

    storage = options.storage or os.environ.get("AVSEP_STORAGE")
    if storage and is_remote_storage(storage):
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
    from avsep.platform.fingerprint import data_fingerprint
    from avsep.tracking.store import check_tracking_uri, experiment_id, resolve_tracking_uri

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
    if not options.tracking_outage_limit > 0:
        raise SearchSetupError(f"--tracking-outage-limit {options.tracking_outage_limit:g}: "
                               "expected seconds > 0 (default 600)")
    from avsep.platform.searcher import check as check_searcher

    check_searcher(options.sampler, options.grace_period, options.reduction_factor,
                   options.time_budget, options.max_epochs)
    storage = _storage(options)
    local_root = None if is_remote_storage(storage) else Path(storage)
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


def run_trial(config: dict[str, Any]) -> None:
    """A Tune function trainable: one experiment of the space, 1 worker inline or Ray Train."""
    import ray.tune

    from avsep.platform.train_loop import SET_KEYS, RunContext, make_config, train_loop_per_worker
    from avsep.tracking.store import flatten

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


def ray_trainable(plan: Plan, function: Any = None) -> Any:
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


def trial_param_space(plan: Plan, parent_run_id: str | None = None) -> dict[str, Any]:
    from avsep.tracking.store import code_version

    options = plan.options
    run = {"mlflow_uri": plan.mlflow_uri, "mlflow_experiment": plan.name,
           "artifact_root": str(plan.artifact_root) if plan.artifact_root else None,
           "objective": str(plan.objectives[0]), "parent_run_id": parent_run_id,
           "spool_root": str(spool_root(plan)),
           "outage_limit_s": options.tracking_outage_limit,
           "tags": {"space": plan.space.name, "study": plan.name,
                    "data_fingerprint": plan.fingerprint, "code_version": code_version(),
                    **plan.links}}
    return {CONTEXT_KEY: {"base": plan.base, "run": run, "storage": plan.storage,
                          "workers_per_trial": options.workers_per_trial,
                          "gpus_per_worker": options.gpus_per_trial,
                          "cpus_per_worker": options.cpus_per_worker}}


#: checkpoints each trial keeps: the newest is all a resume needs, but a driver killed between
#: a trial's checkpoint rotation and the next experiment-state save leaves a state that names
#: the one before it (seen: "Could not recover from checkpoint as it does not exist on storage
#: anymore" on ``--resume`` after a SIGKILL, load ~15); keeping two keeps that one on disk
CHECKPOINTS_KEPT = 2


def quiet_local_snapshot_warning(storage: str) -> None:
    """Each trial keeps two checkpoints (:data:`CHECKPOINTS_KEPT`), and Tune writes its
    experiment state after trial checkpoints. With CPU-scale epochs of a second or two, its
    "excessive snapshotting" warning then fires every few epochs and buries the progress lines,
    for a ~200 KB local JSON write whose advice (keep more checkpoints) would cost disk. On
    remote storage (``s3://``, ...) that write is an upload, and the warning stays on. A value
    the user set wins."""
    if not is_remote_storage(storage):
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def build_tuner(plan: Plan, parent_run_id: str | None = None, trainable: Any = None) -> Any:
    """A new ``Tuner``, or the restored one when ``--resume`` and the search folder exists
    (unfinished trials continue and errored ones are retried from their last checkpoint).
    ``trainable``: the function each trial runs (default :func:`run_trial`)."""
    import optuna
    import ray.tune

    from avsep.platform import searcher

    trainable = ray_trainable(plan, trainable)
    quiet_local_snapshot_warning(plan.storage)
    if plan.options.resume:
        if not ray.tune.Tuner.can_restore(plan.experiment_path):
            raise SearchSetupError(f"{plan.experiment_path}: nothing to resume (no search "
                                   "state there); run without --resume to start it")
        return restored_tuner(plan, trainable)
    options = plan.options
    search = searcher.build(plan.space.function, plan.objectives, seed_study(plan),
                            plan.optuna_study, optuna.storages.RDBStorage(plan.optuna_storage),
                            sampler=options.sampler, seed=options.seed,
                            num_samples=options.num_samples, max_epochs=options.max_epochs,
                            grace_period=options.grace_period,
                            reduction_factor=options.reduction_factor,
                            time_budget=options.time_budget)
    return ray.tune.Tuner(
        trainable,
        param_space=trial_param_space(plan, parent_run_id),
        tune_config=ray.tune.TuneConfig(search_alg=search.search_alg,
                                        scheduler=search.scheduler,
                                        num_samples=plan.options.num_samples,
                                        max_concurrent_trials=concurrency(plan),
                                        time_budget_s=search.time_budget_s,
                                        reuse_actors=REUSE_TRIAL_PROCESSES),
        run_config=run_config(plan),
    )


def restored_tuner(plan: Plan, trainable: Any) -> Any:
    """The ``Tuner`` saved under ``plan.experiment_path``, restored: finished trials are kept,
    unfinished ones continue and errored ones are retried from their last checkpoint."""
    import ray.tune

    return ray.tune.Tuner.restore(plan.experiment_path, trainable=trainable,
                                  resume_unfinished=True, resume_errored=True,
                                  restart_errored=False)


def run_config(plan: Plan) -> Any:
    """The ``RunConfig`` of a search (and of a reproduce stage): ``plan.name`` under
    ``plan.storage``, ``--max-failures`` retries a trial, :data:`CHECKPOINTS_KEPT` checkpoints."""
    import ray.tune

    return ray.tune.RunConfig(
        name=plan.name, storage_path=plan.storage,
        failure_config=ray.tune.FailureConfig(max_failures=plan.options.max_failures,
                                              fail_fast=False),
        checkpoint_config=ray.tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        verbose=1)


def run(plan: Plan, trainable: Any = None) -> SearchOutcome:
    """Run (or resume) the search of ``plan`` and finish it; see the module docstring.
    ``trainable``: the function each trial runs (default :func:`run_trial`)."""
    import ray

    from avsep.tracking.store import check_cluster_tracking_uri

    init_search_ray(plan.options)
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

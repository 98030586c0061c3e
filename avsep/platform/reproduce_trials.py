"""The trials of ``avsep reproduce``: every arm × seed of a stage as concurrent trials of one Ray
Tune run, and the scoring of the trained models as Ray tasks beside them.

A stage's trials are a grid (``tune.grid_search``) over :class:`Point` s: one per distinct
training configuration (arms with the same space and parameters train once,
:func:`avsep.platform.reproduce.training_key`) and seed. Each trial is
:func:`avsep.platform.tune.run_trial`, the trial function of ``avsep tune``, given the point's
experiment (the space's configuration of the arm's parameters, the seed, and the models of
earlier stages it builds on): the same training loop, MLflow run, epoch checkpoints, DDP over
``--workers-per-trial`` workers and retries from the last checkpoint. The stage's search is
checked and named by :func:`avsep.platform.tune.prepare`, so its storage, MLflow experiment and
parent run, ``--max-concurrent`` (default: what the cluster fits, e.g. 2 trials of 1 CPU on a
2-core machine), ``--address`` and ``--resume`` (``Tuner.restore``: finished trials are kept,
interrupted ones continue from their checkpoint) behave as ``avsep tune``'s do. Stages run in
order (a later stage may train on, or be scored with, an earlier stage's models of the same
seed).

Scoring loads each trained run's own model (``runs:/<id>/model``) in a Ray task of one trial's
resources, so the test sets of several arms are scored at once, on the cluster's workers when
there is a cluster. Each scored table is kept under ``<out>/scores`` by arm, seed and run id: a
resumed reproduction does not score a finished run again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from avsep.platform.reproduce import ReproduceOptions
    from avsep.studies.base import Arm, Study

#: the key of a trial's config that holds its point (beside ``avsep tune``'s context and
#: experiment keys)
POINT_KEY = "reproduce"


@dataclass(frozen=True)
class Point:
    """One trial of a reproduction: a training configuration (the flat parameters of ``space``,
    overrides applied) trained with ``seed``; ``arms`` are the arm keys it serves."""

    stage: int
    seed: int
    space: str
    key: str
    arms: tuple[str, ...]
    params: dict[str, Any] = field(hash=False)
    model: str = ""
    #: the ``train`` config keys of the preset's protocol (Study.train_section: the paper's
    #: optimiser, lr schedule, early stopping at --preset paper; none at tiny)
    train: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def label(self) -> str:
        return f"{'+'.join(self.arms)}·seed{self.seed}"


def study_stages(study: Study) -> list[tuple[str, ...]]:
    """The study's stages in order; arms no stage lists form the last one."""
    stages = list(study.stages) or [tuple(a.key for a in study.arms)]
    rest = tuple(a.key for a in study.arms if not any(a.key in s for s in stages))
    return stages + [rest] if rest else stages


def space_experiment(space: str, params: dict[str, Any]) -> dict[str, Any]:
    """The experiment config that ``space``'s define-by-run function makes of ``params``."""
    import optuna

    from avsep.search_spaces import EXPERIMENT_KEY, get

    return get(space)(optuna.trial.FixedTrial(params))[EXPERIMENT_KEY]


def stage_points(study: Study, stage: int, arms: list[Arm], options: ReproduceOptions
                 ) -> list[Point]:
    """The trials of one stage: each distinct training configuration of ``arms`` × each seed."""
    from avsep.platform.reproduce import arm_params, training_key

    configs: dict[str, tuple[str, dict[str, Any], list[str], dict[str, Any]]] = {}
    for arm in arms:
        key = training_key(arm)
        params = {**arm_params(arm), **options.train_overrides}
        train = {k: v for k, v in study.train_section(arm, options.preset).items()
                 if k not in options.train_overrides}  # a --lr / --batch-size flag wins
        configs.setdefault(key, (arm.space, params, [], train))[2].append(arm.key)
    points = []
    for seed in range(options.seeds):
        for key, (space, params, keys, train) in configs.items():
            model = space_experiment(space, params).get("model", {}).get("name", "")
            points.append(Point(stage, seed, space, key, tuple(keys), params, model, train))
    return points


def point_experiment(point: Point, upstream: dict[str, Any]) -> dict[str, Any]:
    """What a trial merges over the stage's base config: the space's experiment of the point's
    parameters, its seed, and ``upstream`` (the config keys naming the earlier stages' models of
    this seed, e.g. ``model.vocalist_checkpoint``)."""
    from avsep.config import merge

    return merge(merge(space_experiment(point.space, point.params), upstream),
                 {"train": {**point.train, "seed": point.seed}})


def run_point(config: dict[str, Any]) -> None:
    """The Tune function trainable of a reproduction's trial: ``avsep tune``'s
    :func:`~avsep.platform.tune.run_trial` on the point's experiment, its MLflow run tagged with
    the space, arms and seed it trains."""
    from avsep.platform.search_plan import CONTEXT_KEY
    from avsep.platform.tune import run_trial
    from avsep.search_spaces import EXPERIMENT_KEY

    point = config[POINT_KEY]
    context = config[CONTEXT_KEY]
    tags = {**context["run"]["tags"], "space": point["space"],
            "reproduce_arms": ",".join(point["arms"]), "reproduce_seed": str(point["seed"])}
    run_trial({CONTEXT_KEY: {**context, "run": {**context["run"], "tags": tags}},
               EXPERIMENT_KEY: point["experiment"], **point["params"], "seed": point["seed"]})


def stage_name(study: Study, stage: int) -> str:
    return f"reproduce-{study.key}-stage{stage}"


def stage_plan(study: Study, stage: int, points: list[Point], cache: Path,
               options: ReproduceOptions, base: dict[str, Any]) -> Any:
    """The checked search of one stage (:func:`avsep.platform.tune.prepare`): ``base`` is the
    base config, with the first seed's upstream models set so no upstream search starts."""
    from avsep.platform import tune

    name = stage_name(study, stage)
    config = options.out / "configs" / f"{name}.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(base))
    search = tune.SearchOptions(
        space=points[0].space, data=str(cache), num_samples=len(points),
        max_epochs=options.epochs, grace_period=options.epochs, name=name, config=str(config),
        preset=options.preset, mlflow_uri=options.mlflow_uri,
        register_as=f"avsep-reproduce-{study.key}", storage=str(options.out / "ray_results"),
        check_samples=0, finalists=0, address=options.address,
        gpus_per_trial=options.gpus_per_trial, workers_per_trial=options.workers_per_trial,
        max_concurrent=options.max_concurrent, resume=options.resume,
        tracking_outage_limit=options.tracking_outage_limit)
    return tune.prepare(search)


def trial_dirname(trial: Any) -> str:
    """``audio-seed0_<trial id>``: a trial's folder names its arms and seed (Tune's default
    spells out the whole point)."""
    point = trial.config.get(POINT_KEY, {})
    return f"{'+'.join(point.get('arms', ['trial']))}-seed{point.get('seed', 0)}_{trial.trial_id}"


def build_stage_tuner(plan: Any, values: list[dict[str, Any]], parent_run_id: str) -> Any:
    """The stage's ``Tuner``: a grid over ``values`` (one per point) with no early stopping, or
    with ``--resume`` the restored one when the stage's search folder exists (a stage the killed
    driver never reached starts fresh)."""
    import ray.tune

    from avsep.platform import tune

    trainable = tune.ray_trainable(plan, run_point)
    if plan.options.resume and ray.tune.Tuner.can_restore(plan.experiment_path):
        print(f"[reproduce] resuming {plan.experiment_path}", flush=True)
        return tune.restored_tuner(plan, trainable)
    tune.quiet_local_snapshot_warning(plan.storage)
    options = plan.options
    # A trial of one worker holds its own CPUs (and GPUs), so the cluster's resources alone
    # keep it to ``tune.concurrency`` trials at once, and the searcher needs no limit unless
    # --max-concurrent asks for one: every point is then a trial (PENDING until resources free
    # up) from Tune's first experiment-state save, and a resumed stage restores every point
    # from that state. With the searcher's limit, points not yet created live only in the
    # searcher's own state, which a killed driver leaves out of step with the trials: it still
    # counted finished trials as live (the resumed stage ran below its concurrency), and once
    # a resumed stage ran only the 2 restored trials of 6 (CI, 2026-12-06). A DDP trial holds
    # a sliver of a CPU while its TorchTrainer's workers hold the compute, so there the
    # searcher keeps the limit, and :func:`missing_points` names what a resume lost.
    limit = options.max_concurrent or (tune.concurrency(plan) if options.workers_per_trial > 1
                                       else None)
    return ray.tune.Tuner(
        trainable,
        param_space={**tune.trial_param_space(plan, parent_run_id),
                     POINT_KEY: ray.tune.grid_search(values)},
        tune_config=ray.tune.TuneConfig(num_samples=1,
                                        max_concurrent_trials=limit,
                                        trial_dirname_creator=trial_dirname,
                                        reuse_actors=tune.REUSE_TRIAL_PROCESSES),
        run_config=tune.run_config(plan))


def start_ray(options: ReproduceOptions) -> None:
    """Join the cluster (``--address``, else ``$RAY_ADDRESS``: set inside a Ray job) or start a
    local Ray, as ``avsep tune`` does; refuse a tracking store the cluster's nodes cannot reach."""
    import ray

    from avsep.platform import tune
    from avsep.platform.cluster_size import bootstrap_config, max_nodes
    from avsep.platform.search_plan import SearchOptions
    from avsep.tracking.store import check_cluster_tracking_uri

    tune.init_search_ray(SearchOptions(space="", workers_per_trial=options.workers_per_trial,
                                       address=options.address))
    nodes = max(sum(1 for n in ray.nodes() if n["Alive"]), max_nodes(bootstrap_config()))
    check_cluster_tracking_uri(options.mlflow_uri or "", nodes)


def train_stage(study: Study, stage: int, arms: list[Arm], cache: Path,
                options: ReproduceOptions, base: dict[str, Any],
                upstream: dict[int, dict[str, Any]]) -> dict[tuple[int, str], str]:
    """Train every point of a stage as concurrent trials of one Tune run;
    ``(seed, training key) -> MLflow run id`` of the trials that finished with a model.
    ``upstream``: seed -> the config keys naming that seed's models of earlier stages."""
    from avsep.config import merge
    from avsep.platform import tune

    points = stage_points(study, stage, arms, options)
    plan = stage_plan(study, stage, points, cache, options, merge(base, upstream.get(0, {})))
    values = [{"arms": list(p.arms), "seed": p.seed, "space": p.space, "key": p.key,
               "params": p.params, "experiment": point_experiment(p, upstream.get(p.seed, {}))}
              for p in points]
    print(f"[reproduce] stage {stage}: {len(points)} trial(s) ("
          + ", ".join(p.label for p in points) + f"), {options.epochs} epoch(s) each, "
          f"{tune.concurrency(plan)} at once", flush=True)
    parent = tune.parent_run(plan)
    results = build_stage_tuner(plan, values, parent).fit()
    lost = missing_points(points, results)
    if lost:
        why = "; its restored search state had lost them" if options.resume else ""
        raise RuntimeError(
            f"stage {stage}: Ray Tune never started {len(lost)} of {len(points)} trial(s) "
            f"({', '.join(lost)}){why}. The trials it ran are kept in {plan.experiment_path}; "
            "run the command again without --resume to train this stage afresh")
    tune.finish(plan, results, parent_run_id=parent)
    trained: dict[tuple[int, str], str] = {}
    for result in results:
        point = (result.config or {}).get(POINT_KEY)
        run_id = (result.metrics or {}).get("mlflow_run_id")
        if point and run_id and not result.error:
            trained[(int(point["seed"]), str(point["key"]))] = run_id
    if options.resume:
        close_orphans(plan, results)
    return trained


def missing_points(points: list[Point], results: Any) -> list[str]:
    """Labels of the ``points`` that no trial of ``results`` (a Tune ``ResultGrid``) ran,
    errored trials included: a stage restored from a killed driver's state can lose the points
    its searcher had not yet turned into trials."""
    ran = set()
    for result in results:
        point = (result.config or {}).get(POINT_KEY) or {}
        ran.add((point.get("seed"), point.get("key")))
    return [p.label for p in points if (p.seed, p.key) not in ran]


def close_orphans(plan: Any, results: Any) -> list[str]:
    """Mark ``KILLED`` the trial runs of this stage that a killed driver left ``RUNNING`` and
    no trial carries on: a trial killed before its first checkpoint starts again (a new run)
    when the stage resumes. Returns their ids."""
    from avsep.tracking.spool import OutageClock, patient_client
    from avsep.tracking.store import experiment_id

    client = patient_client(plan.mlflow_uri, OutageClock(plan.mlflow_uri,
                                                         plan.options.tracking_outage_limit))
    kept = {(r.metrics or {}).get("mlflow_run_id") for r in results}
    stale = [run.info.run_id for run in client.search_runs(
        [experiment_id(plan.mlflow_uri, plan.name, plan.artifact_root)],
        filter_string="attributes.status = 'RUNNING'")
        if "reproduce_seed" in run.data.tags and run.info.run_id not in kept]
    for run_id in stale:
        client.set_terminated(run_id, "KILLED")
    return stale


@dataclass(frozen=True)
class ScoreJob:
    """One arm's model of one seed to score; ``trained``: that seed's arm key -> run id (the
    helper models its evaluation names, e.g. Case II's detector)."""

    arm: Arm
    run_id: str
    seed: int
    trained: dict[str, str] = field(hash=False)


def _score(job: ScoreJob, cache: Path, options: ReproduceOptions) -> pd.DataFrame:
    from avsep.platform.reproduce import score_arm

    return score_arm(job.arm, job.run_id, cache, job.seed, options, job.trained)


def score_all(jobs: list[ScoreJob], cache: Path, options: ReproduceOptions
              ) -> list[pd.DataFrame]:
    """Every job's test rows, scored in Ray tasks of one trial's resources at once (a table kept
    under ``<out>/scores`` from an earlier, interrupted run of the same model is reused)."""
    import pandas as pd
    import ray

    folder = options.out / "scores"
    folder.mkdir(parents=True, exist_ok=True)
    task = ray.remote(num_cpus=1, num_gpus=options.gpus_per_trial)(_score)
    pending, frames = {}, {}
    for number, job in enumerate(jobs):
        path = folder / f"{job.arm.key}-seed{job.seed}-{job.run_id}.pkl"
        if path.is_file():
            frames[number] = pd.read_pickle(path)
            continue
        print(f"[reproduce] seed {job.seed}: scoring arm {job.arm.key}", flush=True)
        pending[number] = (path, task.remote(job, cache, options))
    for number, (path, ref) in pending.items():
        frames[number] = ray.get(ref)
        frames[number].to_pickle(path)
    return [frames[n] for n in sorted(frames)]

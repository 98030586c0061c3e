"""Ray for a search: joining or starting the cluster, its capacity (at its autoscaling maximum
when known) and how many trials fit at once."""

from __future__ import annotations

import logging
import math
import os
import sys

from avsep.platform.cluster_size import bootstrap_config, max_resources
from avsep.platform.search_plan import Plan, SearchOptions

DRIVER_RESOURCE = "avsep_driver"  # custom resource of the node type preemption cannot take

#: Loggers kept at ERROR in the workers of a local Ray that runs Ray Train (``init_ray(...,
#: ray_train=True)``). Ray Train v2's placement-group cleaner asks Ray's State API every second
#: whether its run's controller lives; the State API is served by the dashboard, which a local
#: Ray here runs without, so the cleaner warned "Failed to query Ray Train Controller actor
#: state" every second of every `avsep train` and DDP trial, and could never act. Its job (free
#: a crashed run's placement group) needs no one on a local Ray, which ends with its driver. On
#: a cluster (`ray start --head`, the dashboard on) it is not silenced.
QUIET_IN_LOCAL_RAY = ("ray.train.v2._internal.execution.controller.placement_group_cleaner",)


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


def init_ray(num_cpus: int | None = None, address: str | None = None,
             ray_train: bool = False) -> None:
    """Join the cluster at ``address`` (else ``$RAY_ADDRESS``) when one is asked for, else
    start a new local Ray (``address="local"``: a stale ``/tmp/ray/ray_current_cluster`` left
    by an ended cluster is never joined). ``ray_train``: the command runs Ray Train (``avsep
    train``, DDP trials), whose placement-group cleaner a local Ray then keeps quiet
    (:data:`QUIET_IN_LOCAL_RAY`; the hook is a job-wide runtime env, so the workers Ray starts
    with a node cannot take its tasks: it is set only where it is needed)."""
    import ray

    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # DDP workers of a trial start slowly on a loaded 2-core box (each imports torch);
    # Ray Train's default 60 s start timeout fails them there
    os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "300")
    # Ray Train's print patch sends a worker's print to its logger and, where the worker's
    # stdout is wrapped (it is), to stdout as well: each epoch line reached the driver twice
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    if ray.is_initialized():
        return
    cluster = address or os.environ.get("RAY_ADDRESS")
    if cluster and cluster != "local":
        ray.init(address=cluster)
    else:
        # no node of a local Ray is drained or preempted; Ray Train's watcher of drains is one
        # process more per run, and Ray logged an error line about it at every run's start
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
        quiet = {"worker_process_setup_hook": quiet_local_ray_worker} if ray_train else None
        ray.init(address="local", num_cpus=num_cpus or min(2, os.cpu_count() or 1),
                 include_dashboard=False, log_to_driver=True, configure_logging=False,
                 runtime_env=quiet)


def init_search_ray(options: SearchOptions) -> None:
    """:func:`init_ray` for a search or a reproduction: :func:`local_cpus` CPUs on a local Ray,
    and Ray Train's quieting where its trials run DDP (more than one worker a trial)."""
    init_ray(local_cpus(options), options.address, ray_train=options.workers_per_trial > 1)


def quiet_local_ray_worker() -> None:
    """Ray's ``worker_process_setup_hook`` of a local Ray: :data:`QUIET_IN_LOCAL_RAY` at ERROR."""
    for name in QUIET_IN_LOCAL_RAY:
        logging.getLogger(name).setLevel(logging.ERROR)


def local_cpus(options: SearchOptions) -> int:
    """Logical CPUs of a local Ray: 2 (the box), plus one when a trial's DDP workers would
    otherwise fill every CPU and leave none for the trial that launches them."""
    base = options.num_cpus or min(2, os.cpu_count() or 1)
    if options.workers_per_trial > 1:
        return max(base, math.ceil(options.workers_per_trial * options.cpus_per_worker) + 1)
    return base

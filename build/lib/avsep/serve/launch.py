"""Start the Serve application on a local Ray, or write a ``serve deploy`` config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

APP_NAME = "avsep"
IMPORT_PATH = "avsep.serve.app:build_app"
AUTO_MAX_REPLICAS = 4  # the most replicas `--replicas auto` starts (build_app's max_replicas)


def app_args(model: str, tracking_uri: str | None, replicas: str, gpus_per_replica: float,
             limits: dict[str, Any], batching: bool, max_batch_size: int,
             cpus_per_replica: float = 1.0, threads_per_replica: int = 0,
             precision: str = "fp32", backend: str = "auto") -> dict[str, Any]:
    """The ``args`` of :func:`avsep.serve.app.build_app`, checked.

    ``threads_per_replica`` 0 means one torch thread per CPU of the replica.
    """
    from avsep.serve.backends import BACKENDS
    from avsep.serve.limits import Limits
    from avsep.serve.precision import PRECISION_CHOICES

    if replicas != "auto":
        try:
            if int(replicas) < 1:
                raise ValueError
        except ValueError as err:
            raise ValueError(
                f"--replicas must be a positive integer or 'auto', got {replicas!r}") from err
    if gpus_per_replica < 0:
        raise ValueError(f"--gpus-per-replica must be >= 0, got {gpus_per_replica}")
    if cpus_per_replica < 0:
        raise ValueError(f"--cpus-per-replica must be >= 0, got {cpus_per_replica}")
    if threads_per_replica < 0:
        raise ValueError(f"--threads-per-replica must be >= 0 (0: one per CPU), got "
                         f"{threads_per_replica}")
    if max_batch_size < 1:
        raise ValueError(f"--max-batch-size must be >= 1, got {max_batch_size}")
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}, got "
                         f"{precision!r}")
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"--backend must be auto, {', '.join(BACKENDS)}; got {backend!r}")
    # the overload limits (and their defaults) are checked here, before anything starts
    Limits.resolve(limits, AUTO_MAX_REPLICAS if replicas == "auto" else int(replicas),
                   cpus_per_replica)
    return {"model": model, "tracking_uri": tracking_uri,
            "num_replicas": replicas if replicas == "auto" else int(replicas),
            "gpus_per_replica": gpus_per_replica, "limits": limits, "batching": batching,
            "max_batch_size": max_batch_size, "cpus_per_replica": cpus_per_replica,
            "threads_per_replica": threads_per_replica, "precision": precision,
            "backend": backend}


def export_config(path: Path, args: dict[str, Any], host: str, port: int) -> Path:
    """Write a Serve config file for ``serve deploy`` on a cluster."""
    config = {
        "proxy_location": "HeadOnly",
        "http_options": {"host": host, "port": port},
        "applications": [{"name": APP_NAME, "route_prefix": "/", "import_path": IMPORT_PATH,
                          "args": args}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_ray(args: dict[str, Any], num_cpus: int | None = None) -> None:
    """Start a local Ray for serving unless one is running; its HTTP proxy refuses uploads over
    the app's size limit (``args["limits"]``) before reading them."""
    import ray

    from avsep.serve.limits import Limits
    from avsep.serve.proxy_guard import install

    if ray.is_initialized():
        return
    install(Limits(**(args.get("limits") or {})).max_request_bytes)
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             configure_logging=False)


def start_local(args: dict[str, Any], host: str, port: int, num_cpus: int | None = None):
    """Start Ray (if needed, :func:`start_ray`) and Serve on ``host:port``; deploy; return the
    ingress handle."""
    from ray import serve

    from avsep.serve.app import build_app

    start_ray(args, num_cpus)
    serve.start(http_options={"host": host, "port": port})
    return serve.run(build_app(args), name=APP_NAME, route_prefix="/")

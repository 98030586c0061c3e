"""`avsep serve`: a Ray Serve application with a FastAPI ingress for a trained model."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from avsep.serve.backends import BACKEND_CHOICES, BACKEND_HELP
from avsep.serve.precision import PRECISION_CHOICES, PRECISION_HELP

HELP = "serve a model over HTTP with Ray Serve (POST /separate, GET /info, GET /healthz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="models:/avsep-av_singing@champion",
                        help="models:/NAME@alias, runs:/RUN_ID/model or a model package folder "
                             "(default: %(default)s)")
    parser.add_argument("--mlflow-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the sqlite "
                             "store in $AVSEP_HOME)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind; 127.0.0.1 unless told otherwise")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--replicas", default="1", help="number of replicas, or 'auto'")
    parser.add_argument("--gpus-per-replica", type=float, default=0.0)
    parser.add_argument("--max-upload-mb", type=float, default=50.0)
    parser.add_argument("--max-duration-s", type=float, default=600.0)
    parser.add_argument("--max-ongoing-requests", type=int, default=None, metavar="N",
                        help="requests one replica computes at once (default: max(8, 4 x its "
                             "CPUs)); beyond this and --max-queued-requests the server answers "
                             "503 with Retry-After (docs/serve.md, Overload)")
    parser.add_argument("--max-queued-requests", type=int, default=None, metavar="N",
                        help="requests waiting at the HTTP proxy for a replica (default: 4 x "
                             "--max-ongoing-requests x replicas; 4 replicas, the most 'auto' "
                             "starts, with --replicas auto)")
    parser.add_argument("--retry-after-s", type=float, default=None, metavar="S",
                        help="the Retry-After header of a 503 answered under overload "
                             "(default 5, rounded up to whole seconds)")
    parser.add_argument("--max-batch-size", type=int, default=8,
                        help="most chunks in one model call (default %(default)s); on CPU a "
                             "replica caps it at the size it measures cheapest per chunk at "
                             "start (docs/serve.md)")
    parser.add_argument("--no-batching", action="store_true",
                        help="run each request's chunks alone instead of batching across requests")
    parser.add_argument("--cpus-per-replica", type=float, default=None,
                        help="Ray CPUs of each replica (default: this machine's cores divided "
                             "among the replicas; 1 with --export or --replicas auto)")
    parser.add_argument("--threads-per-replica", type=int, default=0,
                        help="torch threads of each replica (default 0: one per CPU)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                        help=PRECISION_HELP)
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="auto",
                        help=BACKEND_HELP)
    parser.add_argument("--wiener-iterations", type=int, default=None, metavar="N",
                        help="Wiener EM iterations of requests that send no `wiener_iterations` "
                             "field; overrides the default, the count the model was validated "
                             "at (recorded in its package)")
    parser.add_argument("--export", type=Path, metavar="FILE",
                        help="write a `serve deploy` config to FILE instead of serving")


def run(args: argparse.Namespace) -> int:
    import os

    from avsep.serve.launch import app_args, export_config, start_local, start_ray
    from avsep.tracking.store import resolve_tracking_uri

    limits = {"max_upload_bytes": int(args.max_upload_mb * 1024 * 1024),
              "max_duration_s": args.max_duration_s}
    overload = {"max_ongoing_requests": args.max_ongoing_requests,
                "max_queued_requests": args.max_queued_requests,
                "retry_after_s": args.retry_after_s}
    limits.update({name: value for name, value in overload.items() if value is not None})
    # an exported config runs elsewhere: only an explicit store travels with it
    explicit = args.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI")
    tracking_uri = explicit if args.export else resolve_tracking_uri(args.mlflow_uri)
    cpus = args.cpus_per_replica
    if cpus is None:
        local = not args.export and args.replicas.isdigit() and int(args.replicas) > 0
        cpus = max(1, (os.cpu_count() or 1) // int(args.replicas)) if local else 1.0
    try:
        config = app_args(args.model, tracking_uri, args.replicas, args.gpus_per_replica,
                          limits, not args.no_batching, args.max_batch_size, float(cpus),
                          args.threads_per_replica, args.precision, args.backend)
    except ValueError as err:
        print(f"avsep serve: {err}", file=sys.stderr)
        return 2
    if args.wiener_iterations is not None:
        if args.wiener_iterations < 0:
            print("avsep serve: --wiener-iterations must be >= 0", file=sys.stderr)
            return 2
        config["wiener_iterations"] = args.wiener_iterations
    if args.export:
        export_config(args.export, config, args.host, args.port)
        print(f"wrote {args.export}: deploy it on a cluster with `serve deploy {args.export}`")
        return 0
    problem = preflight(args.model, tracking_uri, args.backend)
    if problem:
        print(f"avsep serve: nothing deployed: {problem}", file=sys.stderr)
        return 1
    try:
        start_ray(config)
        _stop_on_sigterm()  # Ray's start installs its own handler (a stack dump): ours after it
        start_local(config, args.host, args.port)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while the deployment starts
        _shut_down()
        print("avsep serve: stopped before the deployment was ready", flush=True)
        return 0
    except Exception as err:  # noqa: BLE001 - Ray Serve's deployment errors: show the reason
        print(f"avsep serve: the deployment failed: {err}", file=sys.stderr)
        return 1
    print(f"serving {args.model} at http://{args.host}:{args.port} "
          "(POST /separate, GET /info, GET /healthz); Ctrl-C or SIGTERM stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _shut_down()
    print("avsep serve: stopped", flush=True)
    return 0


def _shut_down() -> None:
    """Delete the Serve app and stop the Ray this command started."""
    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()


def _stop_on_sigterm() -> None:
    """SIGTERM (``kill``, a process manager, ``docker stop``) stops the server as Ctrl-C does:
    the deployment is shut down and the command exits 0, instead of Ray's handler printing a
    stack dump."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def preflight(model: str, tracking_uri: str, backend: str = "auto") -> str | None:
    """Load ``model`` here, before anything is deployed: None when it loads, else the reason.

    A replica that cannot load its model only makes Ray Serve say "Failed to update the
    deployments" while the cause sits in the controller's log; loading it first shows the cause.
    """
    from avsep.serve.engine import Separator

    try:  # ``auto`` loads in torch here: this process starts Ray, and OpenVINO stays out of it
        Separator.from_uri(model, tracking_uri=tracking_uri,
                           backend="torch" if backend == "auto" else backend)
    except (ValueError, FileNotFoundError, KeyError, ImportError) as err:
        return f"{model} cannot be served: {err}"
    return None

"""`avsep serve`: a Ray Serve application with a FastAPI ingress for a trained model."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "serve a model over HTTP with Ray Serve (POST /separate, GET /info, GET /healthz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="models:/avsep-av_singing@champion",
                        help="models:/NAME@alias, runs:/RUN_ID/model or a model package folder "
                             "(default: %(default)s)")
    parser.add_argument("--mlflow-uri", default=None,
                        help="MLflow tracking URI (default: the sqlite store in $AVSEP_HOME)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind; 127.0.0.1 unless told otherwise")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--replicas", default="1", help="number of replicas, or 'auto'")
    parser.add_argument("--gpus-per-replica", type=float, default=0.0)
    parser.add_argument("--max-upload-mb", type=float, default=50.0)
    parser.add_argument("--max-duration-s", type=float, default=600.0)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--no-batching", action="store_true",
                        help="run each request's chunks alone instead of batching across requests")
    parser.add_argument("--export", type=Path, metavar="FILE",
                        help="write a `serve deploy` config to FILE instead of serving")


def run(args: argparse.Namespace) -> int:
    from avsep.serve.launch import app_args, export_config, start_local

    limits = {"max_upload_bytes": int(args.max_upload_mb * 1024 * 1024),
              "max_duration_s": args.max_duration_s}
    try:
        config = app_args(args.model, args.mlflow_uri, args.replicas, args.gpus_per_replica,
                          limits, not args.no_batching, args.max_batch_size)
    except ValueError as err:
        print(f"avsep serve: {err}", file=sys.stderr)
        return 2
    if args.export:
        export_config(args.export, config, args.host, args.port)
        print(f"wrote {args.export}: deploy it on a cluster with `serve deploy {args.export}`")
        return 0
    if config["tracking_uri"] is None and args.model.startswith(("models:/", "runs:/")):
        from avsep import settings

        config["tracking_uri"] = settings.default_mlflow_uri()
    start_local(config, args.host, args.port)
    print(f"serving {args.model} at http://{args.host}:{args.port} "
          "(POST /separate, GET /info, GET /healthz); Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        from ray import serve

        serve.shutdown()
    return 0

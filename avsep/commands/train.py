"""`avsep train`: train one model with Ray Train (DDP over --workers, gloo on CPU)."""

from __future__ import annotations

import argparse
import json

from avsep.platform.cli_args import add_mlflow, add_storage, guarded

HELP = "train one model with Ray Train: DDP workers, checkpoints, early stopping, MLflow"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=False, help="model name (see `avsep models`)")
    parser.add_argument("--config", help="experiment config file (YAML or JSON)")
    parser.add_argument("--data", help="prepared cache (or folder of caches)")
    parser.add_argument("--workers", type=int, default=1, help="DDP workers (default 1)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--preset", choices=("tiny", "paper"), default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--name", default=None, help="run name (same name resumes it)")
    add_storage(parser)
    add_mlflow(parser)
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from avsep import settings
    from avsep.config import load
    from avsep.models import build
    from avsep.platform.data import resolve_cache
    from avsep.platform.mlflow_utils import check_tracking_uri
    from avsep.platform.train_loop import RunContext
    from avsep.platform.trainer import fit
    from avsep.platform.tune import init_ray

    model = {k: v for k, v in {"name": args.model, "preset": args.preset}.items() if v}
    cfg = load(args.config, model=model, data={"cache": args.data},
               train={"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size})
    with torch.device("meta"):
        spec = build(cfg.model.build_dict()).spec
    resolve_cache(cfg.data.cache, spec)
    storage = Path(args.storage or settings.home() / "ray_results").expanduser().resolve()
    name = args.name or f"train-{cfg.model.name}"
    uri = None if args.no_mlflow else check_tracking_uri(
        args.mlflow_uri or settings.default_mlflow_uri(storage.parent))
    run = RunContext(mlflow_uri=uri, mlflow_experiment="train", run_name=name,
                     artifact_root=str(settings.default_artifact_root(storage.parent)),
                     tags={"model": cfg.model.name})
    print(f"avsep train: {cfg.model.name} ({cfg.model.preset}) on {args.workers} worker(s), "
          f"{cfg.train.epochs} epoch(s); results in {storage / name}" +
          (f"; MLflow {uri}" if uri else ""))
    init_ray(max(2, args.workers + 1))  # DDP workers plus the trainer's coordinator
    result = fit(cfg, run, args.workers, args.gpus_per_worker, storage, name)
    if result.error:
        print(f"avsep train: failed: {result.error}")
        return 1
    shown = {k: v for k, v in (result.metrics or {}).items() if isinstance(v, int | float)}
    print(json.dumps(shown, indent=2))
    print(f"checkpoint: {result.checkpoint.path if result.checkpoint else None}")
    return 0


def run(args: argparse.Namespace) -> int:
    if not args.model and not args.config:
        print("avsep train: give --model NAME or --config FILE with a model section")
        return 2
    return guarded("train", lambda: _run(args))

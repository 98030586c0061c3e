"""`avsep train`: train one model with Ray Train (DDP over --workers, gloo on CPU)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avsep.platform.cli_args import add_debug, add_mlflow, add_storage, guarded

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
    parser.add_argument("--name", default=None,
                        help="run name (default train-<model>-<time>-<id>, unique per run)")
    parser.add_argument("--resume", default=None, metavar="NAME",
                        help="continue run NAME from its last checkpoint (same --storage)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (default $RAY_ADDRESS, else a new local Ray)")
    add_storage(parser)
    add_mlflow(parser)
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    add_debug(parser)


def run_name(args: argparse.Namespace, model: str, storage: Path) -> str:
    """``--resume NAME`` (which must exist), ``--name`` (which must not: Ray Train would
    silently resume it), else ``train-<model>-<UTC time>-<6 hex>``."""
    import time
    import uuid

    if args.resume:
        if args.name and args.name != args.resume:
            raise ValueError(f"--name {args.name} and --resume {args.resume} disagree; "
                             "give only --resume NAME")
        if not (storage / args.resume).is_dir():
            raise FileNotFoundError(f"--resume {args.resume}: no run folder {storage / args.resume}"
                                    "; list the runs with `ls " + str(storage) + "`")
        return args.resume
    if args.name:
        if (storage / args.name).exists():
            raise ValueError(f"run {args.name!r} already exists in {storage}: continue it with "
                             f"`avsep train --resume {args.name} ...` or pick another --name")
        return args.name
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"train-{model}-{stamp}-{uuid.uuid4().hex[:6]}"


def _run(args: argparse.Namespace) -> int:
    import torch

    from avsep import settings
    from avsep.config import load
    from avsep.models import build
    from avsep.platform.data import resolve_cache
    from avsep.platform.ray_resources import init_ray
    from avsep.platform.train_loop import RunContext
    from avsep.platform.trainer import fit
    from avsep.tracking.store import check_tracking_uri, resolve_tracking_uri

    model = {k: v for k, v in {"name": args.model, "preset": args.preset}.items() if v}
    cfg = load(args.config, model=model, data={"cache": args.data},
               train={"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size})
    with torch.device("meta"):
        spec = build(cfg.model.build_dict()).spec
    resolve_cache(cfg.data.cache, spec)
    storage = Path(args.storage or settings.home() / "ray_results").expanduser().resolve()
    name = run_name(args, cfg.model.name, storage)
    uri = None if args.no_mlflow else check_tracking_uri(
        resolve_tracking_uri(args.mlflow_uri, storage.parent))
    run = RunContext(mlflow_uri=uri, mlflow_experiment="train", run_name=name,
                     artifact_root=str(settings.default_artifact_root(storage.parent)),
                     tags={"model": cfg.model.name},
                     spool_root=str(storage / name / "mlflow-spool"))  # docs/search.md
    print(f"avsep train: {cfg.model.name} ({cfg.model.preset}) on {args.workers} worker(s), "
          f"{cfg.train.epochs} epoch(s); results in {storage / name}" +
          (f"; MLflow {uri}" if uri else ""))
    # DDP workers + the trainer's coordinator
    init_ray(max(2, args.workers + 1), args.address, ray_train=True)
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
    return guarded("train", lambda: _run(args), debug=args.debug)

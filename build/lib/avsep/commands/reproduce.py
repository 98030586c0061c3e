"""`avsep reproduce PAPER`: a paper's headline findings, run as platform studies, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from avsep.platform.cli_args import (
    add_cluster,
    add_mlflow,
    add_outage_limit,
    check_cluster,
    guarded,
)

HELP = ("run a paper's headline comparisons (training over seeds, test-set scoring) and "
        "report each finding against the paper's numbers with a 95 %% interval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from avsep.studies import names

    parser.add_argument("paper", choices=names(), help="the paper whose findings to check")
    parser.add_argument("--out", type=Path, default=None,
                        help="working and report folder (default $AVSEP_HOME/reproduce/PAPER)")
    parser.add_argument("--preset", choices=("tiny", "paper"), default="tiny")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per trained arm (default: the paper's tiny scale, below)")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds per arm")
    parser.add_argument("--layout", default=None,
                        help="your copy of the paper's dataset: its layout (see `avsep data`)")
    parser.add_argument("--root", type=Path, default=None, help="your copy's folder")
    parser.add_argument("--train-layout", default=None,
                        help="cross-dataset: train on this layout's copy (--train-root) and "
                             "score on --layout/--root's test split (e.g. solos -> urmp)")
    parser.add_argument("--train-root", type=Path, default=None,
                        help="cross-dataset: the training copy's folder")
    parser.add_argument("--val-length", type=int, default=32,
                        help="validation mixtures per epoch (default 32)")
    parser.add_argument("--train-length", type=int, default=None,
                        help="training mixtures per epoch")
    parser.add_argument("--test-items", type=int, default=None,
                        help="score N independent test excerpts (songs, pieces), sampled with a "
                             "fixed seed, each with all its conditions (plain and v+) and "
                             "segments (default: the whole test split, as the papers)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate for every arm instead of its paper point's (the "
                             "papers' rates suit their model sizes and schedules; tiny presets "
                             "trained for minutes need a larger one, e.g. 1e-3)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="batch size for every arm instead of its paper point's")
    parser.add_argument("--minutes", type=float, default=None,
                        help="length of the synthetic corpus written when no --root is given")
    parser.epilog = ("Unset, --epochs, --seeds, --minutes, --train-length, --lr and --batch-size "
                     "take the paper's tiny scale (the runs of docs/results.md) at --preset "
                     "tiny and the paper's own protocol at --preset paper (its epochs, batch "
                     "size, optimiser, lr schedule and early stopping), else 3 epochs, 3 seeds, "
                     "4 minutes, 256 mixtures and the paper points' own lr and batch size.")
    add_mlflow(parser)
    add_cluster(parser, "reproduction", "paper and --out")
    add_outage_limit(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the trials (arm x seed), epochs and an estimated cost "
                             "(GPU-hours, CPU-minutes) and stop before anything trains")


#: what the scale flags are when neither they nor the paper's tiny scale set them
GENERIC_SCALE = {"epochs": 3, "seeds": 3, "minutes": 4.0, "train_length": 256}
SCALE_FLAGS = ("epochs", "seeds", "minutes", "train_length", "lr", "batch_size")


def resolve_scale(args: argparse.Namespace, study: Any) -> dict[str, Any]:
    """The run's scale: each flag given on the command line, else the study's scale of the
    preset (``tiny_scale`` at ``--preset tiny``, the paper's ``paper_scale`` at ``--preset
    paper``), else :data:`GENERIC_SCALE` (lr and batch size: the paper points')."""
    paper_scale = study.scale(args.preset)  # tiny_scale, or the paper's own (paper_scale)
    scale = {}
    for name in SCALE_FLAGS:
        given = getattr(args, name)
        value = given if given is not None else paper_scale.get(name, GENERIC_SCALE.get(name))
        if value is not None:
            scale[name] = value
    return scale


def _run(args: argparse.Namespace) -> int:
    from avsep import settings
    from avsep.platform.reproduce import ReproduceOptions, run
    from avsep.studies import get
    from avsep.tracking.store import resolve_tracking_uri

    if (args.layout is None) != (args.root is None):
        print("avsep reproduce: give both --layout and --root (your dataset copy), or neither "
              "(the synthetic corpus)")
        return 2
    if (args.train_layout is None) != (args.train_root is None):
        print("avsep reproduce: give both --train-layout and --train-root (the copy to train "
              "on), or neither")
        return 2
    if args.train_root is not None and args.root is None:
        print("avsep reproduce: --train-layout/--train-root train on one copy and score on "
              "another: give the test copy as --layout/--root too")
        return 2
    if (problem := check_cluster(args)) or args.val_length < 1:
        print(f"avsep reproduce: {problem or '--val-length must be >= 1'}")
        return 2
    study = get(args.paper)
    scale = resolve_scale(args, study)
    if min(scale["epochs"], scale["seeds"], args.test_items or 1, scale["train_length"]) < 1:
        print("avsep reproduce: --epochs, --seeds, --test-items and --train-length must be >= 1")
        return 2
    if scale.get("lr", 1.0) <= 0 or scale.get("batch_size", 1) < 1 or scale["minutes"] <= 0:
        print("avsep reproduce: --lr and --minutes must be > 0 and --batch-size >= 1")
        return 2
    overrides = {k: scale[k] for k in ("lr", "batch_size") if k in scale}
    out = (args.out or settings.home() / "reproduce" / args.paper).expanduser().resolve()
    options = ReproduceOptions(
        paper=args.paper, out=out, preset=args.preset, epochs=scale["epochs"],
        seeds=scale["seeds"], layout=args.layout,
        root=args.root.expanduser().resolve() if args.root else None,
        train_length=scale["train_length"], test_items=args.test_items,
        mlflow_uri=resolve_tracking_uri(args.mlflow_uri, out), minutes=scale["minutes"],
        train_overrides=overrides, val_length=args.val_length, train_layout=args.train_layout,
        train_root=args.train_root.expanduser().resolve() if args.train_root else None,
        address=args.address, gpus_per_trial=args.gpus_per_trial,
        workers_per_trial=args.workers_per_trial, max_concurrent=args.max_concurrent,
        resume=args.resume, tracking_outage_limit=args.tracking_outage_limit)
    if args.dry_run:
        from avsep.platform.reproduce_cost import describe

        print(describe(study, options))
        return 0
    result = run(study, options)
    print(result.report.read_text() if result.report else "no report")
    print(f"report: {result.report}")
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded("reproduce", lambda: _run(args))

"""`avsep reproduce PAPER`: a paper's headline findings, run as platform studies, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from avsep.platform.cli_args import add_mlflow, guarded

HELP = ("run a paper's headline comparisons (training over seeds, test-set scoring) and "
        "report each finding against the paper's numbers with a 95 %% interval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from avsep.studies import names

    parser.add_argument("paper", choices=names(), help="the paper whose findings to check")
    parser.add_argument("--out", type=Path, default=None,
                        help="working and report folder (default $AVSEP_HOME/reproduce/PAPER)")
    parser.add_argument("--preset", choices=("tiny", "paper"), default="tiny")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trained arm")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per arm")
    parser.add_argument("--layout", default=None,
                        help="your copy of the paper's dataset: its layout (see `avsep data`)")
    parser.add_argument("--root", type=Path, default=None, help="your copy's folder")
    parser.add_argument("--train-length", type=int, default=256,
                        help="training mixtures per epoch")
    parser.add_argument("--test-items", type=int, default=8, help="test excerpts per seed")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate for every arm instead of its paper point's (the "
                             "papers' rates suit their model sizes and schedules; tiny presets "
                             "trained for minutes need a larger one, e.g. 1e-3)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="batch size for every arm instead of its paper point's")
    parser.add_argument("--minutes", type=float, default=4.0,
                        help="length of the synthetic corpus written when no --root is given")
    add_mlflow(parser)


def _run(args: argparse.Namespace) -> int:
    from avsep import settings
    from avsep.platform.mlflow_utils import resolve_tracking_uri
    from avsep.platform.reproduce import ReproduceOptions, run
    from avsep.studies import get

    if (args.layout is None) != (args.root is None):
        print("avsep reproduce: give both --layout and --root (your dataset copy), or neither "
              "(the synthetic corpus)")
        return 2
    if min(args.epochs, args.seeds, args.test_items, args.train_length) < 1:
        print("avsep reproduce: --epochs, --seeds, --test-items and --train-length must be >= 1")
        return 2
    if (args.lr is not None and args.lr <= 0) or (args.batch_size is not None
                                                   and args.batch_size < 1):
        print("avsep reproduce: --lr must be > 0 and --batch-size >= 1")
        return 2
    overrides = {k: v for k, v in (("lr", args.lr), ("batch_size", args.batch_size))
                 if v is not None}
    out = (args.out or settings.home() / "reproduce" / args.paper).expanduser().resolve()
    options = ReproduceOptions(
        paper=args.paper, out=out, preset=args.preset, epochs=args.epochs, seeds=args.seeds,
        layout=args.layout, root=args.root.expanduser().resolve() if args.root else None,
        train_length=args.train_length, test_items=args.test_items,
        mlflow_uri=resolve_tracking_uri(args.mlflow_uri, out), minutes=args.minutes,
        train_overrides=overrides)
    result = run(get(args.paper), options)
    print(result.report.read_text() if result.report else "no report")
    print(f"report: {result.report}")
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded("reproduce", lambda: _run(args))

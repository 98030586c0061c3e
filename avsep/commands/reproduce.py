"""`avsep reproduce PAPER`: a paper's headline findings, run as platform studies, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from avsep.platform.cli_args import add_mlflow, guarded

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
    parser.add_argument("--train-length", type=int, default=None,
                        help="training mixtures per epoch")
    parser.add_argument("--test-items", type=int, default=8, help="test excerpts per seed")
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
                     "tiny, else 3 epochs, 2 seeds, 4 minutes, 256 mixtures and the paper "
                     "points' own lr and batch size.")
    add_mlflow(parser)


#: what the scale flags are when neither they nor the paper's tiny scale set them
GENERIC_SCALE = {"epochs": 3, "seeds": 2, "minutes": 4.0, "train_length": 256}
SCALE_FLAGS = ("epochs", "seeds", "minutes", "train_length", "lr", "batch_size")


def resolve_scale(args: argparse.Namespace, study: Any) -> dict[str, Any]:
    """The run's scale: each flag given on the command line, else the study's ``tiny_scale``
    at ``--preset tiny``, else :data:`GENERIC_SCALE` (lr and batch size: the paper points')."""
    paper_scale = dict(study.tiny_scale) if args.preset == "tiny" else {}
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
    study = get(args.paper)
    scale = resolve_scale(args, study)
    if min(scale["epochs"], scale["seeds"], args.test_items, scale["train_length"]) < 1:
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
        train_overrides=overrides)
    result = run(study, options)
    print(result.report.read_text() if result.report else "no report")
    print(f"report: {result.report}")
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded("reproduce", lambda: _run(args))

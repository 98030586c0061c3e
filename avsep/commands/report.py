"""`avsep report`: rebuild the report of a finished or interrupted search folder."""

from __future__ import annotations

import argparse

from avsep.platform.cli_args import add_storage, guarded

HELP = "summarise a search: top trials, parameter importances and plots, Pareto front"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="study name (the folder under --storage)")
    add_storage(parser)
    parser.add_argument("--objective", default=None,
                        help="METRIC[:min|max][,METRIC2] (default: the space's objective)")
    parser.add_argument("--out", default=None, help="report folder (default <search>/report)")
    parser.add_argument("--top", type=int, default=10, help="rows of the top-trials table")


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from avsep import settings
    from avsep.platform.report import markdown
    from avsep.platform.tune import report_only

    storage = args.storage or str(settings.home() / "ray_results")
    path = storage.rstrip("/") + "/" + args.name
    if "://" not in path and not Path(path).is_dir():
        print(f"avsep report: {path}: no such search folder")
        return 2
    report = report_only(path, args.objective, Path(args.out) if args.out else None, args.top)
    print(markdown(report.table))
    if report.importances:
        print("parameter importances: " + ", ".join(f"{k} {v:.2f}"
                                                   for k, v in report.importances.items()))
    if report.pareto is not None:
        print("Pareto front:\n" + markdown(report.pareto))
    for note in report.notes:
        print(f"note: {note}")
    print("files: " + ", ".join(str(f) for f in report.files))
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded("report", lambda: _run(args))

"""`avsep data inspect`: what a layout reader finds in a dataset copy, and every problem."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "inspect a dataset copy: tracks, sources, durations, videos, annotations and problems"


def layout_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(key, value)``; the value is parsed as JSON when it is valid JSON."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    """--layout, --root, --opt, --skip-bad: shared by `data inspect` and `prepare`."""
    from avsep.data.layouts import LAYOUTS

    parser.add_argument("--layout", required=True, choices=sorted(LAYOUTS),
                        help="on-disk layout of the dataset")
    parser.add_argument("--root", required=True, help="root folder of the dataset copy")
    parser.add_argument("--opt", action="append", default=[], type=layout_option,
                        metavar="KEY=VALUE",
                        help="reader option, e.g. --opt variant=undivided --opt sample_rate=48000")
    parser.add_argument("--skip-bad", action="store_true",
                        help="report a bad file and skip its track instead of stopping")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    inspect = sub.add_parser("inspect", help="list what a layout reader finds",
                             description=HELP)
    add_layout_arguments(inspect)
    inspect.add_argument("--json", action="store_true", help="print one JSON object")


def _row(track: Any) -> list[str]:
    sources = ", ".join(
        f"{s.name}({s.instrument or s.role})" for s in track.sources)
    videos = sorted({str(p.name) for p in [track.video_path] + [s.video_path for s in
                                                                 track.sources] if p})
    notes = sorted(set(track.annotations) | {f"{s.name}.{k}" for s in track.sources
                                             for k in s.annotations})
    duration = f"{track.duration_s:.2f}" if track.duration_s is not None else "?"
    return [track.track_id, track.split, sources, duration, str(track.sample_rate or "?"),
            ", ".join(videos) or "-", ", ".join(notes) or "-"]


def _print_table(tracks: list[Any]) -> None:
    header = ["track", "split", "sources", "seconds", "rate", "video", "annotations"]
    rows = [header] + [_row(t) for t in tracks]
    widths = [min(max(len(r[i]) for r in rows), 48) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell[:48].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def run(args: argparse.Namespace) -> int:
    from avsep.data.layouts import read_layout
    from avsep.data.records import DataError

    try:
        # Always collect every problem; --skip-bad only decides the exit code.
        tracks, problems = read_layout(args.layout, args.root, skip_bad=True, **dict(args.opt))
    except (DataError, ValueError, TypeError) as err:
        print(f"error: {err}")
        return 2
    if args.json:
        print(json.dumps({"layout": args.layout, "root": str(args.root),
                          "tracks": [t.to_json() for t in tracks],
                          "problems": [{"path": str(p.path), "message": p.message}
                                       for p in problems]}, indent=1))
    else:
        _print_table(tracks)
        print(f"\n{len(tracks)} track(s), {len(problems)} problem(s)")
        for problem in problems:
            print(f"  problem: {problem}")
    return 1 if problems and not args.skip_bad else 0

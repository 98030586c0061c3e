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


def split_fractions(text: str) -> tuple[float, float, float]:
    """``--split-fractions 0.8,0.1,0.1`` -> ``(0.8, 0.1, 0.1)``."""
    from avsep.data.splits import parse_fractions

    try:
        return parse_fractions(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    """--layout, --root, --opt, --skip-bad and the split flags: shared by `data inspect` and
    `prepare`."""
    from avsep.data.layouts import LAYOUTS

    parser.add_argument("--layout", required=True, choices=sorted(LAYOUTS),
                        help="on-disk layout of the dataset")
    parser.add_argument("--root", required=True, help="root folder of the dataset copy")
    parser.add_argument("--opt", action="append", default=[], type=layout_option,
                        metavar="KEY=VALUE",
                        help="reader option, e.g. --opt variant=undivided --opt sample_rate=48000")
    parser.add_argument("--skip-bad", action="store_true",
                        help="report a bad file and skip its track instead of stopping")
    splits = parser.add_argument_group(
        "splits", "which tracks train, validate and test (avsep.data.splits); the dataset's "
                  "official split where it has one, else a seeded piece- and performer-disjoint "
                  "hash split. Nothing is written into the dataset")
    splits.add_argument("--splits", metavar="FILE",
                        help='JSON {"<track id>": "train"|"val"|"test"} naming every track; '
                             "overrides every other rule")
    splits.add_argument("--split-policy", choices=("default", "hash", "paper"), default="default",
                        help="default: official split, else hash; hash: always the seeded hash "
                             "split; paper: MIR-1K's Huang et al. split (abjones, amy train)")
    splits.add_argument("--split-fractions", type=split_fractions, default=(0.8, 0.1, 0.1),
                        metavar="TRAIN,VAL,TEST",
                        help="shares of tracks of the hash split (default 0.8,0.1,0.1)")
    splits.add_argument("--split-seed", type=int, default=0, help="seed of the hash split")


def split_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`avsep.data.splits.assign_splits` options the split flags ask for."""
    return {"splits_file": args.splits, "policy": args.split_policy,
            "fractions": args.split_fractions, "seed": args.split_seed}


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
    from avsep.data.splits import assign_splits

    try:
        # Always collect every problem; --skip-bad only decides the exit code.
        tracks, problems = read_layout(args.layout, args.root, skip_bad=True, **dict(args.opt))
        policy = assign_splits(args.layout, args.root, tracks, **split_options(args))
    except (DataError, ValueError, TypeError) as err:
        print(f"error: {err}")
        return 2
    if args.json:
        print(json.dumps({"layout": args.layout, "root": str(args.root),
                          "split_policy": policy.to_json(),
                          "tracks": [t.to_json() for t in tracks],
                          "problems": [{"path": str(p.path), "message": p.message}
                                       for p in problems]}, indent=1))
    else:
        _print_table(tracks)
        print(f"\n{len(tracks)} track(s), {len(problems)} problem(s); split policy "
              f"{policy.name} ({policy.source}): {policy.counts}")
        for problem in problems:
            print(f"  problem: {problem}")
    return 1 if problems and not args.skip_bad else 0

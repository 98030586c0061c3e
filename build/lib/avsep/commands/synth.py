"""`avsep synth`: write the deterministic synthetic audio-visual corpus."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("write the synthetic audio-visual corpus: singers with face videos, off-screen voices, "
        "accompaniment, and URMP-style ensembles of the 13 instruments with player videos")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from avsep.data.synth import DEFAULT_MINUTES, DEFAULT_TRACK_SECONDS

    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                        help="total minutes of audio, half singing, half ensembles "
                             f"(default {DEFAULT_MINUTES})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--track-seconds", type=float, default=DEFAULT_TRACK_SECONDS,
                        help="length of each song / piece in seconds "
                             f"(default {DEFAULT_TRACK_SECONDS:g})")
    parser.add_argument("--soundfont", type=Path, default=None,
                        help="render the instruments from this SF2 SoundFont (needs tinysoundfont)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a folder that already holds a corpus")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from avsep.data.synth.corpus import generate
    from avsep.data.synth.soundfont import SoundFontUnavailable

    try:
        summary = generate(args.out, minutes=args.minutes, seed=args.seed,
                           track_seconds=args.track_seconds, soundfont=args.soundfont,
                           overwrite=args.overwrite, progress=not args.quiet)
    except (FileExistsError, FileNotFoundError, ValueError, SoundFontUnavailable) as err:
        print(f"avsep synth: {err}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{split}: {c['singing']} songs + {c['urmp']} pieces"
                       for split, c in summary["counts"].items())
    print(f"avsep synth: wrote {args.out} ({counts}); singing layout 'avsep_synth' in "
          f"{args.out / 'singing'}, URMP layout in {args.out / 'urmp'}")
    return 0

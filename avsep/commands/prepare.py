"""`avsep prepare`: decode, crop, resample and cache a dataset for training."""

from __future__ import annotations

import argparse

from avsep.commands.data import add_layout_arguments

HELP = ("decode video at the model's fps, crop mouth/player regions, resample audio and write "
        "the cache that training reads (docs/contracts.md)")


def _crop(text: str) -> tuple[int, int]:
    h, sep, w = text.lower().partition("x")
    if not sep or not h.isdigit() or not w.isdigit() or int(h) <= 0 or int(w) <= 0:
        raise argparse.ArgumentTypeError(f"expected HxW in pixels (e.g. 64x64), got {text!r}")
    return int(h), int(w)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_layout_arguments(parser)
    parser.add_argument("--out", required=True, help="cache folder to write")
    parser.add_argument("--model", help="take sample rate, fps, crop and channels from this "
                                        "model's paper preset")
    parser.add_argument("--sample-rate", type=int, help="audio rate of the cache (Hz)")
    parser.add_argument("--fps", type=float, help="video frame rate of the cache (omit: no video)")
    parser.add_argument("--crop", type=_crop, help="crop size HxW, e.g. 64x64")
    parser.add_argument("--gray", action="store_true", help="store luma only (Cv = 1)")
    parser.add_argument("--min-seconds", type=float,
                        help="reject audio shorter than this (default: the model's clip length)")
    parser.add_argument("--workers", type=int, default=1, help="parallel track workers")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from avsep.data.prepare import PrepareSettings, prepare, settings_from_model
    from avsep.data.records import DataError

    min_seconds = args.min_seconds
    try:
        if args.model:
            settings, clip = settings_from_model(args.model)
            min_seconds = clip if min_seconds is None else min_seconds
        else:
            if args.sample_rate is None:
                print("error: give --model NAME or --sample-rate HZ (with --fps and --crop "
                      "for video)")
                return 2
            settings = PrepareSettings(args.sample_rate, args.fps, args.crop,
                                       1 if args.gray else 3)
    except (ValueError, KeyError) as err:
        print(f"error: {err}")
        return 2
    options = dict(args.opt)
    if min_seconds is not None:
        options.setdefault("min_seconds", min_seconds)
    print(f"prepare {args.layout} from {args.root} -> {args.out}: {settings.to_json()}")
    bar = tqdm(desc="tracks", unit="track")
    try:
        result = prepare(args.layout, args.root, args.out, settings, skip_bad=args.skip_bad,
                         workers=args.workers, reader_options=options, progress=bar.update)
    except (DataError, ValueError) as err:
        print(f"error: {err}")
        return 1
    finally:
        bar.close()
    print(f"wrote {result.written} track(s), reused {result.reused}, index {result.index_path}")
    for problem in result.problems:
        print(f"  skipped: {problem}")
    return 0

"""`avsep prepare`: decode, crop, resample and cache a dataset for training.

What to write, one of:

* ``--space S [--preset tiny|paper]``: every cache the models of search space ``S`` need at
  that preset (:mod:`avsep.data.needs`), each as ``OUT/<name>/index.json``
  (``sr4000_fps5.859375_crop16x16``, ``sr16000_audio``, ...); ``--data OUT`` then serves them all;
* ``--model M [--preset tiny|paper]``: the one cache model ``M`` needs, at ``OUT``;
* ``--sample-rate HZ [--fps F --crop HxW [--gray]]``: a cache with exactly these settings.

The preset defaults to ``tiny``, the preset ``avsep train`` and ``avsep tune`` default to.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from avsep.commands.data import add_layout_arguments, split_options

HELP = ("decode video at the model's fps, crop mouth/player regions, resample audio and write "
        "the cache(s) that training reads: every cache a search space needs (--space), one "
        "model's (--model), or explicit settings (--sample-rate/--fps/--crop)")
PRESETS = ("tiny", "paper")


def _crop(text: str) -> tuple[int, int]:
    h, sep, w = text.lower().partition("x")
    if not sep or not h.isdigit() or not w.isdigit() or int(h) <= 0 or int(w) <= 0:
        raise argparse.ArgumentTypeError(f"expected HxW in pixels (e.g. 64x64), got {text!r}")
    return int(h), int(w)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_layout_arguments(parser)
    parser.add_argument("--out", required=True,
                        help="cache folder to write (with --space: the folder of caches)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--space", help="write every cache the models of this search space need "
                                      "(see `avsep spaces`)")
    what.add_argument("--model", help="take sample rate, fps, crop and channels from this model "
                                      "(see `avsep models`)")
    parser.add_argument("--preset", choices=PRESETS,
                        help="model preset of --space/--model (default tiny, as train and tune)")
    parser.add_argument("--config", help="experiment config whose model section every model of "
                                         "--space/--model gets (as `avsep tune --config`), e.g. "
                                         "model.vocalist_checkpoint")
    parser.add_argument("--sample-rate", type=int, help="audio rate of the cache (Hz)")
    parser.add_argument("--fps", type=float, help="video frame rate of the cache (omit: no video)")
    parser.add_argument("--crop", type=_crop, help="crop size HxW, e.g. 64x64")
    parser.add_argument("--gray", action="store_true", help="store luma only (Cv = 1)")
    parser.add_argument("--channels", type=int, choices=(1, 2),
                        help="audio channels of the cache: 1 averages stereo files, 2 repeats "
                             "mono ones (default: as the files have them)")
    parser.add_argument("--min-seconds", type=float,
                        help="reject audio shorter than this (default: the longest clip of the "
                             "models the cache is for)")
    parser.add_argument("--workers", type=int, default=1, help="parallel track workers")


def _command(args: argparse.Namespace, *extra: str) -> str:
    """``avsep prepare`` with this call's layout, root and out plus ``extra`` flags."""
    base = ["avsep", "prepare", "--layout", args.layout, "--root",
            str(Path(args.root).expanduser().resolve()),
            "--out", str(Path(args.out).expanduser().resolve())]
    return shlex.join(base + list(extra))


def _targets(args: argparse.Namespace) -> list[Any]:
    """The caches this call writes; ValueError with the command to use instead."""
    from avsep.data.needs import needs_of_model, needs_of_space
    from avsep.data.prepare import CacheTarget, PrepareSettings

    out = Path(args.out).expanduser()
    explicit = [f for f, v in (("--sample-rate", args.sample_rate), ("--fps", args.fps),
                               ("--crop", args.crop), ("--gray", args.gray),
                               ("--channels", args.channels)) if v]
    if args.space or args.model:
        if explicit:
            raise ValueError(f"{' '.join(explicit)} cannot be combined with --space/--model "
                             "(they fix the settings); drop them, e.g. "
                             + _command(args, *(["--space", args.space] if args.space else
                                                ["--model", args.model]),
                                        "--preset", args.preset or "tiny"))
        preset = args.preset or "tiny"
        base = _base_model(args.config)
        if args.space:
            needs, failed = needs_of_space(args.space, preset, base_model=base)
            for model, reason in failed:
                print(f"warning: {model} does not build, so its cache is not written unless "
                      f"another sample of its family needs the same one: {reason}")
            if not needs:
                raise ValueError(f"no model of space {args.space!r} builds; give the options "
                                 "they need in a config: "
                                 + _command(args, *_what(args), "--config", "CONFIG.yaml"))
            return [CacheTarget(out / n.name, n.settings,
                                {"space": args.space, "preset": preset, "models": n.models,
                                 "clip_seconds": n.clip_seconds}) for n in needs]
        (need,) = needs_of_model(args.model, preset, base)
        return [CacheTarget(out, need.settings, {"model": args.model, "preset": preset,
                                                 "clip_seconds": need.clip_seconds,
                                                 "models": need.models})]
    if args.preset or args.config:
        raise ValueError("--preset and --config need --space or --model, e.g. "
                         + _command(args, "--space", "SPACE", "--preset", args.preset))
    if args.sample_rate is None:
        raise ValueError("say what to write, e.g. every cache a search space needs: "
                         + _command(args, "--space", "av_singing", "--preset", "tiny")
                         + "  (spaces: `avsep spaces`), or one model's: --model NAME, or "
                           "explicit settings: --sample-rate HZ [--fps F --crop HxW]")
    return [CacheTarget(out, PrepareSettings(args.sample_rate, args.fps, args.crop,
                                             1 if args.gray else 3, args.channels))]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from avsep.data.prepare import prepare_many
    from avsep.data.records import DataError

    try:
        targets = _targets(args)
    except (ValueError, KeyError) as err:
        print(f"error: {err}")
        return 2
    options = dict(args.opt)
    clips = [t.info["clip_seconds"] for t in targets if "clip_seconds" in t.info]
    min_seconds = args.min_seconds if args.min_seconds is not None else \
        (max(clips) if clips else None)
    if min_seconds is not None:
        options.setdefault("min_seconds", min_seconds)
    print(f"prepare {args.layout} from {args.root}: {len(targets)} cache(s)")
    for target in targets:
        models = f"  for {', '.join(target.info['models'])}" if "models" in target.info else ""
        print(f"  -> {target.out}: {target.settings.to_json()}{models}")
    bar = tqdm(desc="tracks", unit="track")

    def start(count: int) -> None:
        bar.total = count
        bar.refresh()

    try:
        results = prepare_many(args.layout, args.root, targets, skip_bad=args.skip_bad,
                               workers=args.workers, reader_options=options,
                               split_options=split_options(args), progress=bar.update,
                               on_start=start)
    except DataError as err:
        print(f"error: {err}")
        if "shorter than" in str(err):
            print(f"  keep only longer tracks: {_command(args, *_what(args), '--skip-bad')}")
        return 1
    except ValueError as err:
        print(f"error: {err}")
        return 1
    finally:
        bar.close()
    for result in results:
        print(f"wrote {result.written} track(s), reused {result.reused}, index "
              f"{result.index_path}")
    _print_splits(results[0].index_path)
    for problem in results[0].problems:
        print(f"  skipped: {problem}")
    return 0


def _base_model(config: str | None) -> dict[str, Any]:
    """The ``model`` section of ``--config`` (without ``name``), or ``{}``."""
    if not config:
        return {}
    from avsep.config import read_file

    model = dict(read_file(config).get("model") or {})
    model.pop("name", None)
    model.pop("preset", None)
    return model


def _what(args: argparse.Namespace) -> list[str]:
    """The flags of this call that say what to write."""
    if args.space:
        return ["--space", args.space, "--preset", args.preset or "tiny"]
    if args.model:
        return ["--model", args.model, "--preset", args.preset or "tiny"]
    flags = ["--sample-rate", str(args.sample_rate)]
    if args.channels:
        flags += ["--channels", str(args.channels)]
    if args.fps:
        flags += ["--fps", format(args.fps, ".10g"), "--crop", f"{args.crop[0]}x{args.crop[1]}"]
    return flags + (["--gray"] if args.gray else [])


def _print_splits(index_path: Path) -> None:
    import json

    policy = json.loads(Path(index_path).read_text()).get("split_policy", {})
    counts = policy.get("counts", {})
    print(f"splits: {policy.get('name')} ({policy.get('source')}): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    empty = [k for k, v in counts.items() if not v]
    if empty:
        print(f"  warning: no tracks in {empty} (training needs train and val, `avsep eval` "
              "test): give a --splits FILE or other --split-fractions (disjoint splits need at "
              "least 3 pieces/performers)")

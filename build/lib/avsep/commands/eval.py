"""`avsep eval`: paper-style evaluation report of a trained model on a test set.

Separators: BSS Eval v4 per present source, PES/EPS per silent slot, oracle rows, visual
ablations, GNSDR/GSIR/GSAR on singing data, Case I vs Case II activity sources for the
attribute-aware model; detectors (``vad_cnn``): frame accuracy and confusion matrix; sync
models (VocaLiST): sync accuracy against context length (``avsep.evaluation.sync``). Each
paper's table goes into the report folder as markdown and CSV.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from avsep.platform.cli_args import add_debug, add_mlflow, guarded

HELP = ("paper-style evaluation: BSS Eval v4 per present source, PES/EPS, GNSDR, oracle rows, "
        "visual ablations, VAD accuracy, sync accuracy; each paper's table as markdown + CSV")
CONDITIONS = {"plain": "plain", "vplus": "v+", "both": "both"}


def _contexts(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive frame counts "
                                         f"(e.g. 5,10,15,20,25), got {text!r}")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="models:/NAME@champion, runs:/RUN_ID/model or a model package folder")
    parser.add_argument("--data", required=True, help="prepared cache (or folder of caches)")
    parser.add_argument("--split", default="test", choices=("test", "val"))
    parser.add_argument("--out", default=None, help="report folder (default ./eval-<model>)")
    parser.add_argument("--wiener", type=int, default=None,
                        help="Wiener iterations (default: the count the model was selected at)")
    parser.add_argument("--test-excerpts", type=_positive, default=None, metavar="N",
                        help="score every item (all conditions, all segments) of N excerpts "
                             "(tracks, pieces; sync: singers) drawn at random, seeded by "
                             "--selection-seed; default: every excerpt of the split")
    parser.add_argument("--selection-seed", type=int, default=0,
                        help="seed of the --test-excerpts draw (default 0, as avsep reproduce)")
    parser.add_argument("--max-items", type=_positive, default=None,
                        help="quick look: the first N items in the split's order (not a "
                             "sample: a singing split lists every plain item before any v+ "
                             "one; use --test-excerpts for a representative subset); sync "
                             "models: clips per scored excerpt")
    parser.add_argument("--no-ablations", action="store_true", help="skip the visual ablations")
    parser.add_argument("--test-seconds", type=float, default=None,
                        help="length of test excerpts (dataset default: 30 s)")
    parser.add_argument("--conditions", choices=tuple(CONDITIONS), default=None,
                        help="singing test mixtures: plain, vplus (an extra vocal in the "
                             "accompaniment, Li et al.) or both (default for separators; "
                             "detectors: plain)")
    parser.add_argument("--activity-source", action="append", default=[], metavar="SOURCE",
                        help="vocal activity the attribute-aware separator infers with: oracle, "
                             "perturbed:F or detector (repeat for several; Case I vs Case II)")
    parser.add_argument("--detector", default=None,
                        help="vad_cnn model URI for --activity-source detector")
    parser.add_argument("--contexts", type=_contexts, default=None,
                        help="sync models: context lengths in video frames (default: the "
                             "paper's 5,7,9,11,13,15,20,25)")
    add_mlflow(parser)
    add_debug(parser)


def _command(args: argparse.Namespace, **changes: Any) -> str:
    """The ``avsep eval`` command line of ``args`` with ``changes`` applied (for advice)."""
    values = {"model": args.model, "data": args.data, "split": args.split,
              "conditions": args.conditions, **changes}
    parts = ["avsep eval", f"--model {values['model']}", f"--data {values['data']}"]
    if values["split"] != "test":
        parts.append(f"--split {values['split']}")
    if values["conditions"] is not None:
        parts.append(f"--conditions {values['conditions']}")
    return " ".join(parts)


def _source_of(data: str) -> tuple[str, str, Path | None]:
    """(layout, dataset root, the cache folder itself or None) recorded by the caches at
    ``data``; placeholders when no cache there records them."""
    import json

    from avsep.platform.data import DataPathError, find_caches

    try:
        caches = find_caches(data)
    except DataPathError:
        return "LAYOUT", "DATASET", None
    itself = Path(data).expanduser().resolve()
    single = itself if (itself / "index.json").is_file() else None
    for cache in caches:
        try:
            index = json.loads((cache.path / "index.json").read_text())
        except (OSError, ValueError):
            continue
        if index.get("layout") and index.get("root"):
            return str(index["layout"]), str(index["root"]), single
    return "LAYOUT", "DATASET", single


def _prepare_advice(args: argparse.Namespace, model: Any, name: str) -> str:
    """The ``avsep prepare`` command that writes a cache this model can be evaluated on, and
    the ``avsep eval`` command to run next."""
    spec = model.spec
    layout, root, single = _source_of(args.data)
    folder = f"{name}-{spec.stft.sample_rate}hz"
    if single is not None:  # --data is one cache: write a sibling and point --data at it
        out = single.parent / folder
        data = str(out)
    else:
        out = Path(args.data).expanduser().resolve() / folder
        data = args.data
    parts = [f"avsep prepare --layout {layout} --root {root} --out {out}",
             f"--sample-rate {spec.stft.sample_rate}"]
    if spec.fps is not None and spec.crop is not None:
        parts += [f"--fps {spec.fps:g}", f"--crop {spec.crop[0]}x{spec.crop[1]}"]
        if spec.video_channels == 1:
            parts.append("--gray")
    return f"`{' '.join(parts)}`, then `{_command(args, data=data)}`"


def _cache(args: argparse.Namespace, model: Any, name: str) -> Path:
    from avsep.platform.data import DataPathError, resolve_cache

    try:
        return resolve_cache(args.data, model.spec, (args.split,))
    except DataPathError as err:
        raise DataPathError(f"{err}\nfor `avsep eval` of this model: "
                            f"{_prepare_advice(args, model, name)}") from None


def _dataset(args: argparse.Namespace, model: Any, cache: Path, **options: Any) -> Any:
    from avsep.data.datasets import dataset_options, make_dataset
    from avsep.data.records import DataError
    from avsep.platform.data import model_dataset_options

    valid = dataset_options(model.data_kind)
    options = model_dataset_options(model, options)
    if args.test_seconds and "test_seconds" in valid:
        options["test_seconds"] = args.test_seconds
    if args.conditions is not None:
        if "condition" not in valid:
            raise ValueError(f"--conditions applies to singing data; {type(model).__name__} "
                             f"reads {model.data_kind!r} data. Run "
                             f"`{_command(args, conditions=None)}`")
        options["condition"] = CONDITIONS[args.conditions]
    try:
        return make_dataset(model.data_kind, cache, model.spec, args.split, **options)
    except DataError as err:
        if "extra vocal" in str(err) and args.conditions != "plain":
            fix = _command(args, conditions="plain")
            raise ValueError(f"{err.path}: split {args.split!r} has no vocal from another "
                             "track/performer to use as the extra vocal of the v+ mixtures; "
                             f"score the plain mixtures only: `{fix}`") from None
        raise


def _write(args: argparse.Namespace, name: str, rows: Any, cache: Path,
           tables: dict[str, Any], notes: list[str] | None = None,
           separation: bool = True) -> int:
    """Write the report folder and print its tables."""
    from avsep.evaluation.markdown import markdown
    from avsep.evaluation.separation import write_evaluation, write_tables

    out = Path(args.out or f"eval-{name}").resolve()
    title = f"{name} on {cache.name} ({args.split})"
    if separation:
        result = write_evaluation(rows, out, title, tables=tables, notes=notes or ())
        print(markdown(result.summary))
        files = result.files
    else:
        files = write_tables(rows, out, title, tables, notes or ())
    for table_name, table in tables.items():
        print(f"## {table_name}\n{markdown(table)}")
    print("files: " + ", ".join(str(f) for f in files))
    return 0


def _selected(args: argparse.Namespace, dataset: Any) -> Any:
    """``dataset``, or every item of ``--test-excerpts`` excerpts drawn from it
    (:class:`~avsep.data.datasets.TestSelection`)."""
    if args.test_excerpts is None:
        return dataset
    from avsep.data.datasets import TestSelection
    from avsep.data.datasets.selection import excerpt_groups

    selection = TestSelection.of(dataset, args.test_excerpts, seed=args.selection_seed)
    print(f"avsep eval: {len(selection.excerpts)} of {len(excerpt_groups(dataset))} excerpts "
          f"drawn (--selection-seed {args.selection_seed}): {len(selection)} items", flush=True)
    return selection


def _run_sync(args: argparse.Namespace, model: Any, name: str) -> int:
    try:
        from avsep.evaluation.sync import evaluate_sync
    except ImportError as err:
        raise ValueError(f"sync evaluation needs avsep.evaluation.sync.evaluate_sync, which "
                         f"this installation lacks ({err}); update avsep") from None
    from avsep.evaluation.tables import sync_table

    cache = _cache(args, model, name)
    options: dict[str, Any] = {}
    if args.test_excerpts is not None:  # the unit is the singer's track
        from avsep.data.datasets import load_cache
        from avsep.data.datasets.selection import restrict_split

        cache = restrict_split(load_cache(cache), args.split, args.test_excerpts, "vocals",
                               seed=args.selection_seed)
    if args.contexts is not None:
        options["contexts"] = args.contexts
    if args.max_items is not None:
        options["items"] = args.max_items
    rows = evaluate_sync(model, cache, args.split, **options)
    return _write(args, name, rows, cache, {"kadandale_sync": sync_table(rows)},
                  separation=False)


def _run_vad(args: argparse.Namespace, model: Any, name: str) -> int:
    import pandas as pd

    from avsep.evaluation.activity import confusion_table, evaluate_vad, vad_summary

    cache = _cache(args, model, name)
    dataset = _selected(args, _dataset(args, model, cache))
    rows = evaluate_vad(model, dataset, args.max_items)
    summary = vad_summary(rows)
    scores = pd.DataFrame([{k: summary[k] for k in ("accuracy", "f1", "frames")}])
    print(f"avsep eval: vocal activity accuracy {summary['accuracy']:.4f}, F1 "
          f"{summary['f1']:.4f} over {summary['frames']} frames")
    return _write(args, name, rows, cache, {"swaminathan_vad": confusion_table(summary),
                                            "swaminathan_vad_scores": scores},
                  separation=False)


def _run(args: argparse.Namespace) -> int:
    from avsep.evaluation.activity import check_activity_model, parse_activity_source
    from avsep.evaluation.chunks import scoring_set_options, stream_slots
    from avsep.evaluation.separation import evaluate
    from avsep.evaluation.tables import paper_tables
    from avsep.tracking.loading import load_model

    sources = [parse_activity_source(t) for text in args.activity_source
               for t in text.split(",") if t]
    model, payload = load_model(args.model, args.mlflow_uri)
    name = payload["model"]["name"]
    if model.task != "separation" and (sources or args.detector):
        raise ValueError(f"--activity-source/--detector apply to attribute-aware separators; "
                         f"{args.model} is a {model.task} model. Run `{_command(args)}`")
    if model.task == "sync":
        return _run_sync(args, model, name)
    if model.task == "vad":
        return _run_vad(args, model, name)
    if model.task != "separation":
        raise ValueError(f"{args.model} is a {model.task} model; avsep eval scores separators "
                         "(task separation), detectors (vad) and sync models (sync)")
    detector = load_model(args.detector, args.mlflow_uri)[0] if args.detector else None
    for source in sources:
        check_activity_model(model, source, detector)
    if detector is not None and not sources:
        raise ValueError("--detector is used with --activity-source detector; add "
                         f"`--activity-source detector` to `{_command(args)}`")
    cache = _cache(args, model, name)
    options: dict[str, Any] = scoring_set_options(model)
    notes = []
    if stream_slots(model) is not None:  # every ensemble, separated in stream groups
        notes.append(f"Sound of Pixels ({len(model.source_names)} stream slots): ensembles "
                     "with more players are separated in groups of that many streams.")
    dataset = _selected(args, _dataset(args, model, cache, **options))
    skipped = list(getattr(dataset, "skipped", ()) or ())
    if skipped:
        notes.append(f"{len(skipped)} test ensemble(s) skipped: more players than the model's "
                     f"source slots ({', '.join(map(str, skipped[:10]))}).")
    wiener = args.wiener if args.wiener is not None else \
        int(payload.get("metrics", {}).get("val/wiener", 0))
    print(f"avsep eval: {name} on {len(dataset)} {args.split} excerpts of {cache} (Wiener "
          f"iterations {wiener})", flush=True)
    for note in notes:
        print(f"avsep eval: {note}")
    rows = evaluate(model, dataset, wiener, not args.no_ablations, args.max_items,
                    activities=sources, detector=detector)
    return _write(args, name, rows, cache, paper_tables(name, rows), notes)


def run(args: argparse.Namespace) -> int:
    return guarded("eval", lambda: _run(args), debug=getattr(args, "debug", False))

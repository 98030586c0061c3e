"""`avsep eval`: paper-style evaluation report of a trained model on a test set."""

from __future__ import annotations

import argparse

from avsep.platform.cli_args import add_mlflow, guarded

HELP = ("paper-style evaluation: BSS Eval v4 / SI-SDR / PES-EPS per excerpt, oracle rows, "
        "visual ablations; markdown table and boxplots")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="models:/NAME@champion, runs:/RUN_ID/model or a model package folder")
    parser.add_argument("--data", required=True, help="prepared cache (or folder of caches)")
    parser.add_argument("--split", default="test", choices=("test", "val"))
    parser.add_argument("--out", default=None, help="report folder (default ./eval-<model>)")
    parser.add_argument("--wiener", type=int, default=None,
                        help="Wiener iterations (default: the count the model was selected at)")
    parser.add_argument("--max-items", type=int, default=None, help="evaluate the first N only")
    parser.add_argument("--no-ablations", action="store_true", help="skip the visual ablations")
    parser.add_argument("--test-seconds", type=float, default=None,
                        help="length of test excerpts (dataset default: 30 s)")
    add_mlflow(parser)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from avsep.data.datasets import dataset_options, make_dataset
    from avsep.platform.data import model_dataset_options, resolve_cache
    from avsep.platform.evaluate import evaluate, write_evaluation
    from avsep.platform.report import markdown
    from avsep.serve.loading import load_model

    model, payload = load_model(args.model, args.mlflow_uri)
    if model.task != "separation":
        print(f"avsep eval: {args.model} is a {model.task} model; eval scores separators")
        return 2
    cache = resolve_cache(args.data, model.spec, (args.split,))
    options = model_dataset_options(model, {})
    if args.test_seconds and "test_seconds" in dataset_options(model.data_kind):
        options["test_seconds"] = args.test_seconds
    dataset = make_dataset(model.data_kind, cache, model.spec, args.split, **options)
    wiener = args.wiener if args.wiener is not None else \
        int(payload.get("metrics", {}).get("val/wiener", 0))
    print(f"avsep eval: {payload['model']['name']} on {len(dataset)} {args.split} excerpts "
          f"of {cache} (Wiener iterations {wiener})", flush=True)
    rows = evaluate(model, dataset, wiener, not args.no_ablations, args.max_items)
    name = payload["model"]["name"]
    out = Path(args.out or f"eval-{name}").resolve()
    result = write_evaluation(rows, out, f"{name} on {cache.name} ({args.split})")
    print(markdown(result.summary))
    print("files: " + ", ".join(str(f) for f in result.files))
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded("eval", lambda: _run(args))

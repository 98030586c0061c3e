"""Does every separation model's tiny preset learn? Issue 10's bar: at least +3 dB median SI-SDR
improvement over the mixture on the synthetic corpus within 5 minutes of training on 2 cores.

For each model of ``--models`` (default: every separation model of the zoo):

1. the synthetic corpus: ``avsep synth --minutes --synth-minutes`` into the work folder (once),
   or ``--corpus DIR`` (a folder written by ``avsep synth``);
2. its cache: ``avsep prepare --layout L --root CORPUS/PART --model NAME --preset tiny``
   (instrument models read the URMP part, the others the singing part);
3. training: the platform's own per-worker loop
   (:func:`avsep.platform.train_loop.train_loop_per_worker`, what ``avsep train`` runs in each
   Ray Train worker) in this process, without Ray or MLflow, one epoch per call, resuming from
   its own checkpoint, until the next epoch would end past the budget (``--minutes``, default
   5; the model build and data loading count). ``--clock wall`` (default) counts wall time;
   ``--clock cpu`` counts this process's CPU time (user + sys) against ``--minutes`` × 60 ×
   ``--threads``, the time that many fully used cores give: the fair reading on a machine
   shared with other jobs, where wall time says more about the load than about the model.
   The package of the epoch with the best validation SI-SDR (the package ``avsep train`` would
   register) is kept;
4. scoring: ``avsep eval --split test --no-ablations`` on that package (the command's own code,
   in this process); the SI-SDR improvement of an excerpt's source is the model's SI-SDR minus
   the mixture's (the mixture taken as the source's estimate) on the same excerpt and source,
   and the table gives the median over the present sources of every test excerpt.

Every model trains with the same experiment settings (``--train-length`` items per epoch,
``--val-length`` validation items, ``--batch-size``, ``--lr``, the model's default options);
``--set model.conditioning=label_multiply`` style overrides go to every model of the run.
Prints a table and writes ``benchmarks/results/tiny_presets.json`` (``--name`` to change it)
with the wall and CPU time (user + sys of this process) of each phase.

Example (the three models that did not learn before, on a 20-minute corpus)::

    .venv/bin/python benchmarks/tiny_presets.py --models cunet,mhunet,sop --synth-minutes 20

The README's figures read "5 minutes on 2 cores" as 600 CPU-seconds with two threads, one model
per run (``OMP_WAIT_POLICY=PASSIVE`` on a shared box; the JSON records it)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/tiny_presets.py --models cunet \
        --corpus CORPUS_20MIN --minutes 5 --clock cpu --threads 2 --name tiny_presets_cunet_5min
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save  # noqa: E402

MODELS = ("mmdensenet", "av_mmdensenet", "cunet", "mhunet", "sop", "attr_dnn", "ynet")
DEFAULT_SYNTH_MINUTES = 20.0
VENV_BIN = Path(sys.executable).parent


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (s)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``section.key=value`` overrides (value parsed as JSON when it parses) as nested dicts."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. "
                             "--set model.conditioning=label_multiply")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def corpus_folder(args: argparse.Namespace, work: Path) -> Path:
    """The corpus to use: ``--corpus``, else one written by ``avsep synth`` in ``work``."""
    if args.corpus:
        corpus = Path(args.corpus).expanduser().resolve()
        if not (corpus / "corpus.json").is_file():
            raise SystemExit(f"--corpus {corpus}: no corpus.json there; write one with "
                             f"`avsep synth --out {corpus} --minutes {DEFAULT_SYNTH_MINUTES:g}`")
        return corpus
    corpus = work / f"corpus_{args.synth_minutes:g}min_seed{args.seed}"
    if not (corpus / "corpus.json").is_file():
        run_cli(["synth", "--out", str(corpus), "--minutes", str(args.synth_minutes),
                 "--seed", str(args.seed), "--quiet", "--overwrite"])
    return corpus


def run_cli(argv: list[str]) -> None:
    """Run ``avsep ARGV`` (the venv's console script); stop with its output on failure."""
    command = [str(VENV_BIN / "avsep"), *argv]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def prepare(name: str, corpus: Path, work: Path) -> Path:
    """The tiny-preset cache of model ``name`` (written once per corpus)."""
    from avsep.models import build

    with _meta():
        kind = build({"name": name, "preset": "tiny"}).data_kind
    part, layout = ("urmp", "urmp") if kind == "instruments" else ("singing", "avsep_synth")
    cache = work / f"cache_{corpus.name}_{name}"
    if not (cache / "index.json").is_file():
        run_cli(["prepare", "--layout", layout, "--root", str(corpus / part), "--out",
                 str(cache), "--model", name, "--preset", "tiny"])
    return cache


def _meta():
    import torch

    return torch.device("meta")


def train(name: str, cache: Path, args: argparse.Namespace, folder: Path,
          overrides: dict[str, Any]) -> dict[str, Any]:
    """Train model ``name`` epoch by epoch until the budget (``--clock``); keep the best package."""
    from avsep.config import merge, validate
    from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    best = folder / "best_model"
    experiment = merge({
        "model": {"name": name, "preset": "tiny"},
        "data": {"cache": str(cache), "train_length": args.train_length,
                 "val_length": args.val_length},
        "train": {"lr": args.lr, "batch_size": args.batch_size, "seed": args.seed,
                  "patience": 10_000},
        "eval": {"wiener_iterations": [0], "examples": 0},
    }, overrides)
    run = RunContext(local_root=str(folder / "session"), run_name=f"tiny-{name}")
    (folder / "session").mkdir()
    cpu_clock = args.clock == "cpu"
    budget = args.minutes * 60 * (args.threads if cpu_clock else 1)
    wall0, cpu0 = time.perf_counter(), cpu_seconds()

    def clock() -> float:
        return cpu_seconds() - cpu0 if cpu_clock else time.perf_counter() - wall0

    history: list[dict[str, Any]] = []
    epoch_time = 0.0
    best_sdr = float("-inf")
    while True:
        if history and clock() + epoch_time > budget:
            break
        start = clock()
        experiment["train"]["epochs"] = len(history) + 1
        cfg = validate(experiment, "tiny_presets")
        train_loop_per_worker(make_config(cfg, run))
        epoch_time = clock() - start
        metrics = json.loads((folder / "session" / "checkpoint" / "metrics.json").read_text())
        metrics["wall_s"] = round(time.perf_counter() - wall0, 1)
        history.append(metrics)
        package = folder / "session" / "checkpoint" / "model"
        if package.is_dir() and metrics["val/sdr"] > best_sdr:
            best_sdr = metrics["val/sdr"]
            shutil.rmtree(best, ignore_errors=True)
            shutil.copytree(package, best)
        print(f"  {name} epoch {len(history)}: val SI-SDR {metrics['val/sdr']:.2f} dB "
              f"(SI-SDRi {metrics['val/sdri']:+.2f}) at {metrics['wall_s']:.0f} s", flush=True)
    top = max(history, key=lambda m: m["val/sdr"])
    return {
        "config": cfg.model_dump(mode="json"),
        "params": int(history[-1]["model/params"]),
        "epochs": len(history),
        "items_seen": len(history) * args.train_length,
        "train_wall_s": round(time.perf_counter() - wall0, 1),
        "train_cpu_s": round(cpu_seconds() - cpu0, 1),
        "clock": args.clock, "budget_s": budget, "threads": args.threads,
        "best_epoch": int(top["epoch"]),
        "val_sdr_best": top["val/sdr"],
        "val_sdri_best": top["val/sdri"],
        "val_sdri_last": history[-1]["val/sdri"],
        "history": [{k: m[k] for k in ("epoch", "train/loss", "val/loss", "val/sdr", "val/sdri",
                                       "wall_s")} for m in history],
        "package": str(best),
    }


def score(package: Path, cache: Path, out: Path, split: str = "test",
          wiener: int | None = None) -> dict[str, Any]:
    """``avsep eval --split SPLIT --no-ablations [--wiener N]`` on ``package`` (default: the
    Wiener count the package was selected at); median SI-SDR figures."""
    import pandas as pd

    from avsep.commands import eval as eval_command

    parser = argparse.ArgumentParser()
    eval_command.add_arguments(parser)
    argv = ["--model", str(package), "--data", str(cache), "--split", split, "--no-ablations",
            "--out", str(out)]
    args = parser.parse_args(argv + (["--wiener", str(wiener)] if wiener is not None else []))
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    code = eval_command.run(args)
    if code != 0:
        raise SystemExit(f"avsep eval of {package} failed with exit code {code}")
    rows = pd.read_csv(out / "eval_rows.csv")
    rows = rows[rows["present"].astype(bool)]
    keys = ["item", "condition", "source"]
    model = rows[rows["system"] == "model"].set_index(keys)["si_sdr"]
    mixture = rows[rows["system"] == "mixture"].set_index(keys)["si_sdr"]
    oracle = rows[rows["system"] == "oracle_irm"].set_index(keys)["si_sdr"]
    gain = (model - mixture.reindex(model.index)).dropna()
    by_condition = gain.groupby(level="condition").median()
    return {
        "si_sdri_median_by_condition": {str(k): float(v) for k, v in by_condition.items()},
        "test_sources": int(gain.size),
        "test_items": int(rows["item"].nunique()),
        "si_sdr_model": float(model.median()),
        "si_sdr_mixture": float(mixture.median()),
        "si_sdri_median": float(gain.median()),
        "si_sdri_mean": float(gain.mean()),
        "si_sdri_oracle_irm": float((oracle - mixture.reindex(oracle.index)).dropna().median()),
        "eval_wall_s": round(time.perf_counter() - wall0, 1),
        "eval_cpu_s": round(cpu_seconds() - cpu0, 1),
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    head = ("| model | params | epochs | test SI-SDR model / mixture (dB) | SI-SDRi median (dB) "
            "| val SI-SDRi best (dB) | train wall / CPU (min) |\n|---|---:|---:|---|---:|---:|---|")
    lines = [head]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| `{name}` | | | failed: {r['error']} | | | |")
            continue
        lines.append(
            f"| `{name}` | {r['params']:,} | {r['epochs']} | {r['si_sdr_model']:.2f} / "
            f"{r['si_sdr_mixture']:.2f} | **{r['si_sdri_median']:+.2f}** | "
            f"{r['val_sdri_best']:+.2f} | {r['train_wall_s'] / 60:.1f} / "
            f"{r['train_cpu_s'] / 60:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated model names (default {','.join(MODELS)})")
    parser.add_argument("--corpus", default=None, help="an `avsep synth` corpus folder")
    parser.add_argument("--synth-minutes", type=float, default=DEFAULT_SYNTH_MINUTES,
                        help="corpus size when no --corpus is given (avsep synth --minutes)")
    parser.add_argument("--seed", type=int, default=0, help="corpus and training seed")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget (min)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="budget in wall time, or in CPU time x --threads (loaded machines)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--train-length", type=int, default=256, help="items per epoch")
    parser.add_argument("--val-length", type=int, default=64, help="validation items")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="experiment override for every model, e.g. model.conditioning="
                             "label_multiply (repeatable)")
    parser.add_argument("--work", default="/tmp/avsep_tiny_presets",
                        help="folder for the corpus, caches, checkpoints and eval reports")
    parser.add_argument("--name", default="tiny_presets", help="results/<name>.json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"--models: {unknown} are not separation models; choose from "
                         f"{','.join(MODELS)}")
    overrides = parse_sets(args.set)
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work).expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    wall0 = time.perf_counter()
    load_at_start = os.getloadavg()
    corpus = corpus_folder(args, work)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"{name}: preparing the cache", flush=True)
        wall, cpu = time.perf_counter(), cpu_seconds()
        cache = prepare(name, corpus, work)
        prepared = {"prepare_wall_s": round(time.perf_counter() - wall, 1),
                    "prepare_cpu_s": round(cpu_seconds() - cpu, 1), "cache": str(cache)}
        print(f"{name}: training for {args.minutes:g} min ({args.clock} clock, "
              f"{args.threads} thread(s))", flush=True)
        trained = train(name, cache, args, work / f"run_{name}", overrides)
        scored = score(Path(trained["package"]), cache, work / f"eval_{name}")
        results[name] = {**prepared, **trained, **scored}
        print(f"{name}: test SI-SDRi median {scored['si_sdri_median']:+.2f} dB "
              f"(model {scored['si_sdr_model']:.2f}, mixture {scored['si_sdr_mixture']:.2f})",
              flush=True)
    print(table(results))
    load = os.getloadavg()
    save(args.name, {
        "corpus": str(corpus),
        "corpus_summary": json.loads((corpus / "corpus.json").read_text()).get("counts"),
        "settings": {"minutes": args.minutes, "clock": args.clock, "threads": args.threads,
                     "train_length": args.train_length,
                     "val_length": args.val_length, "batch_size": args.batch_size,
                     "lr": args.lr, "seed": args.seed, "overrides": overrides},
        "load_average_at_start": load_at_start,
        "load_average_at_end": load,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "total_wall_s": round(time.perf_counter() - wall0, 1),
        "models": results,
        "table": table(results),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

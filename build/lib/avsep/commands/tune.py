"""`avsep tune`: the Ray Tune + Optuna (ASHA) search over a space, tracked in MLflow."""

from __future__ import annotations

import argparse
import json

from avsep.platform.cli_args import (
    add_cluster,
    add_debug,
    add_mlflow,
    add_outage_limit,
    add_storage,
    guarded,
)

HELP = "hyperparameter search: Ray Tune + Optuna + ASHA, MLflow tracking, champion registration"


def _paper_points(text: str) -> str | int:
    from avsep.search_spaces.base import parse_paper_points

    try:
        return parse_paper_points(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="search space (see `avsep spaces`)")
    parser.add_argument("--data", help="prepared cache (or folder of caches, one per rate)")
    parser.add_argument("--num-samples", type=int, default=8, help="trials (default 8)")
    parser.add_argument("--max-epochs", type=int, default=2, help="epochs per trial (ASHA max_t)")
    parser.add_argument("--objective", default=None,
                        help="METRIC[:min|max][,METRIC2...], e.g. val/sdr or "
                             "val/sdr,model/params for a Pareto front (default: the space's)")
    add_cluster(parser)
    add_storage(parser)
    add_mlflow(parser)
    parser.add_argument("--name", default=None, help="study name (default: the space name)")
    parser.add_argument("--config", default=None, help="base experiment config (YAML/JSON)")
    parser.add_argument("--preset", choices=("tiny", "paper"), default=None,
                        help="model size (tiny for CPU; paper on a GPU cluster); default: the "
                             "config file's model.preset, else tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-failures", type=int, default=2,
                        help="retries of a crashed trial from its last checkpoint (default 2)")
    parser.add_argument("--register-as", default=None,
                        help="registered model name (default avsep-<space>)")
    parser.add_argument("--force", action="store_true",
                        help="move @champion (and @champion-audio) to this search's best "
                             "model (best audio-only model) even when the current one is better "
                             "or was chosen on another objective or data")
    parser.add_argument("--optuna-storage", default=None,
                        help="Optuna RDB storage URL (default sqlite:///<dir>/optuna.db beside "
                             "the MLflow store)")
    parser.add_argument("--warm-start", default=None, metavar="STUDY",
                        help="seed this search with the finished trials of Optuna study STUDY "
                             "(same --optuna-storage)")
    parser.add_argument("--paper-points", type=_paper_points, default="all", metavar="all|none|N",
                        help="the space's paper configurations evaluated first: all (default), "
                             "none, or the first N; on the tiny preset they keep their design "
                             "choices and take the space's tiny lr and batch size (the paper "
                             "preset keeps the papers' values; docs/search.md)")
    parser.add_argument("--sampler", choices=("tpe", "random", "bohb"), default="tpe",
                        help="Optuna sampler: tpe (multivariate, grouped by conditional "
                             "dimensions, constant liar; default) or random; bohb is refused: "
                             "Ray's TuneBOHB cannot take avsep's define-by-run spaces")
    parser.add_argument("--grace-period", type=int, default=1,
                        help="ASHA: epochs a trial runs before it can be stopped (default 1)")
    parser.add_argument("--reduction-factor", type=int, default=2,
                        help="ASHA: keep 1/N of the trials at each rung (default 2); with "
                             "several objectives ASHA stops trials on the first alone")
    parser.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                        help="stop starting and running trials after this many seconds "
                             "(Tune's time_budget_s; default: no limit)")
    parser.add_argument("--finalists", type=int, default=3,
                        help="top trials re-scored on fresh validation sets before the "
                             "champion is chosen (default 3)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    add_outage_limit(parser)
    add_debug(parser)


def _run(args: argparse.Namespace) -> int:
    from avsep.platform.tune import SearchOptions, describe, prepare
    from avsep.platform.tune import run as run_search

    options = SearchOptions(
        space=args.space, data=args.data, num_samples=args.num_samples,
        max_epochs=args.max_epochs, gpus_per_trial=args.gpus_per_trial,
        workers_per_trial=args.workers_per_trial, objective=args.objective, resume=args.resume,
        storage=args.storage, mlflow_uri=args.mlflow_uri, name=args.name, config=args.config,
        preset=args.preset, seed=args.seed, max_concurrent=args.max_concurrent,
        register_as=args.register_as, num_cpus=args.num_cpus, force=args.force,
        max_failures=args.max_failures, optuna_storage=args.optuna_storage,
        warm_start=args.warm_start, address=args.address, sampler=args.sampler,
        grace_period=args.grace_period, reduction_factor=args.reduction_factor,
        time_budget=args.time_budget, finalists=args.finalists,
        paper_points=args.paper_points, tracking_outage_limit=args.tracking_outage_limit)
    print("avsep tune: checking the space, data and MLflow store ...", flush=True)
    plan = prepare(options)
    print(json.dumps(describe(plan), indent=2, default=str), flush=True)
    from avsep.platform.search_results import paper_points_line

    print(paper_points_line(plan), flush=True)
    outcome = run_search(plan)
    from avsep.evaluation.markdown import markdown

    print(f"\n{outcome.trials} trials ({outcome.failed} failed) in {outcome.seconds:.0f} s; "
          f"report in {outcome.report_dir}")
    print(markdown(outcome.table))
    if outcome.importances:
        print("parameter importances: " + ", ".join(
            f"{k} {v:.2f}" for k, v in outcome.importances.items()))
    for note in outcome.notes:
        print(f"report: {note}")
    if outcome.pareto is not None:
        print("Pareto front:\n" + markdown(outcome.pareto))
    if outcome.finalists is not None:
        print("finalists re-scored on fresh validation seeds (the champion is rank 1):\n"
              + markdown(outcome.finalists.drop(columns=["values"])))
    from avsep.platform.search_results import tool_lines

    print("\n".join(tool_lines(plan)))
    if outcome.verdict is None:
        print("no trial finished with a model: nothing registered")
        return 1
    print(f"best trial: run {outcome.champion_run}, {plan.objectives[0]} = "
          f"{outcome.champion_value:.3f}; {outcome.verdict.message}")
    from avsep.tracking.registry import champion_lines

    print("\n".join(champion_lines(plan.mlflow_uri, plan.register_as)))
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded("tune", lambda: _run(args), debug=args.debug)

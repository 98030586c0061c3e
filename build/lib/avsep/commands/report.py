"""`avsep report`: rebuild the report of a finished or interrupted search folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from avsep.platform.cli_args import add_debug, add_mlflow, add_storage, guarded

HELP = "summarise a search: top trials, parameter importances and plots, Pareto front"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="study name (the folder under --storage)")
    add_storage(parser)
    parser.add_argument("--objective", default=None,
                        help="METRIC[:min|max][,METRIC2] (default: the space's objective)")
    parser.add_argument("--out", default=None,
                        help="report folder (default <search>/report; $AVSEP_HOME/reports/<name> "
                             "when --storage is remote, e.g. s3://)")
    parser.add_argument("--top", type=int, default=10, help="rows of the top-trials table")
    add_mlflow(parser)
    add_debug(parser)


def _run(args: argparse.Namespace) -> int:
    from avsep import settings
    from avsep.evaluation.markdown import markdown
    from avsep.platform.search_results import report_only
    from avsep.tracking.store import resolve_tracking_uri

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
    local = Path(storage).expanduser().resolve().parent if "://" not in storage else None
    logged = log_to_study(resolve_tracking_uri(args.mlflow_uri, local), args.name, report.files)
    if logged:
        print(f"logged to the study's MLflow run {logged} (artifacts report-rebuilt/)")
    return 0


def log_to_study(uri: str, name: str, files: list) -> str | None:
    """Log the rebuilt report to study ``name``'s MLflow run when the store holds one."""
    import mlflow

    from avsep.tracking.store import configure

    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return None  # no store there: do not create one
    configure(uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id],
                              filter_string=f"tags.kind = 'study' and tags.study = '{name}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    for path in files:
        client.log_artifact(runs[0].info.run_id, str(path), "report-rebuilt")
    return runs[0].info.run_id


def run(args: argparse.Namespace) -> int:
    return guarded("report", lambda: _run(args), debug=args.debug)

"""Arguments and error handling shared by the platform commands (train, tune, reproduce, report,
eval).

Kept in avsep.platform (light imports only) so the command modules stay thin.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path


def add_mlflow(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mlflow-uri", default=None,
                        help="MLflow tracking URI (default sqlite:///<abs>/mlflow.db beside the "
                             "results)")


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", default=None,
                        help="results folder or URI (s3://..., shared on a cluster); default "
                             "$AVSEP_HOME/ray_results")


def add_cluster(parser: argparse.ArgumentParser, unit: str = "search",
                same: str = "--name/--storage") -> None:
    """Where and how wide trials run, as ``avsep tune`` and ``avsep reproduce`` share them:
    ``--address``, ``--gpus-per-trial``, ``--workers-per-trial``, ``--max-concurrent`` and
    ``--resume`` (``unit`` names what ``--resume`` finishes, ``same`` the flags that find it)."""
    parser.add_argument("--gpus-per-trial", type=float, default=0.0,
                        help="GPUs per trial, per DDP worker with --workers-per-trial "
                             "(a fraction shares one GPU; default 0: CPU)")
    parser.add_argument("--workers-per-trial", type=int, default=1, help="DDP workers per trial")
    parser.add_argument("--max-concurrent", type=int, default=None,
                        help="trials at once (default: what the cluster's CPUs/GPUs fit, at "
                             "its autoscaling maximum when Ray knows the cluster config)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (default $RAY_ADDRESS, else a new local Ray)")
    parser.add_argument("--resume", action="store_true",
                        help=f"finish an interrupted {unit} (same {same}); finished trials "
                             "are kept, errored ones are retried from their last checkpoint")


def check_cluster(args: argparse.Namespace) -> str | None:
    """The message for a bad ``add_cluster`` value (None when all are valid)."""
    if args.workers_per_trial < 1:
        return "--workers-per-trial must be >= 1"
    if args.gpus_per_trial < 0:
        return "--gpus-per-trial must be >= 0"
    if args.max_concurrent is not None and args.max_concurrent < 1:
        return "--max-concurrent must be >= 1 (or leave it out: what the cluster fits)"
    return None


def _outage_seconds(text: str) -> float:
    """``--tracking-outage-limit``'s value: seconds > 0 (argparse names the flag on error)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text}: expected seconds > 0 (default 600)")
    return seconds


def add_outage_limit(parser: argparse.ArgumentParser) -> None:
    """``--tracking-outage-limit``, refused at parse time unless it is seconds > 0 (``avsep
    tune`` and ``avsep reproduce`` share it)."""
    parser.add_argument("--tracking-outage-limit", type=_outage_seconds, default=600.0,
                        metavar="SECONDS",
                        help="how long an MLflow tracking server may be away: trials keep "
                             "training and spool their records meanwhile; beyond it the run "
                             "fails naming the URI (default 600; docs/search.md)")


def add_debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of its one-line "
                             "summary (the traceback is always written to $AVSEP_HOME/logs)")


def _log_traceback(command: str) -> Path | None:
    """Write the current exception's traceback to ``$AVSEP_HOME/logs/<command>-<time>.log``."""
    import time
    import traceback

    from avsep import settings

    try:
        folder = settings.home() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.write_text(traceback.format_exc())
        return path
    except OSError:
        return None


def guarded(command: str, body: Callable[[], int], debug: bool = False) -> int:
    """Run ``body``; known errors print one clear line and exit 2 instead of a trace.

    The full traceback is never lost: it goes to a log file named on that line, and with
    ``debug`` (``--debug``) the error propagates with its traceback.
    """
    from avsep.config import ConfigError
    from avsep.platform.data import DataPathError
    from avsep.tracking.store import TrackingError

    try:
        return body()
    except (ConfigError, DataPathError, TrackingError, ValueError, FileNotFoundError) as err:
        if debug:
            raise
        log = _log_traceback(command)
        where = f" (traceback: {log}; rerun with --debug to print it)" if log else ""
        print(f"avsep {command}: {err}{where}", file=sys.stderr)
        return 2

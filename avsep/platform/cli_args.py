"""Arguments and error handling shared by the platform commands (train, tune, report, eval).

Kept in avsep.platform (light imports only) so the command modules stay thin.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def add_mlflow(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mlflow-uri", default=None,
                        help="MLflow tracking URI (default sqlite:///<abs>/mlflow.db beside the "
                             "results)")


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", default=None,
                        help="results folder or URI (s3://..., shared on a cluster); default "
                             "$AVSEP_HOME/ray_results")


def guarded(command: str, body: Callable[[], int]) -> int:
    """Run ``body``; known setup errors print one clear line and exit 2 instead of a trace."""
    from avsep.config import ConfigError
    from avsep.platform.data import DataPathError
    from avsep.platform.mlflow_utils import TrackingError

    try:
        return body()
    except (ConfigError, DataPathError, TrackingError, ValueError, FileNotFoundError) as err:
        print(f"avsep {command}: {err}", file=sys.stderr)
        return 2

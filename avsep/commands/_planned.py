"""Helper for subcommands that are designed but not built yet."""

from __future__ import annotations

import argparse
import sys


def planned(command: str, issue: int, what: str):
    """Return ``(add_arguments, run)`` for a command that is planned in issue ``issue``."""

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(args: argparse.Namespace) -> int:
        print(
            f"avsep {command}: not built yet — {what} is planned in issue #{issue}.",
            file=sys.stderr,
        )
        return 2

    return add_arguments, run

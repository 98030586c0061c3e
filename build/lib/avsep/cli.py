"""The ``avsep`` command line: one subcommand per module in :mod:`avsep.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs (or for ``--help``),
so ``avsep doctor`` does not pay for importing Ray Serve.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). The order is the order ``avsep --help`` lists them in.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("avsep.commands.doctor", "check versions, devices, Ray and the MLflow store"),
    "synth": ("avsep.commands.synth", "write the synthetic audio-visual corpus"),
    "data": ("avsep.commands.data", "inspect a dataset copy: what a layout reader finds"),
    "prepare": ("avsep.commands.prepare", "decode, crop and cache a dataset for training"),
    "models": ("avsep.commands.models", "list the model zoo"),
    "spaces": ("avsep.commands.spaces", "list the search spaces and their dimensions"),
    "train": ("avsep.commands.train", "train one model with Ray Train"),
    "tune": ("avsep.commands.tune", "run a hyperparameter search with Ray Tune + Optuna"),
    "eval": ("avsep.commands.eval", "paper-style evaluation report of a model"),
    "report": ("avsep.commands.report", "summarise a finished search"),
    "reproduce": ("avsep.commands.reproduce", "check a paper's headline findings end to end"),
    "serve": ("avsep.commands.serve", "serve a model over HTTP with Ray Serve"),
    "separate": ("avsep.commands.separate", "separate a file locally, without a server"),
    "cluster": ("avsep.commands.cluster", "a local multi-node Ray cluster for tests and demos"),
}


def build_parser() -> argparse.ArgumentParser:
    from avsep import __version__

    parser = argparse.ArgumentParser(
        prog="avsep",
        description="Hyperparameter search for audio-visual music source separation.",
    )
    parser.add_argument("--version", action="version", version=f"avsep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        description = getattr(module, "HELP", help_text)
        command = sub.add_parser(name, help=help_text, description=description)
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(args._module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

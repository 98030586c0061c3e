"""`avsep spaces`: the search spaces, their dimensions and the papers' starting points."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list the search spaces: dimensions (with conditions) and the papers' configurations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="only these spaces (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def describe(name: str) -> dict[str, Any]:
    """A JSON-ready description of the space ``name``."""
    from avsep.search_spaces import get

    space = get(name)
    return {
        "name": space.name, "description": space.description, "task": space.task,
        "objective": space.objective,
        "dimensions": [{"name": d.name, "values": d.describe(), "help": d.help,
                        "when": d.when} for d in space.dimensions],
        "points_to_evaluate": list(space.points_to_evaluate),
    }


def run(args: argparse.Namespace) -> int:
    from avsep.search_spaces import names

    try:
        spaces = [describe(n) for n in (args.names or names())]
    except ValueError as err:
        print(f"avsep spaces: {err}")
        return 2
    if args.json:
        print(json.dumps(spaces, indent=2, default=str))
        return 0
    for space in spaces:
        print(f"{space['name']} — {space['description']}")
        print(f"  task {space['task']}, objective {space['objective']}, "
              f"{len(space['points_to_evaluate'])} paper configuration(s) evaluated first")
        width = max(len(d["name"]) for d in space["dimensions"])
        for dim in space["dimensions"]:
            when = f"  [when {dim['when']}]" if dim["when"] else ""
            print(f"    {dim['name']:<{width}}  {dim['values']:<40} {dim['help']}{when}")
        print()
    return 0

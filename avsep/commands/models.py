"""`avsep models` (planned in issue #4)."""

from avsep.commands._planned import planned

HELP = "the model zoo table (not built yet, issue #4)"
add_arguments, run = planned("models", 4, "the model zoo table")

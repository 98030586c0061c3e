"""`avsep data` (planned in issue #3)."""

from avsep.commands._planned import planned

HELP = "the dataset inspector (not built yet, issue #3)"
add_arguments, run = planned("data", 3, "the dataset inspector")

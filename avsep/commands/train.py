"""`avsep train` (planned in issue #5)."""

from avsep.commands._planned import planned

HELP = "training with Ray Train (not built yet, issue #5)"
add_arguments, run = planned("train", 5, "training with Ray Train")

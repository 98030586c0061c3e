"""`avsep tune` (planned in issue #5)."""

from avsep.commands._planned import planned

HELP = "the Ray Tune + Optuna search (not built yet, issue #5)"
add_arguments, run = planned("tune", 5, "the Ray Tune + Optuna search")

"""`avsep eval` (planned in issue #5)."""

from avsep.commands._planned import planned

HELP = "the evaluation report (not built yet, issue #5)"
add_arguments, run = planned("eval", 5, "the evaluation report")

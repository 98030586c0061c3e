"""`avsep synth` (planned in issue #3)."""

from avsep.commands._planned import planned

HELP = "the synthetic corpus writer (not built yet, issue #3)"
add_arguments, run = planned("synth", 3, "the synthetic corpus writer")

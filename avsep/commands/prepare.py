"""`avsep prepare` (planned in issue #3)."""

from avsep.commands._planned import planned

HELP = "the decode-and-cache step (not built yet, issue #3)"
add_arguments, run = planned("prepare", 3, "the decode-and-cache step")

"""`avsep serve` (planned in issue #6)."""

from avsep.commands._planned import planned

HELP = "the Ray Serve deployment (not built yet, issue #6)"
add_arguments, run = planned("serve", 6, "the Ray Serve deployment")

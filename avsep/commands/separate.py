"""`avsep separate` (planned in issue #6)."""

from avsep.commands._planned import planned

HELP = "local separation (not built yet, issue #6)"
add_arguments, run = planned("separate", 6, "local separation")

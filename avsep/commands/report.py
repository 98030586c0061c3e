"""`avsep report` (planned in issue #5)."""

from avsep.commands._planned import planned

HELP = "the search summary (not built yet, issue #5)"
add_arguments, run = planned("report", 5, "the search summary")

"""`avsep spaces` (planned in issue #5)."""

from avsep.commands._planned import planned

HELP = "the search-space listing (not built yet, issue #5)"
add_arguments, run = planned("spaces", 5, "the search-space listing")

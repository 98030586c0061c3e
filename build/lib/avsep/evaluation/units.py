"""Which independent excerpt and which test condition an evaluated item belongs to.

The statistics (:mod:`avsep.evaluation.stats`) resample excerpts, not rows: every scoring
function writes the ``excerpt`` of each row. A dataset names it
(:meth:`~avsep.data.datasets.base.MixingDataset.excerpt_of`: the track, the URMP piece; a
:class:`~avsep.data.datasets.TestSelection` passes its dataset's through); a plain sequence of
item dicts (a test's hand-made items) names none, and each of its items is its own excerpt.
"""

from __future__ import annotations

from typing import Any


def excerpt_of(dataset: Any, index: int) -> str:
    """The id of the independent excerpt item ``index`` of ``dataset`` comes from."""
    method = getattr(dataset, "excerpt_of", None)
    return str(method(index)) if callable(method) else str(index)


def condition_of(dataset: Any, index: int) -> str:
    """The test condition of item ``index`` (``plain`` / ``v+`` for singing; ``all`` where the
    dataset has none)."""
    method = getattr(dataset, "condition_of", None)
    return str(method(index)) if callable(method) else "all"

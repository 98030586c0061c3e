"""Search spaces: Optuna define-by-run functions, one module per study.

``get(name)`` returns a :class:`~avsep.search_spaces.base.SearchSpace`; ``names()`` lists
them. Importing this package imports nothing heavier than the standard library (Optuna is only
needed to *run* a space).
"""

from __future__ import annotations

from avsep.search_spaces import (
    attribute_aware,
    av_singing,
    conditioned_unet,
    sound_of_pixels,
    vad_detector,
    vocalist,
    vocalist_ynet,
    zoo,
)
from avsep.search_spaces.base import EXPERIMENT_KEY, SearchSpace

SPACES: dict[str, SearchSpace] = {
    module.SPACE.name: module.SPACE
    for module in (av_singing, conditioned_unet, sound_of_pixels, attribute_aware, vad_detector,
                   vocalist, vocalist_ynet, zoo)
}


def names() -> list[str]:
    """Names of all search spaces, in listing order."""
    return list(SPACES)


def get(name: str) -> SearchSpace:
    """The space called ``name``; a ``ValueError`` lists the valid names otherwise."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; valid choices: {', '.join(SPACES)}")
    return SPACES[name]


__all__ = ["EXPERIMENT_KEY", "SPACES", "SearchSpace", "get", "names"]

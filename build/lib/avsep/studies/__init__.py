"""The papers' headline findings, one declaration per paper (see :mod:`avsep.studies.base`).

``get(key)`` returns a :class:`~avsep.studies.base.Study`; ``names()`` lists them. Importing
this package imports nothing heavy: a study is data; :mod:`avsep.platform.reproduce` runs it.
"""

from __future__ import annotations

from avsep.studies import kadandale, li, slizovskaia, solos, swaminathan
from avsep.studies.base import Arm, Finding, Study

STUDIES: dict[str, Study] = {m.STUDY.key: m.STUDY
                             for m in (li, slizovskaia, solos, swaminathan, kadandale)}


def names() -> list[str]:
    """The study keys, in listing order."""
    return list(STUDIES)


def get(key: str) -> Study:
    """The study ``key``; a ``ValueError`` lists the valid keys otherwise."""
    if key not in STUDIES:
        raise ValueError(f"unknown study {key!r}; valid choices: {', '.join(STUDIES)}")
    return STUDIES[key]


__all__ = ["STUDIES", "Arm", "Finding", "Study", "get", "names"]

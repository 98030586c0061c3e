"""Declared search dimensions: one object per Optuna parameter, used by the space and its listing.

A space calls ``DIM.suggest(trial)`` inside its define-by-run function; the same objects are
listed by ``avsep spaces``, so a dimension's name, range and help are written exactly once.
``when`` says under which condition a conditional dimension is sampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class TrialLike(Protocol):
    """The part of ``optuna.Trial`` a space uses (Ray's suggest captor has the same methods)."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...


@dataclass(frozen=True)
class Categorical:
    """A choice among ``choices`` (str, int, float, bool or None values)."""

    name: str
    choices: tuple[Any, ...]
    help: str
    when: str | None = None

    def suggest(self, trial: TrialLike) -> Any:
        return trial.suggest_categorical(self.name, list(self.choices))

    def describe(self) -> str:
        return "{" + ", ".join(str(c) for c in self.choices) + "}"


@dataclass(frozen=True)
class Float:
    """A real number in ``[low, high]``, log-uniform when ``log``."""

    name: str
    low: float
    high: float
    help: str
    log: bool = False
    when: str | None = None

    def suggest(self, trial: TrialLike) -> float:
        return float(trial.suggest_float(self.name, self.low, self.high, log=self.log))

    def describe(self) -> str:
        return f"[{self.low:g}, {self.high:g}]" + (" log" if self.log else "")


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]``."""

    name: str
    low: int
    high: int
    help: str
    log: bool = False
    when: str | None = None

    def suggest(self, trial: TrialLike) -> int:
        return int(trial.suggest_int(self.name, self.low, self.high, log=self.log))

    def describe(self) -> str:
        return f"{self.low}..{self.high}" + (" log" if self.log else "")


@dataclass(frozen=True)
class Scored:
    """Not sampled: every value is scored from one forward pass (e.g. Wiener iterations)."""

    name: str
    values: tuple[int, ...]
    help: str
    when: str | None = None

    def describe(self) -> str:
        return "scored per trial: " + ", ".join(str(v) for v in self.values)


Dimension = Categorical | Float | Int | Scored

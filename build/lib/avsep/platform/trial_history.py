"""A trial's history: the rows Tune recorded for it, less those of an attempt that was replaced.

When a search driver dies and the search is resumed (``avsep tune --resume``, ``avsep
reproduce --resume``) on the same Ray cluster, Tune restarts each unfinished trial from its
registered checkpoint (from scratch without one) and writes to the killed driver's own staging
folder again (Ray Tune 2.60 keeps the experiment's staging timestamp on restore). Its result
logger replaces the staged ``result.json`` with the stored one only for a trial that has a
checkpoint, so a trial restarted from scratch appends to rows its killed attempt had staged
but not yet synced: a history of epochs 1, 1, 2, whose first row belongs to an MLflow run the
resume marked KILLED. A trial restored from checkpoint ``k`` may likewise repeat an epoch
after ``k`` that the killed attempt had reported.

Rule: a row whose epoch is not above the previous row's starts a new attempt, and the rows of
the earlier attempt at or after that epoch are dropped. Each epoch then appears once, from the
attempt that went on.
"""

from __future__ import annotations

from typing import Any


def step_column(history: Any) -> str | None:
    """The column that counts a trial's reports: ``epoch`` (avsep's training loop), else Tune's
    ``training_iteration``; None when the history has neither."""
    for name in ("epoch", "training_iteration"):
        if name in history:
            return name
    return None


def latest_attempt(history: Any) -> Any:
    """``history`` (a pandas DataFrame of a trial's reports, in the order Tune recorded them)
    without the rows of replaced attempts (module docstring); its index is kept."""
    column = step_column(history)
    if column is None or history.empty:
        return history
    kept: list[tuple[Any, float]] = []  # (index label, step) of the rows that stand
    for label, step in zip(history.index, history[column].astype(float), strict=True):
        while kept and kept[-1][1] >= step:
            kept.pop()
        kept.append((label, step))
    return history.loc[[label for label, _ in kept]]


def trial_history(result: Any) -> Any:
    """The history of one Tune ``Result`` (its ``metrics_dataframe``) as :func:`latest_attempt`
    leaves it; None when Tune holds none."""
    history = result.metrics_dataframe
    return None if history is None else latest_attempt(history)

"""What a Ray Tune driver's saved experiment state holds, for the tests that kill a driver and
resume it (``tests/platform/test_tune.py``, ``tests/cluster/``)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any


def result_rows(experiment: Path) -> dict[str, list[dict[str, Any]]]:
    """Trial id -> the results Tune recorded for it in ``experiment``, in order (its
    ``result.json`` lines: epoch, node_ip, pid, timestamp, ...); trials that reported."""
    rows = {}
    for path in sorted(experiment.glob("*/result.json")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if lines:
            rows[lines[0]["trial_id"]] = lines
    return rows


def epochs(rows: list[dict[str, Any]]) -> list[int]:
    """The epochs of a trial's result rows, in order."""
    return [int(row["epoch"]) for row in rows]


def saved_trials(experiment: Path) -> dict[str, tuple[str, int]]:
    """Trial id -> (status, epochs its registered checkpoint holds) in the newest experiment
    state Tune saved in ``experiment``: what ``--resume`` restores each trial from.

    The epochs come from the trial's checkpoint manager only (Tune 2.60 stores it
    cloudpickled, as hex, the checkpoint's folder ``checkpoint_00000K`` in it, one an epoch
    here): its ``last_result`` names a checkpoint in saves made before Tune registers it, and
    a resume restarts the trial from the registered one (from scratch when there is none).
    Empty while no state is saved or while it is being replaced."""
    states = sorted(experiment.glob("experiment_state*.json"))
    try:
        entries = json.loads(states[-1].read_text())["trial_data"] if states else []
        out = {}
        for trial, metadata in entries:
            fields = json.loads(trial)
            manager = json.loads(metadata)["checkpoint_manager"]
            saved = bytes.fromhex(manager["value"]) if isinstance(manager, dict) \
                and "value" in manager else json.dumps(manager).encode()
            indices = [int(i) for i in re.findall(rb"checkpoint_(\d{6})", saved)]
            out[fields["trial_id"]] = (fields["status"], max(indices) + 1 if indices else 0)
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def finished(experiment: Path) -> set[str]:
    """Trial ids the newest saved experiment state of ``experiment`` marks ``TERMINATED``."""
    return {trial for trial, (status, _) in saved_trials(experiment).items()
            if status == "TERMINATED"}


def assert_not_trained_again(rows: list[dict[str, Any]], killed_at: float,
                             last: int | None = None) -> None:
    """A trial that the killed driver's saved state marks finished, its ``result.json`` lines
    read after the resume: epochs 1 to ``last`` (``None``: to wherever a scheduler stopped
    it), each reported before the kill.

    Its lines read right after the kill are no reference: Tune copies the driver's staging
    folder to storage after each save, file by file, so a kill during that copy leaves the
    files it was rewriting empty in storage (seen: a finished trial's ``result.json`` and
    ``params.json`` at 0 bytes); a resume on the same cluster copies the intact staged files
    again."""
    assert epochs(rows) == list(range(1, (last or len(rows)) + 1)), epochs(rows)
    assert all(row["timestamp"] <= killed_at for row in rows), "trained again after the kill"


def killed_now() -> float:
    """The kill's time (``time.time()``), returned a second later so that every row the
    resumed search reports carries a later Tune ``timestamp`` (whole seconds) than any row of
    the killed driver."""
    killed_at = time.time()
    time.sleep(1.0)
    return killed_at


def assert_went_on(rows: list[dict[str, Any]], killed_at: float, kept: int,
                   last: int | None = None) -> None:
    """A resumed trial's ``result.json`` lines, read after the resume: the leading rows the
    killed driver's attempt reported (``timestamp`` at or before ``killed_at``, from
    :func:`killed_now`) are epochs 1, 2, ..., and the rows after them go on from ``kept``
    (what its registered checkpoint holds; 0: from the start), none skipped or trained twice
    from there, up to ``last`` when given (``None``: a scheduler may have stopped it early).
    A resume on the same Ray cluster appends to the killed driver's staged file, so the killed
    attempt's rows can include some that had not reached storage when the driver died
    (avsep/platform/trial_history.py); an epoch reported after the last save runs again, as
    docs/cluster.md says."""
    before = [row for row in rows if row["timestamp"] <= killed_at]
    assert rows[:len(before)] == before, "a killed attempt's row after the resumed ones"
    reported, new = epochs(before), epochs(rows[len(before):])
    stop = kept + 1 + len(new) if last is None else last + 1
    assert reported == list(range(1, len(reported) + 1)), reported
    assert new == list(range(kept + 1, stop)), (reported, epochs(rows), kept)

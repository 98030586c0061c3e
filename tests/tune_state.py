"""What a Ray Tune driver's saved experiment state holds, for the tests that kill a driver and
resume it (``tests/platform/test_tune.py``, ``tests/cluster/``)."""

from __future__ import annotations

import json
import re
from pathlib import Path


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


def assert_went_on(before: list[int], after: list[int], kept: int, last: int | None = None
                   ) -> None:
    """A resumed trial's epochs: ``before`` (reported when the driver died) are 1, 2, ... and
    the epochs reported after the resume go on from ``kept`` (what its registered checkpoint
    holds; 0: from the start), none skipped or trained twice from there, up to ``last`` when
    given (``None``: a scheduler may have stopped it early). An epoch reported after the last
    save runs again, as docs/cluster.md says."""
    new = after[len(before):]
    stop = kept + 1 + len(new) if last is None else last + 1
    assert before == list(range(1, len(before) + 1)), before
    assert new == list(range(kept + 1, stop)), (before, after, kept)

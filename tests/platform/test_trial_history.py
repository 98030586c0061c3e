"""A trial's history without the rows of an attempt that a resume replaced
(``avsep.platform.trial_history``; the case seen in a resumed cluster reproduction: epochs
1, 1, 2, the first from the killed driver's attempt)."""

from __future__ import annotations

import pandas as pd
from ray.tune import Result

from avsep.platform.objectives import Objective
from avsep.platform.search_results import results_frame
from avsep.platform.trial_history import latest_attempt


def _history(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    """(epoch, MLflow run id, val/sdr) rows in the order Tune recorded them."""
    return pd.DataFrame([{"epoch": e, "mlflow_run_id": run, "val/sdr": sdr,
                          "trial_id": "t0"} for e, run, sdr in rows])


def test_a_trial_restarted_from_scratch_keeps_only_its_new_rows():
    history = _history([(1, "killed", 9.0), (1, "new", 1.0), (2, "new", 2.0)])
    kept = latest_attempt(history)
    assert kept["epoch"].tolist() == [1, 2]
    assert kept["mlflow_run_id"].tolist() == ["new", "new"]
    assert kept.index.tolist() == [1, 2]  # the labels of the rows that stand


def test_an_epoch_reported_again_after_a_checkpoint_restore_counts_once():
    # restored from the checkpoint of epoch 1; epoch 2 had been reported, not checkpointed
    history = _history([(1, "a", 1.0), (2, "a", 5.0), (2, "a", 2.0), (3, "a", 3.0)])
    kept = latest_attempt(history)
    assert kept["epoch"].tolist() == [1, 2, 3]
    assert kept["val/sdr"].tolist() == [1.0, 2.0, 3.0]


def test_a_longer_replaced_attempt_is_dropped_whole():
    history = _history([(1, "a", 1.0), (2, "a", 2.0), (3, "a", 8.0), (1, "b", 0.5),
                        (2, "b", 0.7)])
    assert latest_attempt(history)["val/sdr"].tolist() == [0.5, 0.7]


def test_histories_without_restarts_or_steps_are_unchanged():
    plain = _history([(1, "a", 1.0), (2, "a", 2.0), (3, "a", 3.0)])
    assert latest_attempt(plain).equals(plain)
    iterations = pd.DataFrame({"training_iteration": [1, 2, 1], "x": [1.0, 2.0, 3.0]})
    assert latest_attempt(iterations)["x"].tolist() == [3.0]
    no_step = pd.DataFrame({"x": [3.0, 1.0]})
    assert latest_attempt(no_step).equals(no_step)
    assert latest_attempt(pd.DataFrame()).empty


def test_the_search_table_takes_the_best_epoch_of_the_attempt_that_went_on(tmp_path):
    # the killed attempt's epoch 1 scored 9 dB: a row of a run the resume marked KILLED,
    # whose checkpoint Tune never registered, must not stand for the trial
    history = _history([(1, "killed", 9.0), (1, "new", 1.0), (2, "new", 2.0)])
    result = Result(metrics=history.iloc[-1].to_dict(), checkpoint=None, error=None,
                    path=str(tmp_path / "trial"), metrics_dataframe=history)
    row = results_frame([result], Objective("val/sdr", "max")).iloc[0]
    assert (row["epoch"], row["mlflow_run_id"], row["val/sdr"]) == (2, "new", 2.0)

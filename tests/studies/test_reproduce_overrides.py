"""`avsep reproduce --lr/--batch-size`: every arm trains with the override over its paper
point's value, and the trained runs are still matched back to their arms."""

from __future__ import annotations

from types import SimpleNamespace

from avsep.platform.reproduce import ReproduceOptions, _trained_runs, arm_params, training_key
from avsep.studies import STUDIES


def test_overrides_replace_the_paper_points_values_and_runs_still_match(tmp_path):
    study = STUDIES["slizovskaia"]
    arms = [study.arm("plain_w0"), study.arm("label_multiply")]
    assert {arm_params(a)["lr"] for a in arms} == {1e-5}  # the paper's rate
    options = ReproduceOptions(paper="slizovskaia", out=tmp_path,
                               train_overrides={"lr": 1e-3, "batch_size": 8})
    # what a finished trial reports: its config is the point it trained (overrides applied)
    results = [SimpleNamespace(config={**arm_params(a), **options.train_overrides},
                               metrics={"mlflow_run_id": f"run{i}"}, error=None)
               for i, a in enumerate(arms)]
    found = _trained_runs(results, arms, options)
    assert found == {training_key(arms[0]): "run0", training_key(arms[1]): "run1"}
    # a trial that kept the paper's lr is not taken for an overridden arm
    stale = [SimpleNamespace(config=arm_params(arms[0]), metrics={"mlflow_run_id": "old"},
                             error=None)]
    assert _trained_runs(stale, arms, options) == {}

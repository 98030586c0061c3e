"""Finalists re-scored on fresh validation sets, from real MLflow runs of the training loop.

Slow (``-m slow``): the module trains two 1-epoch runs into a sqlite MLflow store once
(about 20 s of CPU; a minute of wall time on the loaded 2-core box).
"""

from __future__ import annotations

import math
import statistics

import mlflow
import pandas as pd
import pytest

from avsep.config import merge, validate
from avsep.platform.finalists import (
    COLUMNS,
    fresh_seeds,
    rescore_finalists,
    rescore_run,
    top_trials,
)
from avsep.platform.objectives import Objective
from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker
from tests.platform.conftest import TINY_TRAIN

SDR = Objective("val/sdr", "max")


@pytest.fixture(scope="module")
def runs(tiny_cache, tmp_path_factory):
    """Two 1-epoch runs of the tiny MMDenseNet (lr 1e-3 and 3e-3) in a sqlite MLflow store;
    returns (tracking uri, frame with one row per run as ``results_frame`` makes it)."""
    root = tmp_path_factory.mktemp("finalists")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    for i, lr in enumerate((1e-3, 3e-3)):
        cfg = validate(merge(TINY_TRAIN, {"model": {"name": "mmdensenet", "preset": "tiny"},
                                          "data": {"cache": str(tiny_cache)},
                                          "train": {"epochs": 1, "lr": lr},
                                          "eval": {"examples": 0}}))
        context = RunContext(local_root=str(root / f"run{i}"), mlflow_uri=uri,
                             mlflow_experiment="finalists", artifact_root=str(root / "art"),
                             run_name=f"lr{lr:g}")
        train_loop_per_worker(make_config(cfg, context))
    mlflow.set_tracking_uri(uri)
    found = mlflow.search_runs(experiment_names=["finalists"])
    frame = pd.DataFrame({"trial_id": [f"t{i}" for i in range(len(found))],
                          "mlflow_run_id": found["run_id"].tolist(),
                          "val/sdr": found["metrics.val/sdr"].tolist(),
                          "error": [False] * len(found)})
    return uri, frame


@pytest.mark.slow
def test_the_search_seed_reproduces_the_logged_score(runs):
    uri, frame = runs
    for _, row in frame.iterrows():
        again = rescore_run(uri, row["mlflow_run_id"], SDR, seeds=[0], device="cpu")
        assert again[0] == pytest.approx(row["val/sdr"], abs=1e-3)


@pytest.mark.slow
def test_finalists_get_mean_and_spread_over_fresh_seeds(runs):
    uri, frame = runs
    table = rescore_finalists(uri, frame, SDR, k=2, seeds=3, device="cpu")
    assert list(table.columns) == list(COLUMNS)
    assert list(table["rank"]) == [1, 2]
    assert sorted(table["run_id"]) == sorted(frame["mlflow_run_id"])
    assert table["mean"].is_monotonic_decreasing
    for _, row in table.iterrows():
        assert row["seeds"] == 3 and len(row["values"]) == 3
        assert row["mean"] == pytest.approx(statistics.fmean(row["values"]), abs=1e-3)
        assert row["std"] == pytest.approx(statistics.stdev(row["values"]), abs=1e-3)
        assert row["min"] <= row["mean"] <= row["max"]
        logged = frame.set_index("mlflow_run_id").loc[row["run_id"], "val/sdr"]
        assert row["search"] == pytest.approx(logged)
    # a fresh seed draws another validation set: the score differs from the search's
    assert not any(math.isclose(v, s, abs_tol=1e-6) for v, s in
                   zip(table["values"].map(lambda v: v[0]), table["search"], strict=True))


def test_top_trials_skip_errors_and_missing_values():
    frame = pd.DataFrame({"trial_id": ["a", "b", "c", "d"],
                          "mlflow_run_id": ["ra", "rb", "", "rd"],
                          "val/loss": [0.5, 0.2, 0.1, float("nan")],
                          "error": [False, True, False, False]})
    chosen = top_trials(frame, Objective("val/loss", "min"), k=3)
    assert list(chosen["trial_id"]) == ["a"]  # b errored, c has no run, d has no value
    frame["error"] = False
    assert list(top_trials(frame, Objective("val/loss", "min"), k=1)["trial_id"]) == ["b"]


def test_bad_requests_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="--finalists 0"):  # refused before any download
        rescore_run(f"sqlite:///{tmp_path / 'm.db'}", "run", Objective("model/params", "min"),
                    [1])
    with pytest.raises(ValueError, match="--finalists 0: expected >= 1"):
        top_trials(pd.DataFrame({"val/sdr": [1.0]}), SDR, 0)
    assert fresh_seeds(5, 3) == [6, 7, 8]

"""Objectives, the Pareto front, the top-trials table and importances on hand-made results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from avsep.evaluation.markdown import markdown
from avsep.platform.objectives import Objective, pareto_mask, parse
from avsep.platform.report import (
    MIN_TRIALS,
    TRIALS_PER_DIMENSION,
    history_figure,
    importance_check,
    importance_figure,
    mixture_baseline,
    rebuild_study,
    varied_dimensions,
    write_report,
)
from avsep.search_spaces import get


def test_parse_objectives_and_modes():
    assert parse("val/sdr") == [Objective("val/sdr", "max")]
    assert parse("val/sdr, model/params") == [Objective("val/sdr", "max"),
                                              Objective("model/params", "min")]
    assert parse("val/sdr@w2:min") == [Objective("val/sdr@w2", "min")]
    with pytest.raises(ValueError, match="unknown objective 'val/acc'"):
        parse("val/acc")
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        parse("val/sdr:up")
    with pytest.raises(ValueError, match="names a metric twice"):
        parse("val/sdr,val/sdr")


def test_pareto_mask_on_a_known_front():
    # (sdr max, params min): a=(5,10) b=(4,5) c=(3,8) dominated by b, d=(6,20), e=NaN
    values = np.array([[5, 10], [4, 5], [3, 8], [6, 20], [np.nan, 1]], dtype=float)
    assert pareto_mask(values, ["max", "min"]).tolist() == [True, True, False, True, False]
    assert pareto_mask(values[:4], ["min", "max"]).tolist() == [True, False, True, True]


def _frame(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Fake search results where the SDR depends only on the learning rate."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        modality = ["audio", "audio_visual"][i % 2]
        lr = float(10 ** rng.uniform(-5, -2.6))
        row = {"trial_id": f"t{i}", "config/modality": modality, "config/lr": lr,
               "config/mask_layer": bool(i % 3), "config/batch_size": 8,
               "config/extra_vocal_share": 0.5, "val/sdr": 10 + 3 * np.log10(lr),
               "model/params": 1000.0 * (1 + i), "val/loss": 1.0}
        if modality == "audio_visual":
            row["config/frontend"] = "conv3d"
        rows.append(row)
    return pd.DataFrame(rows)


def test_report_files_top_table_and_importances(tmp_path):
    frame = _frame()
    space = get("av_singing")
    objectives = [Objective("val/sdr", "max"), Objective("model/params", "min")]
    report = write_report(frame, space, objectives, tmp_path, k=5)
    assert list(report.table["val/sdr"]) == sorted(frame["val/sdr"], reverse=True)[:5]
    assert "lr" in report.table.columns and "config/lr" not in report.table.columns
    assert max(report.importances, key=report.importances.get) == "lr"
    assert json.loads((tmp_path / "importances.json").read_text()) == report.importances
    for name in ("top_trials.md", "top_trials.csv", "optimization_history.png",
                 "param_importances.png", "pareto_front.png", "pareto_front.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    values = frame[["val/sdr", "model/params"]].to_numpy()
    expected = set(frame.loc[pareto_mask(values, ["max", "min"]), "trial_id"])
    assert set(report.pareto["trial_id"]) == expected


def test_rebuilt_study_skips_unsampled_conditionals():
    frame = _frame(4)
    study = rebuild_study(frame, get("av_singing"), Objective("val/sdr", "max"))
    assert len(study.trials) == 4
    assert "frontend" not in study.trials[0].params  # audio-only trial
    assert study.trials[1].params["frontend"] == "conv3d"
    assert study.best_value == pytest.approx(frame["val/sdr"].max())


def test_markdown_table():
    text = markdown(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x", "y"]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1.235 | x |", "|  | y |"]


def test_importances_only_over_varied_dimensions_and_plots_name_the_metric(tmp_path):
    frame = _frame().assign(**{"val/sdr_mixture": -3.0})
    report = write_report(frame, get("av_singing"), [Objective("val/sdr", "max")], tmp_path)
    # batch_size (8 in every trial), extra_vocal_share (0.5) and frontend (one value) never
    # varied: they get no importance and no bar
    assert set(report.importances) == {"lr", "modality", "mask_layer"}
    assert report.notes == []
    study = rebuild_study(frame, get("av_singing"), Objective("val/sdr", "max"))
    figure = importance_figure(study, Objective("val/sdr", "max"), list(report.importances))
    bars = {t.get_text() for t in figure.axes[0].get_yticklabels()}
    assert bars == {"lr", "modality", "mask_layer"}
    assert "12 finished trials" in figure.axes[0].get_title()
    assert figure.axes[0].get_title(loc="left") == ""  # not over ours
    assert figure.axes[0].get_xlabel() == "Hyperparameter Importance"
    history = history_figure(study, Objective("val/sdr", "max"), mixture_baseline(
        frame, Objective("val/sdr", "max")))
    ax = history.axes[0]
    assert ax.get_ylabel() == "validation SI-SDR (dB)"
    baseline = [line for line in ax.get_lines() if "unprocessed mixture" in line.get_label()]
    assert len(baseline) == 1 and list(baseline[0].get_ydata()) == [-3.0, -3.0]
    assert mixture_baseline(frame, Objective("val/sdri", "max")) == 0.0
    assert mixture_baseline(frame, Objective("val/score", "max")) is None


def test_two_trials_with_equal_scores_give_no_importance(tmp_path):
    frame = _frame(2).assign(**{"val/sdr": 1.5})
    report = write_report(frame, get("av_singing"), [Objective("val/sdr", "max")], tmp_path)
    assert report.importances == {}
    assert report.notes == ["no importances: all 2 finished trials scored the same (1.5)"]
    assert not (tmp_path / "param_importances.png").exists()
    assert (tmp_path / "optimization_history.png").stat().st_size > 0


def test_too_few_trials_for_the_varied_dimensions(tmp_path):
    # 6 trials, one outlier: lr, modality and mask_layer varied -> 2 x 3 = 6 needed, 6 held;
    # with a 4th varied dimension (extra_vocal_share) 8 are needed
    frame = _frame(6)
    frame.loc[0, "val/sdr"] = 30.0
    space = get("av_singing")
    assert write_report(frame, space, [Objective("val/sdr", "max")], tmp_path).importances
    frame["config/extra_vocal_share"] = [0.0, 0.5] * 3
    report = write_report(frame, space, [Objective("val/sdr", "max")], tmp_path)
    assert report.importances == {}
    assert report.notes == [
        "no importances: 6 finished trial(s) for 4 varied dimension(s) (extra_vocal_share, lr, "
        "mask_layer, modality); they need >= 8 (2 per varied dimension, at least 5): run more "
        "--num-samples"]
    # fewer than MIN_TRIALS in all
    report = write_report(_frame(4), space, [Objective("val/sdr", "max")], tmp_path)
    assert report.importances == {} and "they need >= 6" in report.notes[0]
    assert (MIN_TRIALS, TRIALS_PER_DIMENSION) == (5, 2)
    # a conditional dimension sampled by one trial did not vary
    study = rebuild_study(_frame(3), space, Objective("val/sdr", "max"))
    assert "frontend" not in varied_dimensions(study)
    assert importance_check(study)[1].endswith("at least 5): run more --num-samples")

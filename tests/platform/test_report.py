"""Objectives, the Pareto front, the top-trials table and importances on hand-made results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from avsep.evaluation.markdown import markdown
from avsep.platform.objectives import Objective, pareto_mask, parse
from avsep.platform.report import rebuild_study, write_report
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

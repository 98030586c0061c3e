"""Findings judged on scored rows: differences and trends paired on the excerpt, the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from avsep.evaluation.verdicts import findings_table, judge, write_report
from avsep.studies.base import Finding


def scored(gains: dict[str, float], seeds: int = 3, excerpts: int = 8, seed: int = 0,
           conditions: tuple[str, ...] = ("plain", "v+")) -> pd.DataFrame:
    """Rows of every arm: a wide excerpt level shared by the arms, ``gains`` per arm, a
    little noise per row; two conditions and two sources per excerpt."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 4, excerpts)
    rows = []
    for arm, gain in gains.items():
        for s in range(seeds):
            for e in range(excerpts):
                for c, condition in enumerate(conditions):
                    for source in ("vocals", "accompaniment"):
                        rows.append({"arm": arm, "system": "model", "seed": s,
                                     "excerpt": f"song{e}", "item": e + c * excerpts,
                                     "condition": condition, "source": source,
                                     "sdr": level[e] + gain + rng.normal(0, 0.3)})
    return pd.DataFrame(rows)


def test_better_is_paired_on_the_excerpt_and_reports_its_units():
    rows = scored({"av": 1.0, "audio": 0.0})
    finding = Finding("f", "AV > audio on v+", "sdr", ("av", "audio"),
                      where={"condition": "v+", "source": "vocals"})
    estimate = judge(finding, rows)
    assert estimate.value == pytest.approx(1.0, abs=0.2)
    assert (estimate.n_excerpts, estimate.n_seeds) == (8, 3) and estimate.verdict == "holds"
    median = Finding("g", "AV > audio", "sdr", ("av", "audio"), statistic="median",
                     test="wilcoxon")
    estimate = judge(median, rows)
    assert estimate.test == "wilcoxon" and estimate.p_value == pytest.approx(2 / 2 ** 8)
    assert estimate.verdict == "holds"  # all 8 excerpts positive: exact p = 2/256


def test_a_trend_over_arms_is_paired_on_the_excerpt():
    # per excerpt the arms fall 0 > -0.5 > -1 dB while the excerpts spread over +-8 dB
    rows = scored({"oracle": 0.0, "p5": -0.5, "p15": -1.0})
    down = Finding("t", "degrades with perturbation", "sdr", ("oracle", "p5", "p15"),
                   kind="trend_down", test="paired_t")
    estimate = judge(down, rows)  # the claim's direction: rho of the claimed ordering
    assert estimate.value == pytest.approx(1.0) and estimate.verdict == "holds"
    assert estimate.p_value == 0.0  # rho 1 in every excerpt: no spread, t infinite
    wrong = Finding("u", "improves with perturbation", "sdr", ("oracle", "p5", "p15"),
                    kind="trend_up")
    assert judge(wrong, rows).value == pytest.approx(-1.0)
    assert judge(wrong, rows).verdict == "does not hold"


def test_a_trend_along_a_column_and_missing_data():
    rows = pd.DataFrame([{"arm": "sync", "system": "model", "seed": 0, "excerpt": f"s{e}",
                          "context": c, "acc_tol5": 0.4 + 0.02 * c + 0.01 * e}
                         for e in range(6) for c in (5, 15, 25)])
    finding = Finding("c", "accuracy rises with context", "acc_tol5", ("sync",),
                      kind="trend_up", along="context")
    estimate = judge(finding, rows)
    assert estimate.value == 1.0 and estimate.sample == "6 excerpts x 1 seeds"
    assert estimate.verdict == "inconclusive" and "one seed" in estimate.reason
    absent = Finding("d", "x", "acc_tol5", ("other",), kind="trend_up", along="context")
    assert judge(absent, rows).verdict == "no data"


def test_the_report_prints_n_as_excerpts_x_seeds_and_the_papers_test(tmp_path):
    rows = scored({"av": 1.0, "audio": 0.0}, excerpts=5)
    findings = [Finding("f", "AV > audio", "sdr", ("av", "audio"), where={"source": "vocals"},
                        test="wilcoxon", paper="Fig. 4, p = 6.2e-3")]
    table = findings_table(findings, rows, {"av": {"SDR": 7.1}})
    assert table[0]["n"] == 5 and table[0]["n_seeds"] == 3
    assert table[0]["paper_figures"] == {"av": {"SDR": 7.1}}
    assert table[0]["p_value"] == pytest.approx(0.0625)  # 5 excerpts: exact p >= 1/16
    assert table[0]["verdict"] == "inconclusive"
    path = write_report(tmp_path, "Li et al.", "`avsep reproduce li`", table, rows,
                        extra=["**detector** lines"], notes="a note")
    text = path.read_text()
    assert "| 5 excerpts x 3 seeds |" in text and "Wilcoxon p = 0.062" in text
    assert "**detector** lines" in text and text.rstrip().endswith("a note")
    assert json.loads((tmp_path / "findings.json").read_text())[0]["n_excerpts"] == 5
    assert len(pd.read_csv(tmp_path / "rows.csv")) == len(rows)

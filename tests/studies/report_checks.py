"""What every `avsep reproduce` report must hold, at any scale (the smoke runs of
tests/studies/test_reproduce_smoke.py and Li et al.'s run on the cluster in
tests/cluster/test_reproduce_cluster.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from avsep.studies import STUDIES


def assert_report_complete(paper: str, folder: Path) -> None:
    """``folder`` (``<out>/report/<paper>``): every arm of the study trained and scored
    (``rows.csv``), every finding has a row with the paper's claim and figure, our statistic
    and a verdict (``findings.json``), and ``report.md`` states every claim."""
    study = STUDIES[paper]
    rows = pd.read_csv(folder / "rows.csv")
    assert set(rows["arm"]) == {a.key for a in study.arms}
    findings = json.loads((folder / "findings.json").read_text())
    assert [f["id"] for f in findings] == [f.id for f in study.findings]
    for row in findings:
        assert row["verdict"] in ("holds", "does not hold", "inconclusive", "no data")
        assert row["paper"]
    text = (folder / "report.md").read_text()
    assert all(f.claim in text for f in study.findings)

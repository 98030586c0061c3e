"""A paper's findings judged on scored rows: the estimate, interval, test and verdict of each.

A finding (:class:`avsep.studies.base.Finding`, read here by its attributes only: ``kind``,
``arms``, ``metric``, ``where``, ``along``, ``sign``, ``statistic``, ``test``) is judged on the
rows of every scored arm (columns ``arm``, ``system``, ``seed``, ``excerpt``, the metric, and
whatever ``where`` filters on) with :mod:`avsep.evaluation.stats`:

* ``better``: the paired difference ``arms[0] - arms[1]`` (sign-corrected for lower-is-better
  metrics), aggregated inside each (seed, excerpt) with the finding's ``statistic``;
* ``trend_up`` / ``trend_down``: per (seed, excerpt), Spearman's rho between the arm order (or
  the ``along`` column of one arm's rows) and the metric; the mean rho over excerpts.

:func:`findings_table` gives one plain dict per finding (the ``findings.json`` entries) and
:func:`write_report` writes ``report.md`` (the verdict table: estimate, 95 % interval, the
paper's test p-value, ``n = E excerpts x S seeds``), ``findings.json`` and ``rows.csv``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from avsep.evaluation.stats import (
    Estimate,
    cell_table,
    mean_of_cells,
    no_data,
    paired_difference,
    trend,
)

#: the column that carries a trend's position along the arms
POSITION = "arm_position"


def select(rows: pd.DataFrame, arm: str, where: Mapping[str, Any]) -> pd.DataFrame:
    """The ``model`` rows of ``arm`` that match ``where`` (column -> value or values); none
    when a ``where`` column is missing."""
    if rows.empty or "arm" not in rows:
        return rows.iloc[0:0]
    part = rows[(rows["arm"] == arm) & (rows["system"] == "model")]
    for column, value in where.items():
        if column not in part:
            return part.iloc[0:0]
        values = value if isinstance(value, tuple | list) else (value,)
        part = part[part[column].isin(values)]
    return part


def judge(finding: Any, rows: pd.DataFrame) -> Estimate:
    """Our :class:`~avsep.evaluation.stats.Estimate` for ``finding`` (module docstring)."""
    options = {"statistic": finding.statistic, "test": finding.test}
    if finding.kind == "better":
        a, b = (select(rows, k, finding.where) for k in finding.arms)
        if finding.metric not in a or finding.metric not in b or a.empty or b.empty:
            return no_data(finding.test)
        return paired_difference(a, b, finding.metric, finding.sign, **options)
    direction = finding.sign * (-1.0 if finding.kind == "trend_down" else 1.0)
    if finding.along is not None:
        part = select(rows, finding.arms[0], finding.where)
        if part.empty or finding.along not in part or finding.metric not in part:
            return no_data(finding.test)
        return trend(part, finding.along, finding.metric, direction, **options)
    parts = [select(rows, k, finding.where).assign(**{POSITION: i})
             for i, k in enumerate(finding.arms)]
    parts = [p for p in parts if not p.empty and finding.metric in p]
    if len(parts) < 2:
        return no_data(finding.test)
    return trend(pd.concat(parts, ignore_index=True), POSITION, finding.metric, direction,
                 **options)


def arm_means(finding: Any, rows: pd.DataFrame) -> dict[str, float]:
    """Each arm's metric as the finding aggregates it: per (seed, excerpt) with its
    ``statistic``, then the mean over excerpts of the seed means."""
    out = {}
    for key in finding.arms:
        part = select(rows, key, finding.where)
        if finding.metric in part and not part.empty:
            table = cell_table(part, finding.metric, finding.statistic)
            if not table.empty:
                out[key] = float(mean_of_cells(table.to_numpy(dtype=float)))
    return out


def statistic_label(finding: Any) -> str:
    """What the estimate is, in the report's words."""
    if finding.kind == "better":
        return f"difference of per-excerpt {finding.statistic}s"
    return "Spearman rho per excerpt"


def findings_table(findings: Sequence[Any], rows: pd.DataFrame,
                   figures: Mapping[str, Mapping[str, float]] | None = None
                   ) -> list[dict[str, Any]]:
    """One dict per finding: claim, the paper's figures (``figures``: arm -> what the paper
    reports for it), our per-arm values and estimate, the paper's test, n, verdict."""
    table = []
    for finding in findings:
        result = judge(finding, rows)
        paper = {k: dict(figures[k]) for k in finding.arms if figures and figures.get(k)}
        table.append({
            "id": finding.id, "claim": finding.claim, "metric": finding.metric,
            "kind": finding.kind, "paper": finding.paper, "paper_figures": paper,
            "ours_means": arm_means(finding, rows), "statistic": statistic_label(finding),
            "value": result.value, "ci95": [result.low, result.high],
            "test": result.test, "p_value": result.p_value,
            "n": result.n_excerpts, "n_excerpts": result.n_excerpts, "n_seeds": result.n_seeds,
            "verdict": result.verdict, "reason": result.reason,
        })
    return table


def _fmt(value: float) -> str:
    return "–" if value != value else f"{value:+.2f}"


def _p(row: Mapping[str, Any]) -> str:
    if row["test"] == "bootstrap":
        return "–"
    name = {"wilcoxon": "Wilcoxon", "paired_t": "paired t"}.get(row["test"], row["test"])
    p = row["p_value"]
    return f"{name} p = {p:.2g}" if p == p else f"{name}: undefined"


def verdict_lines(table: Sequence[Mapping[str, Any]]) -> list[str]:
    """The markdown verdict table of :func:`findings_table`'s rows."""
    lines = ["| finding | paper | ours | 95 % interval | paper's test | n | verdict |",
             "|---|---|---|---|---|---|---|"]
    for row in table:
        means = ", ".join(f"{k} {v:.2f}" for k, v in row["ours_means"].items())
        ours = f"{row['statistic']} {_fmt(row['value'])} ({means})"
        low, high = row["ci95"]
        verdict = row["verdict"] + (f" ({row['reason']})" if row.get("reason") else "")
        lines.append(f"| {row['claim']} | {row['paper']} | {ours} | [{_fmt(low)}, {_fmt(high)}]"
                     f" | {_p(row)} | {row['n_excerpts']} excerpts x {row['n_seeds']} seeds"
                     f" | {verdict} |")
    return lines


HOW_TO_READ = (
    "n counts independent excerpts (tracks, pieces) and seeds (training runs): windows, "
    "source slots and conditions of one excerpt are one unit. The interval is a hierarchical "
    "bootstrap t-interval over seeds and excerpts (95 %); 'holds' needs it above 0 and, where "
    "the paper names a test, that test at p < 0.05 on the per-excerpt values. Fewer than 5 "
    "excerpts or 3 seeds: inconclusive. See docs/evaluation.md.")


def write_report(folder: Path, title: str, header: str, table: Sequence[Mapping[str, Any]],
                 rows: pd.DataFrame, extra: Sequence[str] = (), notes: str = "") -> Path:
    """``report.md`` (``title``, ``header``, the verdict table, ``extra`` lines, ``notes``),
    ``findings.json`` (``table``) and ``rows.csv`` (every scored row) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows.to_csv(folder / "rows.csv", index=False)
    (folder / "findings.json").write_text(json.dumps(list(table), indent=1, default=str))
    lines = [f"# {title}", "", header, "", *verdict_lines(table), "", HOW_TO_READ, *extra]
    if notes:
        lines += ["", notes]
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path

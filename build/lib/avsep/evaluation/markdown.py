"""A GitHub markdown table of a data frame: the one table writer of the evaluation reports,
the verdict reports and the search reports (``platform/report.py``)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table of ``table`` (floats with 4 significant digits)."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"

"""Each paper's table layout, built from the rows of ``avsep eval``.

* ``slizovskaia`` (conditioned U-Net, Tables II-V): per system and instrument, medians of
  SDR / SIR / SAR over the excerpts where the instrument plays, PES over the excerpts where it
  is absent (its slot's estimate energy, dB), EPS where its estimate is silent, and the mean
  of ``pes_code`` (PES as the paper's code computes it, the figure its tables report: silent
  slots whose estimate is not all-zero) with its count;
* ``li`` (audio-visual SVS, Tables/Figs. of sec. V): vocals' SDR / SIR / SAR medians per system
  and condition (plain, v+: an extra vocal in the accompaniment);
* ``swaminathan`` (attribute-aware SVS, Tables II-V): GNSDR / GSIR / GSAR per system and
  source, clip-length-weighted means of whole-clip NSDR / SIR / SAR (MIR-1K protocol,
  :func:`avsep.metrics.global_scores`); ``swaminathan_vad`` (Table I): the detector's frame
  confusion matrix, accuracy and F1;
* ``kadandale_ynet`` (VocaLiST, Y-Net table): SDR / SIR / SAR medians per system and source;
  ``kadandale_sync``: sync accuracy against context length (from ``evaluation.sync``);
* ``solos`` (Solos paper): SDR / SIR / SAR medians per system and ensemble size.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

BSS_COLUMNS = {"sdr": "SDR", "sir": "SIR", "sar": "SAR"}


def _present(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["present"]] if "present" in rows else rows


def _medians(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = rows.groupby(keys, sort=False)
    table = grouped[list(BSS_COLUMNS)].median().rename(columns=BSS_COLUMNS)
    table["excerpts"] = grouped.size()
    return table.reset_index()


def slizovskaia_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (system, instrument): SDR/SIR/SAR medians where present, PES where absent, EPS."""
    key = "instrument" if "instrument" in rows else "source"
    present = _medians(_present(rows), ["system", key])
    present["EPS"] = _present(rows).groupby(["system", key], sort=False)["eps"].median().values
    if "present" not in rows:
        return present
    absent = rows[~rows["present"]].groupby(["system", key], sort=False)
    pes = absent["pes"].median().rename("PES").reset_index()
    pes["absent"] = absent.size().values
    if "pes_code" in rows:
        pes["PES (code)"] = absent["pes_code"].mean().values  # NaN-skipping, as the paper
        pes["PES (code) n"] = absent["pes_code"].count().values
    table = present.merge(pes, on=["system", key], how="outer", sort=False)
    counts = [c for c in ("excerpts", "absent", "PES (code) n") if c in table]
    table[counts] = table[counts].fillna(0).astype(int)
    columns = ["system", key, "SDR", "SIR", "SAR", "PES", "EPS",
               *[c for c in ("PES (code)", "PES (code) n") if c in table], "excerpts", "absent"]
    return table[columns]


def li_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Vocals' SDR/SIR/SAR medians per (system, condition)."""
    vocals = _present(rows)
    if "vocals" in set(vocals["source"]):
        vocals = vocals[vocals["source"] == "vocals"]
    return _medians(vocals, ["system", "condition"])


def swaminathan_table(rows: pd.DataFrame) -> pd.DataFrame:
    """GNSDR/GSIR/GSAR per (system, source), weighted by clip length (``seconds``)."""
    from avsep.metrics import global_scores

    out = []
    for (system, source), part in _present(rows).groupby(["system", "source"], sort=False):
        nsdr, sir, sar, seconds = (part[k].to_numpy(dtype=float, copy=True)
                                   for k in ("nsdr", "sir_clip", "sar_clip", "seconds"))
        g = global_scores(nsdr, sir, sar, seconds)
        out.append({"system": system, "source": source, "GNSDR": float(g["gnsdr"]),
                    "GSIR": float(g["gsir"]), "GSAR": float(g["gsar"]), "clips": len(part),
                    "seconds": float(part["seconds"].sum())})
    return pd.DataFrame(out)


def ynet_table(rows: pd.DataFrame) -> pd.DataFrame:
    """SDR/SIR/SAR medians per (system, source)."""
    return _medians(_present(rows), ["system", "source"])


def solos_table(rows: pd.DataFrame) -> pd.DataFrame:
    """SDR/SIR/SAR medians per (system, ensemble size), smallest ensembles first."""
    table = _medians(_present(rows), ["system", "condition"])
    size = table["condition"].str.extract(r"^(\d+)", expand=False).astype(float)
    order = sorted(range(len(table)), key=lambda i: (size.iloc[i], i))
    return table.iloc[order].reset_index(drop=True)


def sync_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Sync accuracy (%) against context length from the rows of ``evaluation.sync``
    (``context``, ``excerpt``, ``seconds``, ``n``, ``acc_tol<k>`` in [0, 1]): one row per
    context, every excerpt's clips pooled (accuracies weighted by ``n``), with the clip count
    ``n`` and the number of ``excerpts``."""
    if "context" not in rows:
        raise ValueError(f"sync rows need a 'context' column; got {list(rows.columns)}")
    columns = [c for c in rows.columns if c.startswith("acc_tol")]
    weighted = rows[columns].mul(rows["n"], axis=0).assign(context=rows["context"], n=rows["n"])
    grouped = weighted.groupby("context", sort=True)
    table = grouped[columns].sum().div(grouped["n"].sum(), axis=0)
    table.insert(0, "seconds", rows.groupby("context", sort=True)["seconds"].first())
    table.insert(1, "n", grouped["n"].sum())
    if "excerpt" in rows:
        table.insert(2, "excerpts", rows.groupby("context", sort=True)["excerpt"].nunique())
    table = (100.0 * table[columns]).join(table.drop(columns=columns), how="left")
    table = table[[c for c in ("seconds", "n", "excerpts") if c in table] + columns]
    return table.reset_index().rename(
        columns={c: f"acc ±{c.removeprefix('acc_tol')} frames (%)" for c in columns})


SEPARATION_TABLES: dict[str, tuple[tuple[str, Callable[[pd.DataFrame], pd.DataFrame]], ...]] = {
    "cunet": (("slizovskaia", slizovskaia_table), ("solos", solos_table)),
    "mhunet": (("slizovskaia", slizovskaia_table), ("solos", solos_table)),
    "sop": (("solos", solos_table),),
    "mmdensenet": (("li", li_table),),
    "av_mmdensenet": (("li", li_table),),
    "attr_dnn": (("swaminathan", swaminathan_table),),
    "ynet": (("kadandale_ynet", ynet_table),),
}


def paper_tables(model_name: str, rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The paper tables of a separation model family (by registry name), from eval rows."""
    tables = {}
    for name, build in SEPARATION_TABLES.get(model_name, ()):
        if name == "swaminathan" and "nsdr" not in rows:
            continue
        tables[name] = build(rows)
    return tables

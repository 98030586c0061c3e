"""Paper-style evaluation of a trained model on the fixed test set of a prepared cache.

Per test excerpt and source slot (:mod:`avsep.evaluation.scoring`): BSS Eval v4 SDR / SIR /
SAR / ISR jointly over the sources *present* in the excerpt (median over 1 s windows, NaN
windows skipped, as museval), SI-SDR and SD-SDR over the whole excerpt, and PES / EPS (energy
where the target, resp. the estimate, is silent) for every slot: absent instruments of the
fixed-slot models (C-U-Net, MHU-Net) are scored by PES only. For singing data each excerpt also
gets whole-clip BSS Eval and its NSDR over the mixture-as-estimate (``sdr_clip``, ``sir_clip``,
``sar_clip``, ``nsdr``, with its length ``seconds``) for the MIR-1K global scores
(GNSDR/GSIR/GSAR, :mod:`avsep.evaluation.tables`). Systems:

* ``model`` — the model (Wiener iterations as given), on the excerpt cut into consecutive
  clip-length windows (:mod:`avsep.evaluation.chunks`); with activity sources
  (:mod:`avsep.evaluation.activity`) one system per source, ``model@oracle``,
  ``model@perturbed:0.05``, ``model@detector`` (Swaminathan & Lerch's Case I vs Case II);
* ``mixture`` — the input mixture as every source's estimate (the NSDR baseline);
  ``oracle_irm``, ``oracle_ibm`` — upper bounds from the sources
  (``avsep.metrics.oracle_estimates`` on the model's STFT);
* for audio-visual models, the visual ablations of :mod:`avsep.evaluation.ablations`
  (``video_constant``, ``video_noise``, ``white_noise_star``, ``video_mismatched``), applied
  to the streams that exist only.

Rows are grouped by ``condition``: plain / v+ for singing voice, "<n> sources" for instrument
mixtures; ``excerpt`` names the independent excerpt (track, piece) each row comes from, the
unit of the verdict statistics (:mod:`avsep.evaluation.stats`). The report is ``eval.md``
(medians), ``eval_rows.csv``, boxplot PNGs and each paper's own table
(:func:`avsep.evaluation.tables.paper_tables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from avsep.evaluation.ablations import ABLATIONS, ablate, feature_noise, visual_frontend
from avsep.evaluation.activity import ActivitySource, activity_for, fixed_activity
from avsep.evaluation.chunks import chunk_item, clip_plan, separate_long, slice_pad
from avsep.evaluation.scoring import METRICS, score
from avsep.evaluation.units import condition_of, excerpt_of

ORACLES = ("mixture", "oracle_irm", "oracle_ibm")
CLIP_METRICS = ("sdr_clip", "sir_clip", "sar_clip", "nsdr")

__all__ = ["ABLATIONS", "CLIP_METRICS", "METRICS", "ORACLES", "Evaluation", "ablate",
           "chunk_item", "clip_plan", "evaluate", "score", "separate_long", "slice_pad",
           "summarise", "write_evaluation", "write_tables"]


@dataclass
class Evaluation:
    rows: pd.DataFrame
    summary: pd.DataFrame
    files: list[Path] = field(default_factory=list)


def ablation_systems(model: Any) -> list[str]:
    """The ablations that apply to ``model`` (none without video; white-noise* needs a
    visual front-end module)."""
    if "video" not in model.inputs:
        return []
    try:
        visual_frontend(model)
    except ValueError:
        return [a for a in ABLATIONS if a != "white_noise_star"]
    return list(ABLATIONS)


def fixed_slots(model: Any) -> bool:
    """Whether the model's slots are named instruments (absent ones are scored by PES)."""
    from avsep.data.records import URMP_INSTRUMENTS

    names = tuple(getattr(model, "source_names", ()))
    return bool(names) and set(names) <= set(URMP_INSTRUMENTS)


def clip_rows(refs: torch.Tensor, est: torch.Tensor, rate: int) -> dict[str, np.ndarray]:
    """Whole-clip BSS Eval ``sdr_clip``/``sir_clip``/``sar_clip`` (S,) of the present sources
    with a non-silent estimate (NaN elsewhere); refs, est (S, C, L)."""
    from avsep.metrics import bss_eval

    count = refs.shape[0]
    out = {k: np.full(count, np.nan) for k in CLIP_METRICS[:3]}
    present = refs.flatten(1).abs().amax(dim=1) > 0
    silent_est = est.flatten(1).abs().amax(dim=1) == 0
    keep = torch.nonzero(present & ~silent_est).flatten()
    if keep.numel() == 0:
        return out
    scores = bss_eval(refs[keep].double().transpose(1, 2), est[keep].double().transpose(1, 2),
                      rate, window=None, hop=None)
    for name in CLIP_METRICS[:3]:
        out[name][keep.numpy()] = scores[name.removesuffix("_clip")][:, 0]
    return out


def _estimates(model: Any, item: dict[str, torch.Tensor], refs: torch.Tensor, wiener: int,
               systems: Sequence[str], other: dict[str, torch.Tensor] | None,
               activities: Sequence[ActivitySource], detector: Any | None,
               generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Estimates (S, C, L) of every system for one item."""
    from avsep.metrics import oracle_estimates

    out: dict[str, torch.Tensor] = {}
    if activities:
        with fixed_activity(model):
            for source in activities:
                fed = {**item, "vad": activity_for(item, source, model, detector, generator)}
                out[f"model@{source.label}"] = separate_long(model, fed, wiener)
    else:
        out["model"] = separate_long(model, item, wiener)
    out["mixture"] = item["mixture"].float().expand_as(refs)  # the input as every estimate
    for kind in ORACLES[1:]:
        out[kind] = oracle_estimates(refs, model.spec.stft, kind.removeprefix("oracle_")).float()
    for kind in systems:
        if kind == "white_noise_star":
            with feature_noise(model, generator):
                out[kind] = separate_long(model, item, wiener)
        else:
            out[kind] = separate_long(model, ablate(item, kind, other or item, generator), wiener)
    return out


def evaluate(model: Any, dataset: Any, wiener: int = 0, ablations: bool = True,
             max_items: int | None = None, seed: int = 0, *,
             activities: Sequence[ActivitySource] = (), detector: Any | None = None,
             clip_scores: bool | None = None) -> pd.DataFrame:
    """One row per (item, system, source slot); see the module docstring.

    Columns: item, excerpt (:func:`~avsep.evaluation.units.excerpt_of`: rows of one track or
    piece share it), condition, system, source, present, seconds, :data:`METRICS`, and with
    ``clip_scores`` (default: for singing data, ``vad`` included) :data:`CLIP_METRICS`;
    ``instrument`` for URMP-named sources. Absent slots get a row only for fixed-slot models
    (PES/EPS).
    """
    from tqdm import tqdm

    from avsep.data.records import URMP_INSTRUMENTS

    model.eval()
    rate = model.spec.stft.sample_rate
    count = len(dataset) if max_items is None else min(max_items, len(dataset))
    names = list(getattr(model, "source_names", ()))
    keep_absent = fixed_slots(model)
    systems = ablation_systems(model) if ablations else []
    if clip_scores is None:
        clip_scores = getattr(dataset, "kind", None) in ("singing", "vad")
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for i in tqdm(range(count), desc="evaluating", unit="excerpt"):
        item = dataset[i]
        refs = item["sources"].float()
        excerpt = excerpt_of(dataset, i)
        condition = condition_of(dataset, i)
        if "num_sources" in item:
            condition = f"{int(item['num_sources'])} sources"
        other = dataset[(i + 1) % len(dataset)] if systems else None
        estimates = _estimates(model, item, refs, wiener, systems, other, activities, detector,
                               generator)
        seconds = refs.shape[-1] / rate
        estimates = {k: v[:refs.shape[0]].float() for k, v in estimates.items()}
        clip: dict[str, dict[str, np.ndarray]] = {}
        if clip_scores:
            clip = {system: clip_rows(refs, est, rate) for system, est in estimates.items()}
            for values in clip.values():  # NSDR: the gain over the mixture as the estimate
                values["nsdr"] = values["sdr_clip"] - clip["mixture"]["sdr_clip"]
        for system, est in estimates.items():
            values = score(refs, est, rate)
            extra = clip.get(system, {})
            for s in range(refs.shape[0]):
                present = bool(values["present"][s])
                if not present and not keep_absent:
                    continue
                name = names[s] if s < len(names) else f"source{s + 1}"
                row = {"item": i, "excerpt": excerpt, "condition": condition, "system": system,
                       "source": name, "present": present, "seconds": seconds,
                       **{k: float(values[k][s]) for k in METRICS},
                       **{k: float(v[s]) for k, v in extra.items()}}
                if name in URMP_INSTRUMENTS:
                    row["instrument"] = name
                rows.append(row)
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Median of every metric per (system, condition, source, present), with the row count.

    Present sources give SDR/SIR/SAR/ISR/SI-SDR/SD-SDR; absent slots (present=False) give
    PES/EPS only.
    """
    keys = ["system", "condition", "source"] + (["present"] if "present" in rows else [])
    grouped = rows.groupby(keys, sort=False)
    metrics = [m for m in (*METRICS, *CLIP_METRICS) if m in rows]
    summary = grouped[metrics].median()
    summary["excerpts"] = grouped.size()
    return summary.reset_index()


def boxplots(rows: pd.DataFrame, out: Path) -> list[Path]:
    """One PNG per metric among SDR and SI-SDR: a box per system (present sources)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    if "present" in rows:
        rows = rows[rows["present"]]
    systems = list(dict.fromkeys(rows["system"]))
    for metric in ("sdr", "si_sdr"):
        fig, ax = plt.subplots(figsize=(1.2 * len(systems) + 3, 4))
        data = [rows.loc[rows["system"] == s, metric].dropna().to_numpy() for s in systems]
        ax.boxplot(data, tick_labels=systems, showfliers=False)
        ax.set_ylabel(f"{metric} (dB)")
        ax.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        path = out / f"boxplot_{metric}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        files.append(path)
    return files


def write_tables(rows: pd.DataFrame, out: Path, title: str, tables: dict[str, pd.DataFrame],
                 notes: Sequence[str] = (), head: str = "") -> list[Path]:
    """``eval.md`` (``head``, then each table), ``eval_rows.csv`` (every row) and one
    ``table_<name>.csv`` per table in ``out``; returns the files written."""
    from avsep.evaluation.markdown import markdown

    out.mkdir(parents=True, exist_ok=True)
    text = [f"# {title}\n\n", *(f"{n}\n\n" for n in notes), head]
    files = [out / "eval.md", out / "eval_rows.csv"]
    for name, table in tables.items():
        text += [f"\n## {name}\n\n", markdown(table)]
        path = out / f"table_{name}.csv"
        table.to_csv(path, index=False)
        files.append(path)
    (out / "eval.md").write_text("".join(text))
    rows.to_csv(out / "eval_rows.csv", index=False)
    return files


def write_evaluation(rows: pd.DataFrame, out: Path, title: str, *,
                     tables: dict[str, pd.DataFrame] | None = None,
                     notes: Sequence[str] = ()) -> Evaluation:
    """The separation report: :func:`write_tables` with the medians of :func:`summarise` first,
    plus the boxplots."""
    from avsep.evaluation.markdown import markdown

    summary = summarise(rows)
    head = ("Medians over test excerpts (BSS Eval v4 metrics: median over 1 s windows per "
            "excerpt, jointly over the sources present; absent slots: PES/EPS).\n\n"
            + markdown(summary))
    files = write_tables(rows, out, title, tables or {}, notes, head)
    return Evaluation(rows=rows, summary=summary, files=[*files, *boxplots(rows, out)])

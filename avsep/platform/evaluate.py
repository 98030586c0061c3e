"""Paper-style evaluation of a trained model on the fixed test set of a prepared cache.

Per test excerpt and source: BSS Eval v4 SDR / SIR / SAR / ISR as the median over 1 s windows
(``avsep.metrics.bss_eval``, museval's framing, NaN windows skipped), SI-SDR and SD-SDR over the
whole excerpt, and PES / EPS (energy where the target, resp. the estimate, is silent). Systems:

* ``model`` — the model (Wiener iterations as given), on the excerpt cut into consecutive
  clip-length windows (the last one zero-padded), separated in batches and concatenated;
* ``mixture``, ``oracle_irm``, ``oracle_ibm`` — lower and upper bounds from the sources
  (``avsep.metrics.oracle_estimates`` on the model's STFT);
* for audio-visual models, the visual ablations: ``video_constant`` (every frame replaced by
  the clip's mean grey level), ``video_noise`` (uniform white noise frames) and
  ``video_mismatched`` (the video of another test excerpt).

Rows are grouped by condition: plain / v+ for singing voice, the number of sources for
instrument mixtures; the report is a markdown table of medians and boxplot PNGs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from avsep.audio.chunking import ChunkPlan, merge, split

METRICS = ("sdr", "sir", "sar", "isr", "si_sdr", "sd_sdr", "pes", "eps")
ABLATIONS = ("video_constant", "video_noise", "video_mismatched")
ORACLES = ("mixture", "oracle_irm", "oracle_ibm")


@dataclass
class Evaluation:
    rows: pd.DataFrame
    summary: pd.DataFrame
    files: list[Path] = field(default_factory=list)


def _slice_pad(x: torch.Tensor, start: int, size: int, dim: int) -> torch.Tensor:
    """``x[start:start+size]`` along ``dim``, padded by repeating the last element."""
    part = x.narrow(dim, start, max(0, min(size, x.shape[dim] - start)))
    if part.shape[dim] == size:
        return part
    if part.shape[dim] == 0:
        part = x.narrow(dim, x.shape[dim] - 1, 1)
    last = part.narrow(dim, part.shape[dim] - 1, 1)
    reps = [1] * part.ndim
    reps[dim] = size - part.shape[dim]
    return torch.cat([part, last.repeat(*reps)], dim=dim)


def clip_plan(model: Any, item: dict[str, torch.Tensor]) -> ChunkPlan:
    """Consecutive clip-length windows over ``item``'s mixture (the last one zero-padded)."""
    return ChunkPlan.for_length(item["mixture"].shape[-1], model.spec.clip_samples, overlap=0.0)


def chunk_item(model: Any, item: dict[str, torch.Tensor],
               plan: ChunkPlan | None = None) -> dict[str, torch.Tensor]:
    """One long item -> a batch of clip-length windows (n, ...) of every key the model reads.

    mixture (C, L) -> (n, C, clip) zero-padded; video (V, T, ...) -> (n, V, frames_per_clip,
    ...); vad (N,) -> (n, frames of a clip); labels (K,) -> (n, K).
    """
    spec = model.spec
    clip = spec.clip_samples
    plan = plan or clip_plan(model, item)
    starts = plan.starts
    batch = {"mixture": split(item["mixture"], plan)}
    if "video" in model.inputs:
        frames = spec.frames_per_clip
        step = frames  # windows are clip-aligned, so are their frames
        batch["video"] = torch.stack([_slice_pad(item["video"], j * step, frames, 1)
                                      for j in range(len(starts))])
    if "vad" in model.inputs:
        n_frames = spec.stft.num_frames(clip)
        hop = clip // spec.stft.hop_length
        batch["vad"] = torch.stack([_slice_pad(item["vad"], j * hop, n_frames, 0)
                                    for j in range(len(starts))])
    if "labels" in model.inputs:
        batch["labels"] = item["labels"].expand(len(starts), -1)
    return batch


@torch.no_grad()
def separate_long(model: Any, item: dict[str, torch.Tensor], wiener: int,
                  batch_size: int = 8) -> torch.Tensor:
    """Source estimates (S, C, L) for a long item, window by window."""
    plan = clip_plan(model, item)
    batch = chunk_item(model, item, plan)
    outputs = []
    for start in range(0, batch["mixture"].shape[0], batch_size):
        part = {k: v[start:start + batch_size] for k, v in batch.items()}
        outputs.append(model.separate(part, wiener_iterations=wiener))
    return merge(torch.cat(outputs), plan)  # (n, S, C, clip) -> (S, C, L)


def ablate(item: dict[str, torch.Tensor], kind: str, other: dict[str, torch.Tensor],
           generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A copy of ``item`` with its video replaced as the ablation ``kind`` says."""
    video = item["video"]
    if kind == "video_constant":
        new = torch.full_like(video, int(video.float().mean().round()))
    elif kind == "video_noise":
        new = torch.randint(0, 256, video.shape, generator=generator, dtype=torch.int64).to(
            video.dtype)
    elif kind == "video_mismatched":
        new = _slice_pad(other["video"], 0, video.shape[1], 1)
    else:
        raise ValueError(f"unknown ablation {kind!r}; valid choices: {', '.join(ABLATIONS)}")
    return {**item, "video": new}


def score(references: torch.Tensor, estimates: torch.Tensor, rate: int
          ) -> dict[str, np.ndarray]:
    """Per-source metrics of estimates (S, C, L) against references (S, C, L) -> each (S,)."""
    from avsep.metrics import bss_eval, sd_sdr, si_sdr, silence_scores

    refs = references.double()
    ests = estimates.double()
    bss = bss_eval(refs.transpose(1, 2), ests.transpose(1, 2), rate)
    out = {k: np.array([np.nan if np.isnan(v).all() else np.nanmedian(v) for v in bss[k]])
           for k in ("sdr", "sir", "sar", "isr")}
    out["si_sdr"] = torch.as_tensor(si_sdr(refs, ests, eps=1e-8)).mean(-1).numpy()
    out["sd_sdr"] = torch.as_tensor(sd_sdr(refs, ests, eps=1e-8)).mean(-1).numpy()
    silence = silence_scores(refs, ests, rate)
    for k in ("pes", "eps"):
        values = torch.as_tensor(silence[k]).numpy()
        out[k] = np.nanmean(np.where(np.isnan(values), np.nan, values), axis=-1) \
            if not np.isnan(values).all() else np.full(values.shape[0], np.nan)
    return out


def conditions(dataset: Any, count: int) -> Iterator[str]:
    """The condition of each test item: plain / v+ blocks for singing, else per item."""
    names = getattr(dataset, "conditions", ())
    if names:
        block = max(1, count // len(names))
        for i in range(count):
            yield names[min(i // block, len(names) - 1)]
    else:
        for _ in range(count):
            yield "all"


def _systems(model: Any, ablations: bool) -> list[str]:
    systems = ["model", *ORACLES]
    if ablations and "video" in model.inputs:
        systems += list(ABLATIONS)
    return systems


def evaluate(model: Any, dataset: Any, wiener: int = 0, ablations: bool = True,
             max_items: int | None = None, seed: int = 0) -> pd.DataFrame:
    """One row per (item, system, source) with :data:`METRICS`; see the module docstring."""
    from tqdm import tqdm

    from avsep.data.records import URMP_INSTRUMENTS
    from avsep.metrics import oracle_estimates

    model.eval()
    rate = model.spec.stft.sample_rate
    count = len(dataset) if max_items is None else min(max_items, len(dataset))
    labels = list(conditions(dataset, len(dataset)))[:count]
    names = list(getattr(model, "source_names", ()))
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for i in tqdm(range(count), desc="evaluating", unit="excerpt"):
        item = dataset[i]
        refs = item["sources"].float()
        condition = labels[i]
        if "num_sources" in item:
            condition = f"{int(item['num_sources'])} sources"
        estimates: dict[str, torch.Tensor] = {"model": separate_long(model, item, wiener)}
        for kind in ORACLES:
            oracle = "mixture" if kind == "mixture" else kind.removeprefix("oracle_")
            estimates[kind] = oracle_estimates(refs, model.spec.stft, oracle).float()
        if ablations and "video" in model.inputs:
            other = dataset[(i + 1) % len(dataset)]
            for kind in ABLATIONS:
                estimates[kind] = separate_long(model, ablate(item, kind, other, generator),
                                                wiener)
        for system, est in estimates.items():
            values = score(refs, est[:refs.shape[0]], rate)
            for s in range(refs.shape[0]):
                if refs[s].abs().max() == 0 and "labels" in item:
                    continue  # an absent instrument slot: scored by PES only in the paper
                name = names[s] if s < len(names) else f"source{s}"
                row = {"item": i, "condition": condition, "system": system, "source": name,
                       **{k: float(values[k][s]) for k in METRICS}}
                if name in URMP_INSTRUMENTS:
                    row["instrument"] = name
                rows.append(row)
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Median of every metric per (system, condition, source), with the excerpt count."""
    grouped = rows.groupby(["system", "condition", "source"], sort=False)
    summary = grouped[list(METRICS)].median()
    summary["excerpts"] = grouped.size()
    return summary.reset_index()


def boxplots(rows: pd.DataFrame, out: Path) -> list[Path]:
    """One PNG per metric among SDR and SI-SDR: a box per system, sources side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
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


def write_evaluation(rows: pd.DataFrame, out: Path, title: str) -> Evaluation:
    """``eval.md`` (medians), ``eval_rows.csv`` (every score) and the boxplots in ``out``."""
    from avsep.platform.report import markdown

    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    (out / "eval.md").write_text(f"# {title}\n\nMedians over test excerpts (BSS Eval v4 "
                                 "metrics: median over 1 s windows per excerpt).\n\n"
                                 + markdown(summary))
    rows.to_csv(out / "eval_rows.csv", index=False)
    files = [out / "eval.md", out / "eval_rows.csv", *boxplots(rows, out)]
    return Evaluation(rows=rows, summary=summary, files=files)

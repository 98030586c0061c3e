"""Vocal activity in ``avsep eval`` (Swaminathan & Lerch): the detector's accuracy, and the
activity a separator infers with (Case I vs Case II).

* :func:`evaluate_vad` scores a ``vad_cnn`` detector frame by frame against the oracle
  activity labels the dataset emits (``item["vad"]``, at the STFT frame rate): P(vocal) > 0.5
  is "vocal". Its confusion matrix (rows true no-vocal / vocal, columns predicted) and
  accuracy are the paper's Table I.
* ``--activity-source`` picks the ``vad`` an attribute-aware separator (``attr_dnn`` trained
  with ``vad_source`` oracle or perturbed) infers with: ``oracle`` (clean labels, Case I.a),
  ``perturbed:F`` (exactly round(F·N) of the N oracle frames flipped at seeded uniformly drawn
  positions, as the model's own perturbation, Case I.b inference) or
  ``detector`` (the softmax P(vocal) of a pre-trained ``vad_cnn``, ``--detector URI``:
  Case II, the paper's Table V), put on the separator's frame grid by
  :func:`avsep.models.attribute_aware.align_activity`. The model's own inference-time
  perturbation is switched off meanwhile (:func:`fixed_activity`), so the fed activity is
  exactly the one used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from avsep.evaluation.chunks import chunk_item, clip_frames, merge_frames, run_windows
from avsep.evaluation.units import excerpt_of

ACTIVITY_FORMS = "oracle, perturbed:F (0 < F <= 1, e.g. perturbed:0.05) or detector"
VAD_COLUMNS = ("tn", "fp", "fn", "tp")


@dataclass(frozen=True)
class ActivitySource:
    """Where the ``vad`` input of an attribute-aware separator comes from at inference."""

    kind: str  # "oracle" | "perturbed" | "detector"
    fraction: float = 0.0

    @property
    def label(self) -> str:
        return f"perturbed:{self.fraction:g}" if self.kind == "perturbed" else self.kind


def parse_activity_source(text: str) -> ActivitySource:
    """``"oracle"``, ``"perturbed:0.05"`` or ``"detector"`` -> :class:`ActivitySource`."""
    kind, _, value = text.partition(":")
    if kind in ("oracle", "detector") and not value:
        return ActivitySource(kind)
    if kind == "perturbed":
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if 0.0 < fraction <= 1.0:
            return ActivitySource("perturbed", fraction)
    raise ValueError(f"--activity-source {text!r}: expected {ACTIVITY_FORMS}")


def check_activity_model(model: Any, source: ActivitySource, detector: Any | None) -> None:
    """Raise ``ValueError`` (naming the fix) when ``source`` cannot feed ``model``."""
    if "vad" not in getattr(model, "inputs", ()):
        origin = getattr(model, "vad_source", None)
        why = (f"its vad_source is {origin!r}" if origin is not None
               else f"{type(model).__name__} reads no vocal activity")
        raise ValueError(f"--activity-source applies to attribute-aware separators trained with "
                         f"vad_source 'oracle' or 'perturbed' (they read batch['vad']); {why}. "
                         "Drop --activity-source for this model")
    if source.kind == "detector":
        if detector is None:
            raise ValueError("--activity-source detector needs the pre-trained detector: add "
                             "--detector URI (a vad_cnn model: models:/NAME@champion, "
                             "runs:/RUN_ID/model or a model package folder)")
        if getattr(detector, "task", None) != "vad":
            raise ValueError(f"--detector: expected a vad_cnn model (task 'vad'), got a "
                             f"{getattr(detector, 'task', '?')} model")
        if detector.spec.stft.sample_rate != model.spec.stft.sample_rate:
            raise ValueError(f"--detector runs at {detector.spec.stft.sample_rate} Hz, the "
                             f"separator at {model.spec.stft.sample_rate} Hz; train the "
                             "detector at the separator's rate (both use the 'attr' preset)")
    elif detector is not None:
        raise ValueError(f"--detector is used with --activity-source detector only; got "
                         f"--activity-source {source.label}")


@torch.no_grad()
def detector_activity(detector: Any, mixture: torch.Tensor, batch_size: int = 2
                      ) -> torch.Tensor:
    """P(vocal) (N,) of a ``vad_cnn`` over a long mixture (C, L), N = num_frames(L).

    The detector runs on clip-length windows (``batch_size`` at a time: the paper preset's
    feature maps take ~0.1 GB per 3 s window) and the frames are stitched back.
    """
    item = {"mixture": mixture}
    batch = chunk_item(detector, item)
    probs = run_windows(detector, batch, lambda part: detector(part)["activity"], batch_size)
    _, hop = clip_frames(detector)
    return merge_frames(probs.float(), hop, detector.spec.stft.num_frames(mixture.shape[-1]))


def activity_for(item: dict[str, torch.Tensor], source: ActivitySource, model: Any,
                 detector: Any | None, generator: torch.Generator) -> torch.Tensor:
    """The ``vad`` (N,) the separator infers with for ``item`` (oracle in ``item["vad"]``)."""
    from avsep.models.attribute_aware import align_activity, perturb_activity

    if source.kind == "detector":
        probs = detector_activity(detector, item["mixture"])
        frames = model.spec.stft.num_frames(item["mixture"].shape[-1])
        return align_activity(probs[None], detector.spec.stft, model.spec.stft, frames)[0]
    if "vad" not in item:
        raise ValueError("--activity-source oracle/perturbed needs the oracle labels: the "
                         "evaluation dataset emits no 'vad' (evaluate on a singing cache)")
    oracle = item["vad"].float()
    if source.kind == "perturbed":
        return perturb_activity(oracle[None], source.fraction, generator)[0]
    return oracle


@contextmanager
def fixed_activity(model: Any) -> Iterator[None]:
    """While active, a ``perturbed`` attr model uses ``batch["vad"]`` as given (no flips)."""
    previous = getattr(model, "vad_source", None)
    if previous == "perturbed":
        model.vad_source = "oracle"
    try:
        yield
    finally:
        if previous == "perturbed":
            model.vad_source = previous


# ------------------------------------------------------------------ detector accuracy
def confusion(predicted: torch.Tensor, truth: torch.Tensor, threshold: float = 0.5
              ) -> dict[str, int]:
    """Frame counts ``{"tn", "fp", "fn", "tp"}`` of P(vocal) (N,) against 0/1 labels (N,)."""
    if predicted.shape != truth.shape:
        raise ValueError(f"confusion: predicted {tuple(predicted.shape)} and truth "
                         f"{tuple(truth.shape)} must cover the same frames")
    pred = predicted > threshold
    true = truth > 0.5
    return {"tn": int((~pred & ~true).sum()), "fp": int((pred & ~true).sum()),
            "fn": int((~pred & true).sum()), "tp": int((pred & true).sum())}


def vad_summary(rows: pd.DataFrame) -> dict[str, float]:
    """Accuracy, F1 and the confusion counts summed over the rows of :func:`evaluate_vad`."""
    tn, fp, fn, tp = (int(rows[k].sum()) for k in VAD_COLUMNS)
    total = tn + fp + fn + tp
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 \
        else float("nan")
    return {"accuracy": (tp + tn) / total if total else float("nan"), "f1": f1,
            "tn": tn, "fp": fp, "fn": fn, "tp": tp, "frames": total}


def confusion_table(summary: dict[str, float]) -> pd.DataFrame:
    """The paper's Table I layout: counts and row percentages."""
    def cell(count: float, row_total: float) -> str:
        share = 100.0 * count / row_total if row_total else float("nan")
        return f"{int(count)} ({share:.2f}%)"

    negatives = summary["tn"] + summary["fp"]
    positives = summary["fn"] + summary["tp"]
    return pd.DataFrame({
        "": ["True: No-Vocal", "True: Vocal"],
        "Predicted: No-Vocal": [cell(summary["tn"], negatives), cell(summary["fn"], positives)],
        "Predicted: Vocal": [cell(summary["fp"], negatives), cell(summary["tp"], positives)],
    })


def evaluate_vad(detector: Any, dataset: Any, max_items: int | None = None) -> pd.DataFrame:
    """One row per test item (``item``, ``excerpt``): confusion counts (:data:`VAD_COLUMNS`)
    and accuracy."""
    detector.eval()
    count = len(dataset) if max_items is None else min(max_items, len(dataset))
    rows = []
    for i in range(count):
        item = dataset[i]
        if "vad" not in item:
            raise ValueError("the evaluation dataset emits no 'vad' labels; evaluate the "
                             "detector on a singing cache (its data kind is 'vad')")
        probs = detector_activity(detector, item["mixture"])
        counts = confusion(probs, item["vad"].float())
        total = sum(counts.values())
        rows.append({"item": i, "excerpt": excerpt_of(dataset, i), **counts,
                     "accuracy": (counts["tp"] + counts["tn"]) / total if total else np.nan,
                     "seconds": item["mixture"].shape[-1] / detector.spec.stft.sample_rate})
    return pd.DataFrame(rows)

"""``attribute_aware``: Swaminathan & Lerch's attribute-aware singing voice separation.

Where the 2-d vocal-activity input of the feed-forward separator (``attr_dnn``) comes from:

* ``none`` — case 0 (Table III);
* ``oracle`` — case I.a, the clean frame labels in training and at inference (Table III);
* ``perturbed`` — case I.b, the oracle labels with a share ``vad_perturbation`` of each item's
  frames flipped, drawn uniformly at random (not in segments), seeded, in training and at
  inference; the paper's grid is 2.5, 5, 7.5, 10 and 15 % (Table IV);
* ``detector`` — case II with clean training labels (Table V, 0 %): trained on the oracle
  labels, inferring with a ``vad_cnn`` detector trained alongside on the same labels.

Case II for the perturbed models (Table V, 2.5–15 %) is the same trained trial evaluated with
the detector's activity (``avsep eval --activity-source detector --detector URI``): their
``reported`` figures carry both tables. Data: singing mixtures without extra vocals (MIR-1K
has none; the ``vad`` dataset kind), accompaniment drawn at random for every mixture (the
paper's data augmentation, Table II). Plus learning rate and batch size, which the paper does
not state.
"""

from __future__ import annotations

from typing import Any

from avsep.search_spaces.base import (
    BATCH_SIZE,
    LEARNING_RATE,
    WIENER,
    PaperPoint,
    SearchSpace,
    experiment,
    train_options,
)
from avsep.search_spaces.dims import Categorical, TrialLike

PAPER = "Swaminathan & Lerch 2019 (attribute-aware SVS)"
VAD_SOURCE = Categorical("vad_source", ("none", "oracle", "perturbed", "detector"),
                         "where the 2-d vocal-activity input comes from (cases 0, I.a, I.b, II)")
PERTURBATION = Categorical("vad_perturbation", (0.025, 0.05, 0.075, 0.1, 0.15),
                           "share of each item's oracle frames flipped at uniformly drawn "
                           "positions, in training and at inference (Table IV)",
                           when="vad_source=perturbed")
DATA = {"extra_vocal_share": 0.0}  # the paper mixes one vocal with its accompaniment


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    source = VAD_SOURCE.suggest(trial)
    model: dict[str, Any] = {"name": "attr_dnn", "vad_source": source}
    if source == "perturbed":  # the model flips the oracle frames itself (seeded)
        model["vad_perturbation"] = PERTURBATION.suggest(trial)
    return experiment(model, dict(DATA), train_options(trial))


_TRAIN = {"lr": 1e-3, "batch_size": 32}
_NOTE = ("GNSDR/GSAR/GSIR (dB) on the MIR-1K test set, data-augmented model; learning rate and "
         "batch size are not stated in the paper")
# Table IV (perturbed labels in training and inference), Table V (the same training, the CNN
# detector at inference): perturbation -> (GNSDR, GSAR, GSIR)
TABLE_IV = {0.025: (6.90, 9.90, 11.12), 0.05: (6.95, 9.75, 11.45), 0.075: (6.86, 9.84, 11.13),
            0.1: (6.73, 9.71, 11.02), 0.15: (6.69, 9.69, 10.94)}
TABLE_V = {0.025: (6.97, 9.93, 11.24), 0.05: (6.93, 9.73, 11.43), 0.075: (6.90, 9.85, 11.21),
           0.1: (6.74, 9.71, 11.07), 0.15: (6.72, 9.71, 11.01)}


def _scores(values: tuple[float, float, float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{name}": v for name, v in zip(("GNSDR", "GSAR", "GSIR"), values,
                                                    strict=True)}


PAPER_POINTS = (
    PaperPoint(PAPER, "Table III", "Case 0", {"vad_source": "none", **_TRAIN},
               reported=_scores((6.77, 9.52, 11.45)), note=_NOTE),
    PaperPoint(PAPER, "Table III", "Case I.a", {"vad_source": "oracle", **_TRAIN},
               reported=_scores((7.16, 9.86, 11.72)),
               note=_NOTE + "; Table IV's 0 % row repeats it"),
    *(PaperPoint(PAPER, "Table IV", f"{100 * p:g} %",  # case I.b
                 {"vad_source": "perturbed", "vad_perturbation": p, **_TRAIN},
                 reported={**_scores(TABLE_IV[p]), **_scores(TABLE_V[p], "case II ")},
                 note=_NOTE + "; 'case II' keys are Table V: the same training, evaluated "
                      "with --activity-source detector")
      for p in PERTURBATION.choices),
    PaperPoint(PAPER, "Table V", "0 %", {"vad_source": "detector", **_TRAIN},  # case II
               reported=_scores((6.99, 9.72, 11.54)),
               note=_NOTE + "; trained on the oracle labels, inferring with the CNN detector "
                    "(here trained in the same run on the same labels, not beforehand)"),
)

SPACE = SearchSpace(
    name="attribute_aware",
    description="Swaminathan & Lerch: vocal-activity-informed feed-forward separator",
    task="separation",
    function=space,
    dimensions=(VAD_SOURCE, PERTURBATION, LEARNING_RATE, BATCH_SIZE, WIENER),
    paper_points=PAPER_POINTS,
)

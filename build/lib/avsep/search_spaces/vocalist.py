"""``vocalist``: lip-voice sync pre-training of VocaLiST (Kadandale, Montesinos & Haro).

The first stage of the paper's two-stage study: VocaLiST learns to tell in-sync (voice, mouth
frames) pairs from pairs shifted by 1..15 video frames (BCE, positives and negatives drawn
equally), and its registered champion (``avsep-vocalist``) hands its visual encoder to the
``vocalist_ynet`` study (see :mod:`avsep.platform.stages`). Dimensions: the training context
length in video frames (the paper trains on 5 frames, and dedicated models on the evaluation
length for its "Var = Y" rows), the learning rate and the batch size.

The paper states neither learning rate nor batch size; the points use 1e-4 and 8 (a CPU-scale
choice, see docs/models_extra.md). ``reported`` keys: ``acc_tol5@ctx25`` is the accuracy (%)
within ±5 frames at a 25-frame context (the ``acc_tol5`` column of
:func:`avsep.evaluation.sync.evaluate_sync`, in %). Ranking: ``val/score`` (minus the
validation BCE);
``avsep eval`` reports sync accuracy against context length (:mod:`avsep.evaluation.sync`).
"""

from __future__ import annotations

from typing import Any

from avsep.search_spaces.base import (
    BATCH_SIZE,
    LEARNING_RATE,
    PaperPoint,
    SearchSpace,
    experiment,
    train_options,
)
from avsep.search_spaces.dims import Categorical, TrialLike

PAPER = "Kadandale, Montesinos & Haro 2022 (VocaLiST)"
WINDOW = Categorical("window_frames", (5, 10, 15, 20, 25),
                     "training context in video frames at 25 fps (paper: 5; Var=Y rows: the "
                     "evaluation length)")
# the lip-sync pairs of the paper: equal positives/negatives, shifts of 1..15 frames
DATA = {"sync_share": 0.5, "min_offset": 1, "max_offset": 15}
_POINT = {"lr": 1e-4, "batch_size": 8}


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    model = {"name": "vocalist", "window_frames": WINDOW.suggest(trial)}
    return experiment(model, dict(DATA), train_options(trial), wiener=(0,))


PAPER_POINTS = (
    PaperPoint(PAPER, "Table 2", "VocaLiST, Var N, Acappella", {"window_frames": 5, **_POINT},
               reported={"acc_tol5@ctx5": 58.8, "acc_tol5@ctx10": 65.4,
                         "acc_tol5@ctx15": 71.6, "acc_tol5@ctx20": 76.5,
                         "acc_tol5@ctx25": 80.5},
               note="sync accuracy (%) within ±5 frames at context 5..25 frames, trained on "
                    "5-frame pairs; lr/batch size not stated in the paper"),
    PaperPoint(PAPER, "Table 2", "VocaLiST, Var Y, Acappella (25)",
               {"window_frames": 25, **_POINT}, reported={"acc_tol5@ctx25": 85.2},
               note="a model trained on 25-frame (1 s) pairs, scored at 25 frames, ±5"),
    PaperPoint(PAPER, "Table 2", "VocaLiST, Var Y, Acappella (10)",
               {"window_frames": 10, **_POINT}, reported={"acc_tol5@ctx10": 66.4},
               note="a model trained on 10-frame pairs, scored at 10 frames, ±5"),
)

SPACE = SearchSpace(
    name="vocalist",
    description="VocaLiST paper: lip-voice sync pre-training (stage 1 of vocalist_ynet)",
    task="sync",
    function=space,
    dimensions=(WINDOW, LEARNING_RATE, BATCH_SIZE),
    objective="val/score",
    paper_points=PAPER_POINTS,
    # the tiny VocaLiST leaves chance at lr 1e-3, batch 16 (docs/models_extra.md; the tiny
    # scale of `avsep reproduce kadandale`)
    tiny_train={"lr": 1e-3, "batch_size": 16},
)

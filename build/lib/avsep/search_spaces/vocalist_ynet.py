"""``vocalist_ynet``: Y-Net-mr of the VocaLiST paper (Kadandale, Montesinos & Haro), Table 3.

Stage 2 of a two-stage study. The visual encoder at the U-Net bottleneck (``encoder``) is

* ``end_to_end`` — Y-Net-mr's own video network trained with the separator ("Y-Net-mr E2E");
* ``vocalist_e2e`` — VocaLiST's visual encoder, randomly initialised and trained end to end
  ("Y-Net-mr-V E2E");
* ``vocalist_pretrained`` — VocaLiST's visual encoder from the lip-sync pre-training, frozen
  ("Y-Net-mr-V PT - VocaLiST", the paper's headline).

The pre-trained arm reads ``model.vocalist_checkpoint`` from the base config; the search driver
fills it from the registered VocaLiST champion (``STAGES`` below, resolved by
:func:`avsep.platform.stages.resolve_stage`), and the other arms ignore it. Y-Net-mr-S* (the
SyncNet* encoder) is not in the zoo. Other dimensions: the share of v+ mixtures (the paper:
half), learning rate and batch size.
"""

from __future__ import annotations

from typing import Any

from avsep.search_spaces.av_singing import EXTRA_VOCAL_SHARE
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
from avsep.search_spaces.vocalist import PAPER

# the ynet ``visual`` option itself (the zoo space samples it directly)
VISUAL = Categorical("visual", ("end_to_end", "vocalist"),
                     "visual encoder trained end to end, or VocaLiST's")
ENCODER = Categorical("encoder", ("end_to_end", "vocalist_e2e", "vocalist_pretrained"),
                      "Y-Net-mr's video network end to end, VocaLiST's encoder end to end, or "
                      "VocaLiST's pre-trained encoder frozen")
# ynet options of each arm; the pre-trained arm takes its checkpoint from the base config
ARMS: dict[str, dict[str, Any]] = {
    "end_to_end": {"visual": "end_to_end"},
    "vocalist_e2e": {"visual": "vocalist", "vocalist_init": "random", "visual_trainable": True},
    "vocalist_pretrained": {"visual": "vocalist", "vocalist_init": "pretrained",
                            "visual_trainable": False},
}
# the upstream study whose registered champion provides model.vocalist_checkpoint, for the
# trials whose parameters match ``needed_by`` (plain data: avsep.platform.stages reads it)
STAGES = ({"space": "vocalist", "register_as": "avsep-vocalist",
           "provides": "model.vocalist_checkpoint", "model": "vocalist",
           "needed_by": {"encoder": "vocalist_pretrained"}},)


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    model = {"name": "ynet", **ARMS[ENCODER.suggest(trial)]}
    data = {"extra_vocal_share": EXTRA_VOCAL_SHARE.suggest(trial)}
    return experiment(model, data, train_options(trial))


_POINT = {"extra_vocal_share": 0.5, "lr": 1e-4, "batch_size": 8}
_NOTE = ("SDR/SIR (dB), Acappella unseen-unheard test set, two-lead-voice mixtures; half of the "
         "training mixtures hold an extra voice; lr/batch size are not stated in the paper")
PAPER_POINTS = (
    PaperPoint(PAPER, "Table 3", "Y-Net-mr E2E", {"encoder": "end_to_end", **_POINT},
               reported={"SDR": 5.03, "SIR": 15.80}, note=_NOTE),
    PaperPoint(PAPER, "Table 3", "Y-Net-mr-V E2E", {"encoder": "vocalist_e2e", **_POINT},
               reported={"SDR": 1.14, "SIR": 11.72}, note=_NOTE),
    PaperPoint(PAPER, "Table 3", "Y-Net-mr-V PT - VocaLiST",
               {"encoder": "vocalist_pretrained", **_POINT},
               reported={"SDR": 6.32, "SIR": 17.08},
               note=_NOTE + "; needs the registered VocaLiST champion (stage 'vocalist')"),
)

SPACE = SearchSpace(
    name="vocalist_ynet",
    description="VocaLiST paper: Y-Net-mr with an end-to-end or frozen pre-trained lip-sync "
                "visual encoder (stage 2 after 'vocalist')",
    task="separation",
    function=space,
    dimensions=(ENCODER, EXTRA_VOCAL_SHARE, LEARNING_RATE, BATCH_SIZE, WIENER),
    paper_points=PAPER_POINTS,
)

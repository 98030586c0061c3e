"""``vocalist_ynet``: Y-Net-mr of the VocaLiST paper (Kadandale, Montesinos & Haro).

The visual encoder at the U-Net bottleneck is trained end to end or is VocaLiST's frozen
lip-sync encoder (loaded from a checkpoint when the experiment config names one); the share
of v+ mixtures, learning rate and batch size.
"""

from __future__ import annotations

from typing import Any

from avsep.search_spaces.av_singing import EXTRA_VOCAL_SHARE
from avsep.search_spaces.base import (
    BATCH_SIZE,
    LEARNING_RATE,
    WIENER,
    SearchSpace,
    experiment,
    train_options,
)
from avsep.search_spaces.dims import Categorical, TrialLike

VISUAL = Categorical("visual", ("end_to_end", "vocalist"),
                     "visual encoder trained end to end, or the frozen VocaLiST one")


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    model = {"name": "ynet", "visual": VISUAL.suggest(trial)}
    data = {"extra_vocal_share": EXTRA_VOCAL_SHARE.suggest(trial)}
    return experiment(model, data, train_options(trial))


SPACE = SearchSpace(
    name="vocalist_ynet",
    description="VocaLiST paper: Y-Net-mr with an end-to-end or frozen lip-sync visual encoder",
    task="separation",
    function=space,
    dimensions=(VISUAL, EXTRA_VOCAL_SHARE, LEARNING_RATE, BATCH_SIZE, WIENER),
    points_to_evaluate=tuple({"visual": visual, "extra_vocal_share": 0.5, "lr": 1e-4,
                              "batch_size": 8} for visual in ("end_to_end", "vocalist")),
)

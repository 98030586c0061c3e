"""``sound_of_pixels``: the Sound of Pixels baseline of the Solos paper (Montesinos et al.).

The visual front-end that gives each source its 32-vector, the number of source slots (the mix
holds 2 up to that many instruments) with an optional curriculum (one more source per epoch),
learning rate and batch size. The model always predicts binary masks (weighted BCE) on 256
log-frequency bins, as in the paper, so the mask type is not a dimension here.
"""

from __future__ import annotations

from typing import Any

from avsep.search_spaces.base import (
    BATCH_SIZE,
    LEARNING_RATE,
    WIENER,
    SearchSpace,
    experiment,
    train_options,
)
from avsep.search_spaces.dims import Categorical, Int, TrialLike

FRONTEND = Categorical("frontend", ("resnet18", "conv2d_lstm", "conv3d"),
                       "visual net giving the per-source 32-vector")
NUM_SOURCES = Int("num_sources", 2, 4, "source slots: a mix holds 2 up to this many instruments")
CURRICULUM = Categorical("curriculum", (False, True),
                         "start from 2 sources and add one per epoch")


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    slots = NUM_SOURCES.suggest(trial)
    model = {"name": "sop", "frontend": FRONTEND.suggest(trial), "num_sources": slots}
    data = {"num_sources": [2, slots], "curriculum": 1 if CURRICULUM.suggest(trial) else None}
    return experiment(model, data, train_options(trial))


SPACE = SearchSpace(
    name="sound_of_pixels",
    description="Solos paper: Sound of Pixels baseline (spectral components x visual vectors)",
    task="separation",
    function=space,
    dimensions=(FRONTEND, NUM_SOURCES, CURRICULUM, LEARNING_RATE, BATCH_SIZE, WIENER),
    points_to_evaluate=({"frontend": "resnet18", "num_sources": 2, "curriculum": False,
                         "lr": 1e-4, "batch_size": 16},),
)

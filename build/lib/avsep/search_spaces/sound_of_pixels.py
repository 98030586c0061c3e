"""``sound_of_pixels``: the Sound of Pixels baseline of the Solos paper (Montesinos et al.).

The visual front-end that gives each source its 32-vector, the number of source slots (the mix
holds 2 up to that many instruments) with an optional curriculum (one more source per epoch),
learning rate and batch size. The model always predicts binary masks (weighted BCE) on 256
log-frequency bins, as in the paper, so the mask type is not a dimension here. The learning
rate is the U-Net's; the visual net trains at a tenth of it (Solos: 1e-3 / 1e-4).
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


PAPER = "Montesinos, Slizovskaia & Haro 2020 (Solos)"
PAPER_POINTS = (
    PaperPoint(PAPER, "Table II", "SoP-Solos",
               {"frontend": "resnet18", "num_sources": 2, "curriculum": False, "lr": 1e-3,
                "batch_size": 16},
               {"SDR": -2.98, "SIR": 0.46, "SAR": 6.37},
               "trained from scratch on Solos, tested on URMP 6 s segments (mean); lr 1e-3 for "
               "the U-Net and 1e-4 for the ResNet (model option visual_lr_scale 0.1, through "
               "SoundOfPixels.param_groups); batch size not stated; the paper's dilated "
               "ResNet-18 is torchvision's ResNet-18 here. The rows 'SoP' and 'SoP-ft' need "
               "the MUSIC-trained SoP weights and are not reachable"),
)

SPACE = SearchSpace(
    name="sound_of_pixels",
    description="Solos paper: Sound of Pixels baseline (spectral components x visual vectors)",
    task="separation",
    function=space,
    dimensions=(FRONTEND, NUM_SOURCES, CURRICULUM, LEARNING_RATE, BATCH_SIZE, WIENER),
    paper_points=PAPER_POINTS,
)

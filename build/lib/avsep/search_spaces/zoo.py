"""``zoo``: across model families for one task — singing voice separation.

Every family of the zoo that separates singing voice from accompaniment: MMDenseNet
(audio-only or AV), the attribute-aware feed-forward net, and Y-Net; each family's own
conditional dimensions reuse the per-study dimension objects so names stay consistent.

Its paper points are one row of each family's own study (the same configuration in this
space's parameters), so on the tiny preset they take the tiny training values as every space's
paper points do (:meth:`~avsep.search_spaces.base.SearchSpace.enqueued`).
"""

from __future__ import annotations

from typing import Any

from avsep.search_spaces import attribute_aware, av_singing, vocalist_ynet
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

FAMILY = Categorical("family", ("mmdensenet", "av_mmdensenet", "attr_dnn", "ynet"),
                     "model family for singing voice separation")


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    family = FAMILY.suggest(trial)
    model: dict[str, Any] = {"name": family}
    data: dict[str, Any] = {}
    if family in ("mmdensenet", "av_mmdensenet"):
        if family == "av_mmdensenet":
            model["frontend"] = av_singing.FRONTEND.suggest(trial)
        model["mask_layer"] = av_singing.MASK_LAYER.suggest(trial)
    elif family == "attr_dnn":
        model["vad_source"] = attribute_aware.VAD_SOURCE.suggest(trial)
        if model["vad_source"] == "perturbed":
            model["vad_perturbation"] = attribute_aware.PERTURBATION.suggest(trial)
    else:
        model["visual"] = vocalist_ynet.VISUAL.suggest(trial)
    if family in ("av_mmdensenet", "ynet"):
        data["extra_vocal_share"] = av_singing.EXTRA_VOCAL_SHARE.suggest(trial)
    return experiment(model, data, train_options(trial))


SPACE = SearchSpace(
    name="zoo",
    description="across families for singing voice separation (MMDenseNet, attr_dnn, Y-Net)",
    task="separation",
    function=space,
    dimensions=(FAMILY, av_singing.FRONTEND, av_singing.MASK_LAYER,
                attribute_aware.VAD_SOURCE, attribute_aware.PERTURBATION,
                vocalist_ynet.VISUAL, av_singing.EXTRA_VOCAL_SHARE, LEARNING_RATE, BATCH_SIZE,
                WIENER),
    paper_points=(
        PaperPoint(av_singing.PAPER, "Fig. 4", "audio-only",
                   {"family": "mmdensenet", "mask_layer": True, "lr": 1e-3, "batch_size": 8}),
        PaperPoint(av_singing.PAPER, "Fig. 4", "proposed",
                   {"family": "av_mmdensenet", "frontend": "conv2d_lstm", "mask_layer": True,
                    "extra_vocal_share": 0.5, "lr": 1e-3, "batch_size": 8}),
        PaperPoint(attribute_aware.PAPER, "Table III", "Case I.a",
                   {"family": "attr_dnn", "vad_source": "oracle", "lr": 1e-3, "batch_size": 32}),
        PaperPoint(vocalist_ynet.PAPER, "Table 3", "Y-Net-mr E2E",
                   {"family": "ynet", "visual": "end_to_end", "extra_vocal_share": 0.5,
                    "lr": 1e-4, "batch_size": 8}),
    ),
)

"""``av_singing``: Li, Wang & Duan's audio-visual singing voice separation (MMDenseNet).

Audio-only MMDenseNet against the AV variant (visual front-end, features concatenated at the
bottleneck), the optional sigmoid mask layer, the share of training mixtures with an extra
irrelevant vocal ("v+"), learning rate and batch size. The paper trains the AV model with
v+ in half of the samples, batch size 8 (Sec. 3).
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
from avsep.search_spaces.dims import Categorical, Float, TrialLike

MODALITY = Categorical("modality", ("audio", "audio_visual"), "audio-only MMDenseNet or the AV one")
FRONTEND = Categorical("frontend", ("conv2d_lstm", "conv3d", "dense_lstm", "resnet18"),
                       "visual front-end on the mouth crops", when="modality=audio_visual")
MASK_LAYER = Categorical("mask_layer", (True, False), "sigmoid mask layer (else direct output)")
EXTRA_VOCAL_SHARE = Float("extra_vocal_share", 0.0, 0.75,
                          "share of training mixtures with an extra irrelevant vocal (v+)")


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    modality = MODALITY.suggest(trial)
    model: dict[str, Any] = {"name": "mmdensenet" if modality == "audio" else "av_mmdensenet"}
    if modality == "audio_visual":
        model["frontend"] = FRONTEND.suggest(trial)
    model["mask_layer"] = MASK_LAYER.suggest(trial)
    data = {"extra_vocal_share": EXTRA_VOCAL_SHARE.suggest(trial)}
    return experiment(model, data, train_options(trial))


def _paper(modality: str, mask_layer: bool) -> dict[str, Any]:
    point: dict[str, Any] = {"modality": modality, "mask_layer": mask_layer,
                             "extra_vocal_share": 0.5, "lr": 1e-3, "batch_size": 8}
    if modality == "audio_visual":
        point["frontend"] = "conv2d_lstm"
    return point


SPACE = SearchSpace(
    name="av_singing",
    description="Li, Wang & Duan: audio-only vs audio-visual MMDenseNet for singing voice",
    task="separation",
    function=space,
    dimensions=(MODALITY, FRONTEND, MASK_LAYER, EXTRA_VOCAL_SHARE, LEARNING_RATE, BATCH_SIZE,
                WIENER),
    points_to_evaluate=(_paper("audio", True), _paper("audio_visual", True),
                        _paper("audio_visual", False)),
)

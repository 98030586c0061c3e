"""``attribute_aware``: Swaminathan & Lerch's attribute-aware singing voice separation.

Where the vocal-activity input of the feed-forward separator comes from: none (the baseline),
the oracle labels, oracle labels with x % of the frames flipped in contiguous segments, or the
CNN detector; plus learning rate and batch size.
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
from avsep.search_spaces.dims import Categorical, TrialLike

VAD_SOURCE = Categorical("vad_source", ("none", "oracle", "perturbed", "detector"),
                         "where the 2-d vocal-activity input comes from")
PERTURBATION = Categorical("vad_perturbation", (0.05, 0.1, 0.2, 0.3, 0.4),
                           "share of oracle frames flipped", when="vad_source=perturbed")


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    source = VAD_SOURCE.suggest(trial)
    model: dict[str, Any] = {"name": "attr_dnn", "vad_source": source}
    if source == "perturbed":  # the model flips the oracle frames itself
        model["vad_perturbation"] = PERTURBATION.suggest(trial)
    return experiment(model, {}, train_options(trial))


def _paper(source: str, perturbation: float | None = None) -> dict[str, Any]:
    point: dict[str, Any] = {"vad_source": source, "lr": 1e-3, "batch_size": 32}
    if perturbation is not None:
        point["vad_perturbation"] = perturbation
    return point


SPACE = SearchSpace(
    name="attribute_aware",
    description="Swaminathan & Lerch: vocal-activity-informed feed-forward separator",
    task="separation",
    function=space,
    dimensions=(VAD_SOURCE, PERTURBATION, LEARNING_RATE, BATCH_SIZE, WIENER),
    points_to_evaluate=(_paper("none"), _paper("oracle"), _paper("perturbed", 0.2),
                        _paper("detector")),
)

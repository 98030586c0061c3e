"""``conditioned_unet``: Slizovskaia, Haro & Gómez's conditioned U-Nets on URMP.

U-Net (13 masks from one decoder) against the multi-head U-Net (13 decoders); where the
condition enters (none, FiLM at the bottleneck / every encoder block / the final layer,
label-multiply, visual final-multiply) crossed with the context that feeds it (instrument
labels, one video frame, visual motion through an LSTM or max-pooled); the mask type with the
loss that goes with it; log vs linear frequency; the magnitude scale; the curriculum over the
number of sources; noise augmentation. Wiener iterations are scored from one forward pass.
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

ARCHITECTURE = Categorical("architecture", ("cunet", "mhunet"),
                           "U-Net with 13 masks, or 13 decoder heads")
CONDITIONING = Categorical(
    "conditioning",
    ("none", "film_bottleneck", "film_encoder", "film_final", "label_multiply", "final_multiply"),
    "where the condition enters the network")
CONTEXT = Categorical("context", ("labels", "visual", "visual_motion", "visual_maxpool"),
                      "what the condition is computed from",
                      when="conditioning in {film_*}")
VISUAL_CONTEXT = Categorical("visual_context", ("visual", "visual_motion", "visual_maxpool"),
                             "visual context of the final multiply (class probabilities)",
                             when="conditioning=final_multiply")
MASK = Categorical("mask", ("ratio_l2", "ratio_l1", "binary_bce"),
                   "mask type with its loss (ratio: L2 or L1 on the masks, eq. 7; "
                   "binary: weighted BCE)")
FREQUENCY_SCALE = Categorical("frequency_scale", ("linear", "log"),
                              "linear STFT bins or a log-frequency warp of the input")
MAGNITUDE_SCALE = Categorical("magnitude_scale", ("db_norm", "log"),
                              "input magnitudes: normalised dB (paper) or log1p")
CURRICULUM = Categorical("curriculum", (False, True),
                         "grow the number of sources in a mix from 2 over the epochs")
NOISE_AUGMENTATION = Float("noise_snr_db", 20.0, 60.0,
                           "SNR of the white noise added to training mixtures", when="noise=on")
NOISE = Categorical("noise", ("off", "on"), "add white noise to training mixtures")

MASK_TYPES = {"ratio_l2": ("ratio", "l2"), "ratio_l1": ("ratio", "l1"),
              "binary_bce": ("binary", "bce")}


def space(trial: TrialLike) -> dict[str, Any]:
    """Sample one configuration of the study."""
    name = ARCHITECTURE.suggest(trial)
    conditioning = CONDITIONING.suggest(trial)
    model: dict[str, Any] = {"name": name, "conditioning": conditioning}
    if conditioning.startswith("film"):
        model["context"] = CONTEXT.suggest(trial)
    elif conditioning == "label_multiply":
        model["context"] = "labels"
    elif conditioning == "final_multiply":
        model["context"] = VISUAL_CONTEXT.suggest(trial)
    mask, loss = MASK_TYPES[MASK.suggest(trial)]
    model.update(mask_type=mask, loss=loss, frequency_scale=FREQUENCY_SCALE.suggest(trial),
                 magnitude_scale=MAGNITUDE_SCALE.suggest(trial))
    data = {"curriculum": 1 if CURRICULUM.suggest(trial) else None}  # +1 source per epoch
    noise = NOISE.suggest(trial)
    audio = {"noise_snr_db": NOISE_AUGMENTATION.suggest(trial) if noise == "on" else None}
    return experiment(model, data, train_options(trial), audio)


def _paper(architecture: str, conditioning: str, context: str | None = None) -> dict[str, Any]:
    point: dict[str, Any] = {"architecture": architecture, "conditioning": conditioning,
                             "mask": "ratio_l2", "frequency_scale": "linear",
                             "magnitude_scale": "db_norm", "curriculum": architecture == "mhunet",
                             "noise": "off", "lr": 1e-4, "batch_size": 32}
    if conditioning.startswith("film"):
        point["context"] = context
    elif conditioning == "final_multiply":
        point["visual_context"] = context
    return point


SPACE = SearchSpace(
    name="conditioned_unet",
    description="Slizovskaia, Haro & Gómez: conditioned U-Net / multi-head U-Net on URMP",
    task="separation",
    function=space,
    dimensions=(ARCHITECTURE, CONDITIONING, CONTEXT, VISUAL_CONTEXT, MASK, FREQUENCY_SCALE,
                MAGNITUDE_SCALE, CURRICULUM, NOISE, NOISE_AUGMENTATION, LEARNING_RATE,
                BATCH_SIZE, WIENER),
    points_to_evaluate=(
        _paper("cunet", "none"),
        _paper("cunet", "film_bottleneck", "labels"),
        _paper("cunet", "label_multiply"),
        _paper("cunet", "film_final", "visual"),
        _paper("cunet", "final_multiply", "visual"),
        _paper("mhunet", "none"),
        _paper("mhunet", "film_bottleneck", "visual_motion"),
    ),
)

"""``conditioned_unet``: Slizovskaia, Haro & Gómez's conditioned U-Nets on URMP.

U-Net (13 masks from one decoder) against the multi-head U-Net (13 decoders); where the
condition enters (none, FiLM at the bottleneck / every encoder block / the final layer,
label-multiply, visual final-multiply) crossed with the context that feeds it (instrument
labels, one video frame, visual motion through an LSTM or max-pooled); the mask type with the
loss that goes with it; log vs linear frequency; the magnitude scale; the curriculum over the
number of sources; noise augmentation. Wiener iterations are scored from one forward pass.

The paper points are the rows of Tables II-IV (experiment ids of Table V) with the paper's
reported means, plus the Solos paper's MHU-Net row. Model options not sampled here keep the
paper's version: targets against |Y|, unweighted BCE, dB in [-1, 1], a frozen front-end for
multi-frame contexts.
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
                   "mask type with its loss (ratio |S|/|Y|: L2 (eq. 7) or L1; "
                   "binary (eq. 3): BCE of eq. 6)")
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


PAPER = "Slizovskaia, Haro & Gómez 2021"
SOLOS = "Montesinos, Slizovskaia & Haro 2020 (Solos)"
METRICS = ("SI-SDR", "SD-SDR", "PES", "SDR", "SIR", "SAR")
_NOTE = ("means over URMP test mixtures (40 pieces, 2-4 instruments), 2 Wiener iterations; "
         "paper: batch 32, Adam at 1e-5, 1000 epochs")


def _params(architecture: str = "cunet", conditioning: str = "none",
            context: str | None = None, **changes: Any) -> dict[str, Any]:
    """Flat parameters of one configuration: Table V's baseline (exp. 6: linear STFT,
    dB-normalised, U-Net, ratio masks + L2, no noise, no curriculum) with ``changes``."""
    point: dict[str, Any] = {"architecture": architecture, "conditioning": conditioning,
                             "mask": "ratio_l2", "frequency_scale": "linear",
                             "magnitude_scale": "db_norm", "curriculum": False,
                             "noise": "off", "lr": 1e-5, "batch_size": 32}
    if conditioning.startswith("film"):
        point["context"] = context
    elif conditioning == "final_multiply":
        point["visual_context"] = context
    point.update(changes)
    return point


def _row(table: str, exp: int, params: dict[str, Any], values: tuple[float, ...],
         note: str = "", **extra: float) -> PaperPoint:
    reported = dict(zip(METRICS, values, strict=True)) | extra
    return PaperPoint(PAPER, table, f"exp {exp}", params, reported,
                      _NOTE + (f"; {note}" if note else ""))


_LOG = {"frequency_scale": "log"}  # Table II's ablations start from exp. 1 (log frequency)
PAPER_POINTS = (
    # Table II: the unconditioned ablation (exp. 1 scored at W = 0, 1, 2 from one trial)
    _row("Table II", 1, _params(**_LOG), (-7.6, -21.4, -25.4, -2.6, 1.7, 5.0),
         **{f"{m}@w0": v for m, v in zip(METRICS, (-2.1, -15.2, -8.1, -0.8, 0.6, 10.9),
                                         strict=True)},
         **{f"{m}@w1": v for m, v in zip(METRICS, (-3.9, -16.0, -15.1, -1.0, 1.5, 7.7),
                                         strict=True)}),
    _row("Table II", 2, _params(**_LOG, curriculum=True), (-8.2, -24.1, -26.2, -3.1, 1.4, 4.6),
         "curriculum: 2 sources, +1 when the validation loss stalls (here: +1 per epoch)"),
    _row("Table II", 3, _params(**_LOG, mask="binary_bce"),
         (-9.7, -21.6, -36.2, -3.8, 0.1, 4.9), "binary masks, BCE of eq. 6 (λ not stated: 1)"),
    _row("Table II", 4, _params(**_LOG, noise="on", noise_snr_db=30.0),
         (-7.6, -21.7, -21.7, -3.1, 0.2, 6.0), "noise level not stated: 30 dB SNR"),
    _row("Table II", 5, _params(**_LOG, magnitude_scale="log"),
         (-10.1, -25.3, -27.0, -3.9, 0.7, 4.6)),
    _row("Table II", 6, _params(), (-7.4, -17.5, -24.4, -2.3, 1.5, 5.7),
         "the baseline of Tables III and IV"),
    _row("Table II", 7, _params("mhunet", **_LOG), (-8.1, -23.7, -20.9, -3.3, 0.1, 5.8)),
    # Table III: label conditioning
    _row("Table III", 8, _params(conditioning="film_bottleneck", context="labels"),
         (-5.1, -19.2, -7.1, -1.3, 1.9, 6.6)),
    _row("Table III", 9, _params(conditioning="film_encoder", context="labels"),
         (-4.2, -19.7, -6.9, -1.2, 1.1, 8.5)),
    _row("Table III", 10, _params(conditioning="film_final", context="labels"),
         (-4.3, -17.3, -9.3, -1.6, 0.6, 8.2)),
    _row("Table III", 11, _params(conditioning="label_multiply"),
         (-7.2, -15.3, -18.6, -1.9, 2.4, 5.1)),
    # Table IV: visual conditioning (one frame: front-end fine-tuned; 5 frames: frozen)
    _row("Table IV", 12, _params(conditioning="film_encoder", context="visual"),
         (-12.1, -34.9, -21.7, -5.1, -0.3, 3.3)),
    _row("Table IV", 17, _params(conditioning="film_bottleneck", context="visual"),
         (-5.1, -17.6, -16.3, -2.2, 0.2, 7.2)),
    _row("Table IV", 18, _params(conditioning="film_final", context="visual"),
         (-4.8, -23.7, -21.3, -1.6, 0.8, 10.3)),
    _row("Table IV", 16, _params(conditioning="final_multiply", context="visual"),
         (-4.1, -19.0, -15.4, -1.5, 1.0, 9.2)),
    _row("Table IV", 13, _params(conditioning="film_final", context="visual_motion"),
         (-4.5, -21.5, -12.7, -2.1, -0.4, 9.3), "5 frames per 6 s clip, LSTM of 1024"),
    _row("Table IV", 14, _params(conditioning="film_bottleneck", context="visual_motion"),
         (-5.6, -19.3, -18.3, -2.1, 0.2, 7.5), "5 frames per 6 s clip, LSTM of 1024"),
    _row("Table IV", 15, _params(conditioning="film_bottleneck", context="visual_maxpool"),
         (-8.2, -26.6, -19.3, -3.3, 0.5, 5.2), "5 frames per 6 s clip, max-pooled"),
    # the Solos paper's MHU-Net (log-frequency, dB in [-1, 1], curriculum 2 -> 4 sources)
    PaperPoint(SOLOS, "Table II", "MHU-Net",
               _params("mhunet", **_LOG, curriculum=True, lr=1e-4),
               {"SDR": -0.56, "SIR": 1.04, "SAR": 10.37},
               "URMP 6 s segments, no Wiener filtering; paper also uses weight decay 1e-5 and "
               "halves the lr on plateaus (not dimensions here)"),
)

SPACE = SearchSpace(
    name="conditioned_unet",
    description="Slizovskaia, Haro & Gómez: conditioned U-Net / multi-head U-Net on URMP",
    task="separation",
    function=space,
    dimensions=(ARCHITECTURE, CONDITIONING, CONTEXT, VISUAL_CONTEXT, MASK, FREQUENCY_SCALE,
                MAGNITUDE_SCALE, CURRICULUM, NOISE, NOISE_AUGMENTATION, LEARNING_RATE,
                BATCH_SIZE, WIENER),
    paper_points=PAPER_POINTS,
)

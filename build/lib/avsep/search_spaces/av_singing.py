"""``av_singing``: Li, Wang & Duan's audio-visual singing voice separation (MMDenseNet).

Audio-only MMDenseNet against the AV variant (visual front-end, features concatenated at the
bottleneck), the optional sigmoid mask layer, the share of training mixtures with an extra
irrelevant vocal ("v+"), learning rate and batch size. The paper trains with v+ in half of
the training samples, batch size 8 (Sec. V-A); it states no learning rate (the points use
1e-3). Its input is the log-magnitude normalised per frequency bin with training-set
statistics, the models' default (``input_norm``, see docs/models.md).

The paper reports its SDRs only as boxplots (Figs. 4, 9, 10), so the points' ``reported``
figures are its model sizes (Table I, millions of parameters); the comparisons it draws are
the findings of ``avsep reproduce``. Not reachable here: the pre-trained lip-reading front-end
of Fig. 9 (no weights can be downloaded, docs/models.md) and the non-informative video inputs
of Fig. 10, which are evaluation-side (``avsep eval`` visual ablations).
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


PAPER = "Li, Wang & Duan 2021 (audiovisual singing voice separation)"
_NOTE = ("SDR only as boxplots in the paper (Audition-RandMix, URSing, with and without v+); "
         "lr not stated")


def _point(experiment_id: str, modality: str, mask_layer: bool = True,
           frontend: str | None = None, reported: dict[str, float] | None = None,
           table: str = "Fig. 9", note: str = _NOTE) -> PaperPoint:
    """A row of the paper's figures: ``Fig. 4`` (methods) or ``Fig. 9`` (video front-ends)."""
    params: dict[str, Any] = {"modality": modality, "mask_layer": mask_layer,
                              "extra_vocal_share": 0.5, "lr": 1e-3, "batch_size": 8}
    if modality == "audio_visual":
        params["frontend"] = frontend or "conv2d_lstm"
    return PaperPoint(PAPER, table, experiment_id, params, reported or {}, note)


PAPER_POINTS = (
    _point("audio-only", "audio", table="Fig. 4", reported={"params_M": 1.22},
           note=_NOTE + "; MMDenseLSTM without its LSTMs (the AV model's audio branch); "
                "params_M: Table I"),
    _point("proposed", "audio_visual", table="Fig. 4", reported={"params_M": 2.05},
           note=_NOTE + "; Conv2D+LSTM front-end, mask layer; params_M: Table I"),
    _point("No-mask", "audio_visual", mask_layer=False),
    _point("Conv3D", "audio_visual", frontend="conv3d"),
    _point("Dense+LSTM", "audio_visual", frontend="dense_lstm"),
)

SPACE = SearchSpace(
    name="av_singing",
    description="Li, Wang & Duan: audio-only vs audio-visual MMDenseNet for singing voice",
    task="separation",
    function=space,
    dimensions=(MODALITY, FRONTEND, MASK_LAYER, EXTRA_VOCAL_SHARE, LEARNING_RATE, BATCH_SIZE,
                WIENER),
    paper_points=PAPER_POINTS,
)

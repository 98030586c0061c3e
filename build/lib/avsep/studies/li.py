"""Li, Wang & Duan — audio-visual singing voice separation (MMDenseNet / MMDenseLSTM).

Findings checked: the audio-visual model beats the audio-only one on mixtures with an extra,
off-screen vocal ("v+"), and the sigmoid mask layer is what lets the visual input help.

Protocol (§IV): each test excerpt (30 s) is scored by the median SDR over its 1-s windows
(BSS Eval v4, the rows' ``sdr``); across excerpts the paper reports medians (box plots of
Fig. 4) and a Wilcoxon signed-rank test, which the findings declare (``statistic="median"``,
``test="wilcoxon"``). Every test song is scored plain and v+ (the same window).

Paper preset (§IV-B): batch size 8, at most 50 epochs, early stopping when the validation loss
has not decreased for 10 epochs (``train.patience``); the paper states no optimiser or
learning rate (Adam at the paper point's 1e-3 here) and no number of mixtures per epoch.

Stated departure: the paper's audio-only baseline is MMDenseLSTM; ours is MMDenseNet, the AV
model's own audio path without the visual input (the av_singing space has no LSTM variant).
"""

from avsep.studies.base import Arm, Finding, Study

PAPER = "Li, Wang & Duan 2021"

STUDY = Study(
    paper=PAPER,
    key="li",
    title="Li, Wang & Duan: audio-visual singing voice separation",
    corpus="singing",
    layout="avsep_synth",
    arms=(
        Arm("audio", "av_singing", {}, "audio-only MMDenseNet (paper: MMDenseLSTM)",
            paper_point="Fig. 4 audio-only"),
        Arm("av", "av_singing", {}, "AV MMDenseNet, mask layer", paper_point="Fig. 4 proposed"),
        Arm("av_nomask", "av_singing", {}, "AV MMDenseNet, no mask layer",
            paper_point="Fig. 9 No-mask"),
    ),
    findings=(
        Finding("av_beats_audio_vplus", "AV > audio-only on mixtures with extra vocals (v+)",
                "sdr", ("av", "audio"), where={"condition": "v+", "source": "vocals"},
                statistic="median", test="wilcoxon",
                paper="Fig. 4: the AV model beats MMDenseLSTM on Audition-RandMix (v+), "
                      "Wilcoxon p = 6.2e-3, and on URSing (v+), p = 4.3e-2 (median SDR over "
                      "1-s windows per 30-s excerpt)"),
        Finding("mask_layer_matters", "the mask layer matters for AV (AV with mask > without)",
                "sdr", ("av", "av_nomask"), where={"source": "vocals"},
                statistic="median", test="wilcoxon",
                paper="§V-E1, Fig. 9: without the mask layer the AV model falls below the "
                      "audio-only baseline"),
    ),
    notes="Per-excerpt SDR is the median over 1-s windows of each test excerpt (up to 30 s); "
          "medians across excerpts with the Wilcoxon signed-rank test, as the paper. The "
          "audio-only arm is MMDenseNet, not the paper's MMDenseLSTM (a stated departure).",
    tiny_scale=(("epochs", 6), ("seeds", 3), ("minutes", 12.0)),
    paper_scale=(("epochs", 50), ("seeds", 3), ("batch_size", 8)),
    paper_train=(("patience", 10),),
)

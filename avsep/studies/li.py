"""Li, Wang & Duan — audio-visual singing voice separation (MMDenseNet / MMDenseLSTM).

Findings checked: the audio-visual model beats the audio-only one on mixtures with an extra,
off-screen vocal ("v+"), and the sigmoid mask layer is what lets the visual input help.
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
        Arm("audio", "av_singing", {}, "audio-only MMDenseNet", paper_point="Fig. 4 audio-only"),
        Arm("av", "av_singing", {}, "AV MMDenseNet, mask layer", paper_point="Fig. 4 proposed"),
        Arm("av_nomask", "av_singing", {}, "AV MMDenseNet, no mask layer",
            paper_point="Fig. 9 No-mask"),
    ),
    findings=(
        Finding("av_beats_audio_vplus", "AV > audio-only on mixtures with extra vocals (v+)",
                "sdr", ("av", "audio"), where={"condition": "v+", "source": "vocals"},
                paper="Fig. 4: the AV model beats MMDenseLSTM on Audition-RandMix (v+), "
                      "Wilcoxon p = 6.2e-3, and on URSing (v+), p = 4.3e-2"),
        Finding("mask_layer_matters", "the mask layer matters for AV (AV with mask > without)",
                "sdr", ("av", "av_nomask"), where={"source": "vocals"},
                paper="§V-E1, Fig. 9: without the mask layer the AV model falls below the "
                      "audio-only baseline"),
    ),
    tiny_scale=(("epochs", 6), ("seeds", 3), ("minutes", 12.0)),
)

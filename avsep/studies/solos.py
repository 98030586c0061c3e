"""Montesinos, Slizovskaia & Haro (Solos) and Slizovskaia et al. — U-Nets against Sound of Pixels.

Finding checked: the conditioned U-Net and the multi-head U-Net separate URMP ensembles better
than the Sound of Pixels baseline (Slizovskaia et al. Table IV, exp 6 / 7 vs exp 19).
"""

from avsep.studies.base import Arm, Finding, Study

STUDY = Study(
    paper="Montesinos, Slizovskaia & Haro 2020; Slizovskaia et al. 2021",
    key="solos",
    title="Solos / Sound of Pixels against the (multi-head) U-Net",
    corpus="urmp",
    layout="urmp",
    arms=(
        Arm("sop", "sound_of_pixels", {}, "Sound of Pixels", paper_point="Table II SoP-Solos"),
        Arm("cunet", "conditioned_unet", {}, "U-Net, no conditioning",
            paper_point="Table II exp 6", evaluation={"wiener": 2}),
        Arm("mhunet", "conditioned_unet", {}, "multi-head U-Net, no conditioning",
            paper_point="Table II exp 7", evaluation={"wiener": 2}),
    ),
    findings=(
        Finding("cunet_beats_sop", "the U-Net beats Sound of Pixels (SI-SDR)", "si_sdr",
                ("cunet", "sop"),
                paper="Slizovskaia Table IV: SI-SDR −7.4 (exp 6) vs −18.7 dB (SoP, exp 19)"),
        Finding("mhunet_beats_sop", "the multi-head U-Net beats Sound of Pixels (SI-SDR)",
                "si_sdr", ("mhunet", "sop"),
                paper="Slizovskaia Tables II/IV: SI-SDR −8.1 (exp 7) vs −18.7 dB (exp 19)"),
    ),
    notes="U-Net and Sound of Pixels score different source layouts (13 instrument slots vs N "
          "video streams), so these comparisons are unpaired: each side's mean over its own "
          "test rows, with a bootstrap interval of the difference.",
    tiny_scale=(("epochs", 30), ("seeds", 2), ("minutes", 20.0), ("lr", 1e-3), ("batch_size", 8)),
)

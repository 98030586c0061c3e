"""Montesinos, Slizovskaia & Haro (Solos) and Slizovskaia et al. — U-Nets against Sound of Pixels.

Findings checked, on SDR (the metric both papers' tables hold for Sound of Pixels):

* the Solos paper's own MHU-Net (Table II: log frequency, curriculum, Adam at 1e-4, weight
  decay 1e-5, no Wiener filtering) beats Sound of Pixels trained from scratch on Solos
  (SDR −0.56 vs −2.98 dB);
* Slizovskaia et al.'s unconditioned U-Net (exp 6, 2 Wiener iterations) beats the Sound of
  Pixels they trained from scratch on Solos (SoP-unet5-Solos, exp 21): SDR −2.3 vs −2.9 dB.

Both papers train on Solos and test on URMP mixtures (``train_layouts``: ``--train-layout
solos`` with ``--layout urmp``). The U-Nets and Sound of Pixels score different source layouts
(13 instrument slots vs N video streams), so each comparison is unpaired.

Paper preset: Slizovskaia et al.'s protocol for the U-Net (1000 epochs of 3200 mixtures,
batch 32, lr halved after 25k iterations without gain); the Solos paper's for the MHU-Net (lr
1e-4, weight decay 1e-5, halved after 400k iterations on a plateau: 4000 epochs of 100
iterations, so it does not halve within 1000 epochs) and Sound of Pixels (U-Net at 1e-3, the
visual net at 1e-4, batch 16 — the paper does not state it). Stated departures: the paper's SoP
on Solos has 5 U-Net blocks (Slizovskaia Table IV, exp 21); ours has the 7 of the Solos paper's
description (the tiny preset 4): the block count is not a model option. The MHU-Net
curriculum adds a source per epoch, not after 160k iterations on a plateau.
"""

from avsep.studies.base import Arm, Finding, Study

#: Slizovskaia et al.'s U-Net protocol (§4.3): lr halved after 25k iterations w/o gain
UNET_TRAIN = {"lr_schedule": "plateau_half", "lr_patience": 250}
#: the Solos paper's MHU-Net (§IV-B): weight decay 1e-5, lr halved after a 400k-iteration plateau
MHUNET_TRAIN = {"weight_decay": 1e-5, "lr_schedule": "plateau_half", "lr_patience": 4000}

STUDY = Study(
    paper="Montesinos, Slizovskaia & Haro 2020; Slizovskaia et al. 2021",
    key="solos",
    title="Solos / Sound of Pixels against the (multi-head) U-Net",
    corpus="urmp",
    layout="urmp",
    arms=(
        Arm("sop", "sound_of_pixels", {}, "Sound of Pixels trained on Solos",
            paper_point="Table II SoP-Solos"),
        Arm("cunet", "conditioned_unet", {}, "U-Net, no conditioning, 2 Wiener iterations",
            paper_point="Table II exp 6", evaluation={"wiener": 2}, paper_train=UNET_TRAIN),
        Arm("mhunet", "conditioned_unet", {}, "the Solos paper's MHU-Net, no Wiener",
            paper_point="Table II MHU-Net", evaluation={"wiener": 0}, paper_train=MHUNET_TRAIN),
    ),
    findings=(
        Finding("mhunet_beats_sop", "the Solos MHU-Net beats Sound of Pixels (SDR)", "sdr",
                ("mhunet", "sop"),
                paper="Solos Table II: SDR −0.56 (MHU-Net) vs −2.98 dB (SoP-Solos)"),
        Finding("cunet_beats_sop", "the U-Net beats Sound of Pixels trained on Solos (SDR)",
                "sdr", ("cunet", "sop"),
                paper="SDR −2.3 (Slizovskaia Table II exp 6, W = 2) vs −2.98 dB (Solos "
                      "Table II SoP-Solos; Slizovskaia's Table IV lists it as exp 21, "
                      "SoP-unet5-Solos, −2.9)"),
    ),
    notes="U-Net and Sound of Pixels score different source layouts (13 instrument slots vs N "
          "video streams), so these comparisons are unpaired: each side's mean over its own "
          "test excerpts. Our Sound of Pixels has 7 U-Net blocks (the paper's SoP on Solos: "
          "5). Both papers train on Solos and test on URMP: `--train-layout solos --train-root "
          "SOLOS --layout urmp --root URMP`.",
    tiny_scale=(("epochs", 30), ("seeds", 3), ("minutes", 20.0), ("lr", 1e-3), ("batch_size", 8)),
    paper_scale=(("epochs", 1000), ("seeds", 3), ("train_length", 3200)),
    paper_train=(("patience", 1000),),
    train_layouts=("solos",),
)

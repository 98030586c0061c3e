"""Slizovskaia, Haro & Gómez — conditioned U-Nets on URMP.

Findings checked: label-multiply conditioning raises SIR and PES against the unconditioned
baseline (Table III, exp 11 vs exp 6, both with 2 Wiener iterations), and Wiener
post-processing trades SDR for SIR and PES (Table II, exp 1 — the log-frequency U-Net — at
W = 2 vs W = 0: one trained model scored both ways).

Each figure is quoted from the row the arm is: the Wiener arms are exp 1 (log frequency), the
label-multiply baseline is exp 6 (linear frequency). PES is ``pes_code``, PES as the paper's
own code computes it (whole excerpt; an all-zero estimate of a silent slot has none), the
figure behind its tables. The paper names no test beyond "p < 0.05": bootstrap intervals.

Paper preset (§4.3): 1000 epochs, batch 32, Adam at 1e-5 (the paper points), the learning
rate halved after 25k iterations without validation gain: ``plateau_half`` with
``lr_patience`` 250 epochs of 3200 mixtures (100 iterations at batch 32); no early stopping is
stated (``patience`` 1000). The paper trains on Solos and tests on all of URMP
(``train_layouts``: pass ``--train-layout solos`` with ``--layout urmp``).
"""

from avsep.studies.base import Arm, Finding, Study

PAPER = "Slizovskaia, Haro & Gómez 2021"
ABLATION = "Table II exp 1"  # log-frequency U-Net: the row Table II scores at W = 0, 1, 2
BASELINE = "Table II exp 6"  # linear frequency: the baseline of Tables III and IV

STUDY = Study(
    paper=PAPER,
    key="slizovskaia",
    title="Slizovskaia, Haro & Gómez: conditioned source separation",
    corpus="urmp",
    layout="urmp",
    arms=(
        Arm("plain_w0", "conditioned_unet", {}, "U-Net (log freq.), no conditioning, no Wiener",
            paper_point=ABLATION, evaluation={"wiener": 0}),
        Arm("plain_w2", "conditioned_unet", {}, "U-Net (log freq.), no conditioning, 2 Wiener "
            "iterations", paper_point=ABLATION, evaluation={"wiener": 2}),
        Arm("baseline", "conditioned_unet", {}, "U-Net, no conditioning, 2 Wiener iterations",
            paper_point=BASELINE, evaluation={"wiener": 2}),
        Arm("label_multiply", "conditioned_unet", {}, "U-Net, label-multiply, 2 Wiener it.",
            paper_point="Table III exp 11", evaluation={"wiener": 2}),
    ),
    findings=(
        Finding("label_multiply_sir", "label-multiply raises SIR", "sir",
                ("label_multiply", "baseline"),
                paper="Table III: SIR 2.4 (exp 11) vs 1.5 dB (exp 6)"),
        Finding("label_multiply_pes", "label-multiply raises PES (silent slots)", "pes_code",
                ("label_multiply", "baseline"), higher=True,
                paper="Table III: PES −18.6 (exp 11) vs −24.4 dB (exp 6)"),
        Finding("wiener_sir", "Wiener iterations raise SIR", "sir", ("plain_w2", "plain_w0"),
                paper="Table II exp 1: SIR 1.7 (W = 2) vs 0.6 dB (W = 0)"),
        Finding("wiener_pes", "Wiener iterations lower PES", "pes_code",
                ("plain_w2", "plain_w0"),
                paper="Table II exp 1: PES −25.4 (W = 2) vs −8.1 dB (W = 0)"),
        Finding("wiener_sdr", "Wiener iterations cost SDR", "sdr", ("plain_w2", "plain_w0"),
                higher=False, paper="Table II exp 1: SDR −2.6 (W = 2) vs −0.8 dB (W = 0)"),
    ),
    notes="PES is pes_code (the paper's code: silent slots, all-zero estimates skipped). The "
          "Wiener findings compare one exp-1 model scored at W = 2 and W = 0; the "
          "label-multiply findings compare exp 11 with exp 6, both at W = 2. The paper trains "
          "on Solos and tests on URMP: `--train-layout solos --train-root SOLOS --layout urmp "
          "--root URMP`.",
    tiny_scale=(("epochs", 30), ("seeds", 3), ("minutes", 20.0), ("lr", 1e-3), ("batch_size", 8)),
    paper_scale=(("epochs", 1000), ("seeds", 3), ("train_length", 3200), ("batch_size", 32)),
    paper_train=(("lr_schedule", "plateau_half"), ("lr_patience", 250), ("patience", 1000)),
    train_layouts=("solos",),
)

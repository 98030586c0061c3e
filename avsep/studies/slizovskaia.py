"""Slizovskaia, Haro & Gómez — conditioned U-Nets on URMP.

Findings checked: label-multiply conditioning raises SIR and PES (Table III, exp 11 vs exp 6),
and Wiener post-processing trades SDR for SIR and PES (Table II, exp 1 with W = 0 vs 2).
"""

from avsep.studies.base import Arm, Finding, Study

PAPER = "Slizovskaia, Haro & Gómez 2021"
BASELINE = "Table II exp 6"

STUDY = Study(
    paper=PAPER,
    key="slizovskaia",
    title="Slizovskaia, Haro & Gómez: conditioned source separation",
    corpus="urmp",
    layout="urmp",
    arms=(
        Arm("plain_w0", "conditioned_unet", {}, "U-Net, no conditioning, no Wiener",
            paper_point=BASELINE, evaluation={"wiener": 0}),
        Arm("plain_w2", "conditioned_unet", {}, "U-Net, no conditioning, 2 Wiener iterations",
            paper_point=BASELINE, evaluation={"wiener": 2}),
        Arm("label_multiply", "conditioned_unet", {}, "U-Net, label-multiply, 2 Wiener it.",
            paper_point="Table III exp 11", evaluation={"wiener": 2}),
    ),
    findings=(
        Finding("label_multiply_sir", "label-multiply raises SIR", "sir",
                ("label_multiply", "plain_w2"),
                paper="Table III: SIR 2.4 (exp 11) vs 1.5 dB (exp 6)"),
        Finding("label_multiply_pes", "label-multiply raises PES (silent slots)", "pes",
                ("label_multiply", "plain_w2"), higher=True,
                paper="Table III: PES −18.6 (exp 11) vs −24.4 dB (exp 6)"),
        Finding("wiener_sir", "Wiener iterations raise SIR", "sir", ("plain_w2", "plain_w0"),
                paper="Table II exp 1: SIR 1.7 (W = 2) vs 0.6 dB (W = 0)"),
        Finding("wiener_pes", "Wiener iterations lower PES", "pes", ("plain_w2", "plain_w0"),
                paper="Table II exp 1: PES −25.4 (W = 2) vs −8.1 dB (W = 0)"),
        Finding("wiener_sdr", "Wiener iterations cost SDR", "sdr", ("plain_w2", "plain_w0"),
                higher=False, paper="Table II exp 1: SDR −2.6 (W = 2) vs −0.8 dB (W = 0)"),
    ),
    tiny_scale=(("epochs", 30), ("seeds", 2), ("minutes", 20.0), ("lr", 1e-3), ("batch_size", 8)),
)

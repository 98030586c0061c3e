"""Kadandale, Montesinos & Haro — VocaLiST and the Y-Net that reuses its encoder.

Findings checked: lip-sync accuracy rises with the context length (Tables 1–2), and Y-Net-mr-V
with the frozen pre-trained VocaLiST encoder beats the end-to-end Y-Net-mr (Table 3). A
two-stage study: VocaLiST is trained first, and each seed's VocaLiST feeds that seed's Y-Net.
"""

from avsep.studies.base import Arm, Finding, Study

PAPER = "Kadandale, Montesinos & Haro 2022"

STUDY = Study(
    paper=PAPER,
    key="kadandale",
    title="Kadandale, Montesinos & Haro: VocaLiST and Y-Net-mr-V",
    corpus="singing",
    layout="avsep_synth",
    arms=(
        Arm("vocalist", "vocalist", {}, "VocaLiST lip-sync",
            paper_point="Table 2 VocaLiST, Var N, Acappella",
            evaluation={"protocol": "sync", "contexts": (5, 7, 9, 11, 13, 15)}),
        Arm("ynet_e2e", "vocalist_ynet", {}, "Y-Net-mr, end to end",
            paper_point="Table 3 Y-Net-mr E2E"),
        Arm("ynet_pt", "vocalist_ynet", {}, "Y-Net-mr-V, frozen pre-trained VocaLiST",
            paper_point="Table 3 Y-Net-mr-V PT - VocaLiST",
            upstream=("vocalist", "model.vocalist_checkpoint")),
    ),
    findings=(
        Finding("sync_context", "sync accuracy (±1 frame) rises with context", "acc_tol1",
                ("vocalist",),
                kind="trend_up", along="context",
                paper="Tables 1–2: accuracy grows with the context window (5 → 15 frames)"),
        Finding("pretrained_beats_e2e", "frozen pre-trained sync features > end-to-end Y-Net",
                "sdr", ("ynet_pt", "ynet_e2e"), where={"source": "vocals"},
                paper="Table 3: SDR 6.32 (Y-Net-mr-V, PT VocaLiST) vs 5.03 dB (Y-Net-mr, E2E)"),
    ),
    stages=(("vocalist",), ("ynet_e2e", "ynet_pt")),
    tiny_scale=(("epochs", 16), ("seeds", 1), ("minutes", 12.0), ("train_length", 512),
                ("lr", 1e-3), ("batch_size", 16)),
)

"""Kadandale, Montesinos & Haro — VocaLiST and the Y-Net that reuses its encoder.

Findings checked: lip-sync accuracy on singing voice rises with the context length (Table 2:
accuracy within ±5 frames, contexts 5 to 25 frames), and Y-Net-mr-V with the frozen
pre-trained VocaLiST encoder beats the end-to-end Y-Net-mr (Table 3). A two-stage study:
VocaLiST is trained first, and each seed's VocaLiST feeds that seed's Y-Net.

Protocol: the singing sync table's (±5 frames over contexts 5–25; ±1 frame and 5–15 is the
speech table's), every test singer with 8 clips each; Table 3 scores the two-lead-voice
mixtures only (two singers plus accompaniment: our "v+" items, the target's voice with another
singer's), so the separation finding keeps ``condition = v+``. The paper states no optimiser
settings for either model: the paper preset keeps the paper points' (lr 1e-4, batch 8).
"""

from avsep.studies.base import Arm, Finding, Study

PAPER = "Kadandale, Montesinos & Haro 2022"
#: Table 2's context windows (frames at 25 fps); avsep.evaluation.sync.PAPER_CONTEXTS holds the
#: same (this package imports nothing heavy)
SINGING_CONTEXTS = (5, 7, 9, 11, 13, 15, 20, 25)

STUDY = Study(
    paper=PAPER,
    key="kadandale",
    title="Kadandale, Montesinos & Haro: VocaLiST and Y-Net-mr-V",
    corpus="singing",
    layout="avsep_synth",
    arms=(
        Arm("vocalist", "vocalist", {}, "VocaLiST lip-sync",
            paper_point="Table 2 VocaLiST, Var N, Acappella",
            evaluation={"protocol": "sync", "contexts": SINGING_CONTEXTS, "tolerance": (1, 5),
                        "clips_per_singer": 8}),
        Arm("ynet_e2e", "vocalist_ynet", {}, "Y-Net-mr, end to end",
            paper_point="Table 3 Y-Net-mr E2E"),
        Arm("ynet_pt", "vocalist_ynet", {}, "Y-Net-mr-V, frozen pre-trained VocaLiST",
            paper_point="Table 3 Y-Net-mr-V PT - VocaLiST",
            upstream=("vocalist", "model.vocalist_checkpoint")),
    ),
    findings=(
        Finding("sync_context", "singing sync accuracy (±5 frames) rises with context",
                "acc_tol5", ("vocalist",), kind="trend_up", along="context",
                paper="Table 2 (Acappella, Var N): accuracy within ±5 frames grows with the "
                      "context window (5 → 25 frames)"),
        Finding("pretrained_beats_e2e", "frozen pre-trained sync features > end-to-end Y-Net "
                "(two lead voices)", "sdr", ("ynet_pt", "ynet_e2e"),
                where={"source": "vocals", "condition": "v+"},
                paper="Table 3 (two-lead-voice mixtures): SDR 6.32 (Y-Net-mr-V, PT VocaLiST) "
                      "vs 5.03 dB (Y-Net-mr, E2E)"),
    ),
    stages=(("vocalist",), ("ynet_e2e", "ynet_pt")),
    tiny_scale=(("epochs", 16), ("seeds", 3), ("minutes", 12.0), ("train_length", 512),
                ("lr", 1e-3), ("batch_size", 16)),
    paper_scale=(("seeds", 3),),
)

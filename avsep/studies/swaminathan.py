"""Swaminathan & Lerch — attribute-aware singing voice separation on MIR-1K.

Findings checked: oracle vocal activity beats none (Case 0 vs I.a), separation degrades as the
activity labels are perturbed (Case I.b), and the oracle at inference beats the CNN detector's
activity (Case I.a vs II).
"""

from avsep.studies.base import Arm, Finding, Study

PAPER = "Swaminathan & Lerch 2023"

STUDY = Study(
    paper=PAPER,
    key="swaminathan",
    title="Swaminathan & Lerch: vocal activity informed singing voice separation",
    corpus="singing",
    layout="avsep_synth",
    arms=(
        Arm("none", "attribute_aware", {}, "Case 0: no activity", paper_point="Table III Case 0"),
        Arm("oracle", "attribute_aware", {}, "Case I.a: oracle activity",
            paper_point="Table III Case I.a"),
        Arm("perturbed_5", "attribute_aware", {}, "Case I.b: 5 % perturbed",
            paper_point="Table IV 5 %"),
        Arm("perturbed_15", "attribute_aware", {}, "Case I.b: 15 % perturbed",
            paper_point="Table IV 15 %"),
    ),
    findings=(
        Finding("oracle_beats_none", "oracle activity > none", "sdr", ("oracle", "none"),
                where={"source": "vocals"},
                paper="Table III: GNSDR 7.16 (Case I.a) vs the uninformed network (Case 0)"),
        Finding("perturbation_degrades", "separation degrades with perturbation", "sdr",
                ("oracle", "perturbed_5", "perturbed_15"), kind="trend_down",
                where={"source": "vocals"},
                paper="Table IV: GNSDR falls as the perturbation grows (2.5 → 15 %)"),
    ),
    notes="Case II (training on oracle or perturbed labels, inference with the pre-trained CNN "
          "detector) is scored by `avsep eval --activity-source detector`; see docs/results.md.",
)

"""Study declarations: every arm is a configuration its space accepts, every finding is sound."""

import optuna
import pytest

from avsep.platform.reproduce import arm_params, check_study, findings_table, judge
from avsep.search_spaces import get as get_space
from avsep.studies import STUDIES, get
from avsep.studies.base import Arm, Finding, Study


@pytest.mark.parametrize("key", list(STUDIES))
def test_every_arm_is_a_paper_point_of_its_space(key):
    study = get(key)
    check_study(study)  # raises when a paper point is missing or its parameters do not fit
    for arm in study.arms:
        assert arm.paper_point, f"{key}/{arm.key} is not tied to a row of the paper"
        sampled = get_space(arm.space)(optuna.trial.FixedTrial(arm_params(arm)))
        assert sampled["experiment"]["model"]["name"]


def test_a_finding_naming_an_unknown_arm_is_refused():
    arm = Arm("a", "av_singing", {})
    with pytest.raises(ValueError, match="unknown arm 'b'"):
        Study("p", "k", "t", (arm,), (Finding("f", "c", "sdr", ("a", "b")),))


def test_unknown_study_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid choices: li, slizovskaia"):
        get("nope")


def test_findings_are_judged_from_rows():
    import numpy as np
    import pandas as pd

    rows = []
    rng = np.random.default_rng(0)
    for seed in range(2):
        for item in range(6):
            base = rng.normal(0, 2)
            for arm, gain in (("a", 2.0), ("b", 0.0)):
                rows.append({"arm": arm, "seed": seed, "item": item, "source": "vocals",
                             "condition": "v+", "system": "model", "sdr": base + gain,
                             "pes": -20 - gain})
    frame = pd.DataFrame(rows)
    better = Finding("f", "a beats b", "sdr", ("a", "b"), where={"condition": "v+"})
    assert judge(better, frame).value == pytest.approx(2.0)
    raises_pes = Finding("g", "a lowers PES", "pes", ("a", "b"))
    assert judge(raises_pes, frame).value == pytest.approx(2.0)  # lower PES is better
    study = Study("p", "k", "t", (Arm("a", "av_singing", {}), Arm("b", "av_singing", {})),
                  (better,))
    table = findings_table(study, frame)
    assert table[0]["verdict"] == "holds" and table[0]["n"] == 12
    assert table[0]["ours_means"]["a"] - table[0]["ours_means"]["b"] == pytest.approx(2.0)


def test_case_two_arms_share_training_and_report_table_v():
    from avsep.platform.reproduce import paper_figures, training_key

    study = get("swaminathan")
    # Case II reuses the Case I models: same space and parameters, so one training each
    for case_one in ("oracle", "perturbed_5", "perturbed_15"):
        case_two = f"{case_one}_detector"
        assert training_key(study.arm(case_one)) == training_key(study.arm(case_two))
        assert study.arm(case_two).evaluation["detector"] == "vad_cnn"
    # the report shows Table V for the detector arms and Table IV for the perturbed ones
    assert paper_figures(study.arm("perturbed_15_detector"))["GNSDR"] == pytest.approx(6.72)
    assert paper_figures(study.arm("perturbed_15"))["GNSDR"] == pytest.approx(6.69)
    assert paper_figures(study.arm("oracle_detector"))["GNSDR"] == pytest.approx(6.99)
    assert "case II GNSDR" not in paper_figures(study.arm("perturbed_15"))
    assert study.stages[0] == ("vad_cnn",)


def test_a_detector_not_trained_in_an_earlier_stage_is_refused():
    separator = Arm("sep", "attribute_aware", {}, paper_point="Table III Case I.a",
                    evaluation={"activity_source": "detector", "detector": "det"})
    detector = Arm("det", "vad_cnn", {}, paper_point="Table I CNN vocal activity detection",
                   evaluation={"protocol": "vad"})
    same_stage = Study("p", "k", "t", (detector, separator), ())
    with pytest.raises(ValueError, match="must be trained in an earlier stage"):
        check_study(same_stage)
    check_study(Study("p", "k", "t", (detector, separator), (), stages=(("det",),)))
    unknown = Study("p", "k", "t", (separator,), ())
    with pytest.raises(KeyError, match="no arm 'det'"):
        check_study(unknown)

"""Study declarations: every arm is a configuration its space accepts, every finding is sound."""

import optuna
import pytest

from avsep.evaluation.verdicts import judge
from avsep.platform.reproduce import arm_params, check_study, findings_table
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
    for seed in range(3):
        for item in range(6):
            base = rng.normal(0, 2)
            for arm, gain in (("a", 2.0), ("b", 0.0)):
                rows.append({"arm": arm, "seed": seed, "item": item, "excerpt": f"song{item}",
                             "source": "vocals", "condition": "v+", "system": "model",
                             "sdr": base + gain, "pes": -20 - gain})
    frame = pd.DataFrame(rows)
    better = Finding("f", "a beats b", "sdr", ("a", "b"), where={"condition": "v+"})
    assert judge(better, frame).value == pytest.approx(2.0)
    raises_pes = Finding("g", "a lowers PES", "pes", ("a", "b"))
    assert judge(raises_pes, frame).value == pytest.approx(2.0)  # lower PES is better
    study = Study("p", "k", "t", (Arm("a", "av_singing", {}), Arm("b", "av_singing", {})),
                  (better,))
    table = findings_table(study, frame)
    assert table[0]["verdict"] == "holds"
    assert judge(better, frame).n_excerpts == 6 and judge(better, frame).n_seeds == 3
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


#: the paper's name of a metric in the paper points' ``reported`` figures
PAPER_NAMES = {"sdr": "SDR", "sir": "SIR", "pes_code": "PES", "nsdr": "GNSDR"}


@pytest.mark.parametrize("key", list(STUDIES))
def test_each_finding_quotes_the_row_its_arms_are(key):
    """Every figure the arms' paper rows report for a finding's metric (at the arm's Wiener
    count where the row has one) is the figure the finding quotes."""
    from avsep.platform.reproduce import paper_figures

    study = get(key)
    checked = 0
    for finding in study.findings:
        name = PAPER_NAMES.get(finding.metric)
        if finding.kind != "better" or name is None:
            continue
        for arm in (study.arm(k) for k in finding.arms):
            value = paper_figures(arm).get(name)  # at the arm's Wiener count
            if value is None:
                continue
            assert f"{abs(value):g}" in finding.paper, (finding.id, arm.key, value)
            checked += 1
    assert checked or key == "li"  # Li et al. report box plots, no table figures


def test_findings_use_the_papers_metric_statistic_and_test():
    assert {f.metric for f in get("solos").findings} == {"sdr"}
    sliz = {f.id: f for f in get("slizovskaia").findings}
    assert sliz["label_multiply_pes"].metric == sliz["wiener_pes"].metric == "pes_code"
    assert get("slizovskaia").arm("plain_w0").paper_point == "Table II exp 1"
    from avsep.platform.reproduce import paper_figures  # exp 1's W = 0 row, not its W = 2 one

    assert paper_figures(get("slizovskaia").arm("plain_w0"))["PES"] == -8.1
    assert paper_figures(get("slizovskaia").arm("plain_w2"))["PES"] == -25.4
    assert get("solos").arm("mhunet").paper_point == "Table II MHU-Net"
    assert get("solos").arm("mhunet").evaluation["wiener"] == 0
    for finding in get("li").findings:
        assert (finding.statistic, finding.test) == ("median", "wilcoxon")
    swaminathan = [f for f in get("swaminathan").findings if f.kind == "better"]
    assert {(f.metric, f.test) for f in swaminathan} == {("nsdr", "paired_t")}
    kadandale = get("kadandale")
    sync = kadandale.arm("vocalist").evaluation
    assert max(sync["contexts"]) == 25 and 5 in sync["tolerance"]
    findings = {f.id: f for f in kadandale.findings}
    assert findings["sync_context"].metric == "acc_tol5"
    assert findings["pretrained_beats_e2e"].where["condition"] == "v+"  # two lead voices


def test_paper_preset_is_the_papers_training_protocol():
    from avsep.config import validate

    li, sliz, swam = get("li"), get("slizovskaia"), get("swaminathan")
    assert li.scale("paper") == {"epochs": 50, "seeds": 3, "batch_size": 8}
    assert li.train_section("av", "paper") == {"patience": 10}
    assert li.train_section("av", "tiny") == {}
    assert sliz.train_section("baseline", "paper")["lr_schedule"] == "plateau_half"
    # 25k iterations without gain = 250 epochs of 3200 mixtures at batch 32
    scale = sliz.scale("paper")
    iterations = sliz.train_section("baseline", "paper")["lr_patience"] * \
        scale["train_length"] / scale["batch_size"]
    assert iterations == 25_000 and sliz.train_layouts == ("solos",)
    assert swam.train_section("vad_cnn", "paper") == {"patience": 1, "optimizer": "adadelta",
                                                      "lr": 1.0}
    assert swam.train_section("oracle", "paper") == {"patience": 1}
    assert swam.prepare_flags("mir1k") == ["--split-policy", "paper"]
    assert swam.prepare_flags("avsep_synth") == []
    assert get("solos").train_section("mhunet", "paper")["weight_decay"] == 1e-5
    for study in STUDIES.values():  # every section is a valid train config at both presets
        for arm in study.arms:
            for preset in ("tiny", "paper"):
                validate({"model": {"name": "mmdensenet"},
                          "train": study.train_section(arm, preset)})
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        li.scale("huge")


def test_a_protocol_key_that_is_not_a_setting_is_refused():
    arm = Arm("a", "av_singing", {})
    with pytest.raises(ValueError, match="paper_scale keys \\['epoch'\\]"):
        Study("p", "k", "t", (arm,), (), paper_scale=(("epoch", 3),))
    with pytest.raises(ValueError, match="arm b: paper_train keys \\['momentum'\\]"):
        Study("p", "k", "t", (arm, Arm("b", "av_singing", {}, paper_train={"momentum": 0.9})),
              ())
    with pytest.raises(ValueError, match="statistic must be 'mean' or 'median'"):
        Finding("f", "c", "sdr", ("a", "b"), statistic="mode")

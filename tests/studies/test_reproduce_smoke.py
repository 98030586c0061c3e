"""`avsep reproduce`, one tiny smoke case per paper (the full runs carry the `reproduce` marker).

Each case trains every arm of the paper's study for one epoch on a handful of mixtures, with one
seed, scores one test item per arm and writes the report (Li et al.'s case is the cluster's,
tests/cluster/test_reproduce_cluster.py). Asserted: every arm was trained and scored, every
finding has a row with the paper's claim, our statistic and a verdict, and the report names the
paper's own figures. Nothing here says a finding holds: at this scale it
cannot; that is what the `reproduce`-marked runs and docs/results.md are for.
"""

from __future__ import annotations

import dataclasses

import pytest

from avsep.studies import STUDIES
from tests.studies.report_checks import assert_report_complete


@pytest.fixture(scope="module")
def corpus(synth_corpus):
    return synth_corpus


def _options(paper, corpus, tmp_path, **extra):
    from avsep.platform.reproduce import ReproduceOptions

    study = STUDIES[paper]
    return ReproduceOptions(paper=paper, out=tmp_path / paper, epochs=1, seeds=1,
                            layout=study.layout, root=corpus / study.corpus, train_length=8,
                            val_length=4, test_items=1,
                            mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", **extra)


def _smoke_study(paper):
    """``paper``'s study with its lip-sync scoring cut to the shortest and longest context and 2
    clips a singer: 3 s of scoring instead of the paper's 8 contexts x 8 clips x 31 offsets,
    12 s (one thread, session 10; about 4 minutes before each window was encoded once); the
    protocol itself is tested in tests/platform/test_evaluate_sync.py."""
    study = STUDIES[paper]
    arms = []
    for arm in study.arms:
        if arm.evaluation.get("protocol") == "sync":
            contexts = arm.evaluation["contexts"]
            arm = dataclasses.replace(arm, evaluation={
                **arm.evaluation, "contexts": (min(contexts), max(contexts)),
                "clips_per_singer": 2})
        arms.append(arm)
    return dataclasses.replace(study, arms=tuple(arms))


@pytest.fixture(scope="module")
def reproduced(corpus, tmp_path_factory):
    """``reproduced(paper)``: the smoke run of ``paper``, run once per module."""
    from avsep.platform.reproduce import run

    results = {}

    def run_paper(paper):
        if paper not in results:
            tmp = tmp_path_factory.mktemp(f"reproduce-{paper}")
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("AVSEP_HOME", str(tmp / "home"))
                results[paper] = run(_smoke_study(paper), _options(paper, corpus, tmp))
        return results[paper]

    return run_paper


#: Li et al.'s smoke run is the cluster's (tests/cluster/test_reproduce_cluster.py): the same
#: command on the local cluster, 2 seeds, killed and resumed, its report checked the same way
SMOKE_PAPERS = [paper for paper in STUDIES if paper != "li"]


@pytest.mark.slow
@pytest.mark.parametrize("paper", SMOKE_PAPERS)
def test_reproduce_smoke(paper, reproduced):
    result = reproduced(paper)
    assert_report_complete(paper, result.report.parent)
    assert set(result.rows["arm"]) == {a.key for a in STUDIES[paper].arms}


@pytest.mark.slow
def test_reproduce_case_two_infers_with_the_trained_detector(reproduced):
    """Swaminathan's Case II: the Case I models, scored with the stage-0 detector's activity."""
    rows = reproduced("swaminathan").rows
    model = rows[rows["system"] == "model"]

    def vocals(arm):
        return model[(model["arm"] == arm) & (model["source"] == "vocals")]

    for case_one in ("oracle", "perturbed_5", "perturbed_15"):
        one, two = vocals(case_one), vocals(f"{case_one}_detector")
        assert set(one["run_id"]) == set(two["run_id"])  # trained once, scored twice
        assert len(one) == len(two) == 1
        # the detector's soft P(vocal) is not the activity the Case I arm infers with
        assert abs(float(one["sdr"].iloc[0]) - float(two["sdr"].iloc[0])) > 1e-6
    detector = model[model["arm"] == "vad_cnn"]
    frames = detector[["tn", "fp", "fn", "tp"]].sum(axis=1)
    assert len(detector) == 1 and int(frames.iloc[0]) > 100
    assert 0.0 <= float(detector["accuracy"].iloc[0]) <= 1.0
    assert "CNN vocal-activity detector" in reproduced("swaminathan").report.read_text()


@pytest.mark.reproduce
@pytest.mark.parametrize("paper", list(STUDIES))
def test_reproduce_full(paper, tmp_path, monkeypatch):
    """The full study at the paper's tiny scale (what docs/results.md ran): <= 30 min a paper
    on 2 quiet cores."""
    from avsep.platform.reproduce import ReproduceOptions, run

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    scale = dict(STUDIES[paper].tiny_scale)
    overrides = {k: scale.pop(k) for k in ("lr", "batch_size") if k in scale}
    options = ReproduceOptions(paper=paper, out=tmp_path / paper, train_overrides=overrides,
                               mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", **scale)
    result = run(STUDIES[paper], options)
    assert len(result.findings) == len(STUDIES[paper].findings)
    assert all(f["n"] > 0 for f in result.findings), result.findings

"""`avsep reproduce --lr/--batch-size`: every arm trains with the override over its paper
point's value, and the trained runs are still matched back to their arms."""

from __future__ import annotations

from types import SimpleNamespace

from avsep.platform.reproduce import ReproduceOptions, _trained_runs, arm_params, training_key
from avsep.studies import STUDIES


def test_overrides_replace_the_paper_points_values_and_runs_still_match(tmp_path):
    study = STUDIES["slizovskaia"]
    arms = [study.arm("plain_w0"), study.arm("label_multiply")]
    assert {arm_params(a)["lr"] for a in arms} == {1e-5}  # the paper's rate
    options = ReproduceOptions(paper="slizovskaia", out=tmp_path,
                               train_overrides={"lr": 1e-3, "batch_size": 8})
    # what a finished trial reports: its config is the point it trained (overrides applied)
    results = [SimpleNamespace(config={**arm_params(a), **options.train_overrides},
                               metrics={"mlflow_run_id": f"run{i}"}, error=None)
               for i, a in enumerate(arms)]
    found = _trained_runs(results, arms, options)
    assert found == {training_key(arms[0]): "run0", training_key(arms[1]): "run1"}
    # a trial that kept the paper's lr is not taken for an overridden arm
    stale = [SimpleNamespace(config=arm_params(arms[0]), metrics={"mlflow_run_id": "old"},
                             error=None)]
    assert _trained_runs(stale, arms, options) == {}


def test_the_command_defaults_to_the_papers_tiny_scale_and_flags_win():
    """`avsep reproduce slizovskaia` alone runs what docs/results.md ran; a flag overrides one
    setting; at --preset paper the generic scale and the paper points' own lr apply."""
    import argparse

    from avsep.commands.reproduce import add_arguments, resolve_scale

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    study = STUDIES["slizovskaia"]
    plain = resolve_scale(parser.parse_args(["slizovskaia"]), study)
    assert plain == dict(study.tiny_scale) | {"train_length": 256}
    assert plain["lr"] == 1e-3 and plain["minutes"] == 20.0
    flagged = resolve_scale(parser.parse_args(["slizovskaia", "--epochs", "5"]), study)
    assert flagged == plain | {"epochs": 5}
    paper = resolve_scale(parser.parse_args(["slizovskaia", "--preset", "paper"]), study)
    assert paper == {"epochs": 3, "seeds": 2, "minutes": 4.0, "train_length": 256}
    for key in STUDIES:  # every paper declares the scale its results.md run used
        assert {"epochs", "seeds", "minutes"} <= set(dict(STUDIES[key].tiny_scale))

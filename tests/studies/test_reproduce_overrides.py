"""`avsep reproduce --lr/--batch-size`: every arm trains with the override over its paper
point's value, and each trial names the arms it trains."""

from __future__ import annotations

from avsep.platform.reproduce import ReproduceOptions, arm_params, training_key
from avsep.platform.reproduce_trials import stage_points
from avsep.studies import STUDIES


def test_overrides_replace_the_paper_points_values_in_every_trial(tmp_path):
    study = STUDIES["slizovskaia"]
    arms = [study.arm("plain_w0"), study.arm("label_multiply")]
    assert {arm_params(a)["lr"] for a in arms} == {1e-5}  # the paper's rate
    options = ReproduceOptions(paper="slizovskaia", out=tmp_path, seeds=2,
                               train_overrides={"lr": 1e-3, "batch_size": 8})
    points = stage_points(study, 0, arms, options)
    assert [(p.arms, p.seed) for p in points] == [(("plain_w0",), 0), (("label_multiply",), 0),
                                                  (("plain_w0",), 1), (("label_multiply",), 1)]
    for point in points:
        arm = study.arm(point.arms[0])
        assert point.key == training_key(arm)
        assert point.params == {**arm_params(arm), "lr": 1e-3, "batch_size": 8}


def test_the_command_defaults_to_the_papers_tiny_scale_and_flags_win():
    """`avsep reproduce slizovskaia` alone runs what docs/results.md ran; a flag overrides one
    setting; at --preset paper the paper's own scale (1000 epochs, batch 32) and the paper
    points' own lr apply."""
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
    assert paper == {"epochs": 1000, "seeds": 3, "minutes": 4.0, "train_length": 3200,
                     "batch_size": 32}
    for key in STUDIES:  # every paper declares the scale its results.md run used
        assert {"epochs", "seeds", "minutes"} <= set(dict(STUDIES[key].tiny_scale))


def test_paper_preset_trials_train_with_the_papers_protocol(tmp_path):
    """At --preset paper each trial's experiment carries its arm's training protocol (the
    detector's Adadelta, early stopping at the first validation loss rise); at tiny none; a
    --lr flag wins over the protocol's rate."""
    from avsep.config import validate
    from avsep.platform.reproduce_trials import point_experiment

    study = STUDIES["swaminathan"]
    detector, separator = study.arm("vad_cnn"), study.arm("oracle")

    def train(arm, preset, **overrides):
        options = ReproduceOptions(paper="swaminathan", out=tmp_path, preset=preset, seeds=1,
                                   train_overrides=overrides)
        (point,) = stage_points(study, 0, [arm], options)
        return validate(point_experiment(point, {})).train

    paper = train(detector, "paper")
    assert (paper.optimizer, paper.lr, paper.patience) == ("adadelta", 1.0, 1)
    assert train(separator, "paper").optimizer == "adam"
    assert train(separator, "paper").patience == 1
    tiny = train(detector, "tiny")
    assert (tiny.optimizer, tiny.lr, tiny.patience) == ("adam", 1e-2, 10)
    assert train(detector, "paper", lr=0.02).lr == 0.02
    halving = STUDIES["slizovskaia"]
    options = ReproduceOptions(paper="slizovskaia", out=tmp_path, preset="paper", seeds=1)
    (point,) = stage_points(halving, 0, [halving.arm("baseline")], options)
    config = validate(point_experiment(point, {})).train
    assert (config.lr, config.lr_schedule, config.lr_patience) == (1e-5, "plateau_half", 250)

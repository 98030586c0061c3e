"""The searcher and scheduler built from the search options (no Ray cluster needed).

The searcher is driven by hand through Tune's searcher interface (``suggest``,
``on_trial_result``, ``on_trial_complete``) against a real sqlite Optuna storage, as Tune drives
it, to show that Optuna records each trial's *best* epoch, not its last.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna
import pytest

from avsep.commands.tune import add_arguments
from avsep.platform.objectives import parse
from avsep.platform.searcher import (
    BestEpochOptunaSearch,
    SearcherOptionsError,
    build,
    check,
    make_sampler,
    startup_trials,
)
from avsep.search_spaces import EXPERIMENT_KEY, get


def _build(tmp_path, objective="val/sdr", **options):
    space = get("av_singing")
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    return build(space.function, parse(objective), [], "study", storage, **options), storage


@pytest.mark.parametrize(("samples", "expected"), [(1, 2), (8, 2), (16, 4), (40, 10), (400, 10)])
def test_startup_trials_scale_with_the_budget(samples, expected):
    assert startup_trials(samples) == expected


def test_tpe_is_multivariate_grouped_with_a_constant_liar():
    sampler = make_sampler("tpe", seed=3, num_samples=16)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert (sampler._multivariate, sampler._group, sampler._constant_liar) == (True, True, True)
    assert sampler._n_startup_trials == 4
    assert isinstance(make_sampler("random", seed=3, num_samples=16),
                      optuna.samplers.RandomSampler)


@pytest.mark.parametrize(("args", "message"), [
    (("bohb", 1, 2, None, 4), "TuneBOHB needs a fixed ConfigSpace"),
    (("grid", 1, 2, None, 4), "--sampler 'grid': expected tpe or random"),
    (("tpe", 0, 2, None, 4), "--grace-period 0: expected >= 1"),
    (("tpe", 1, 1, None, 4), "--reduction-factor 1: expected >= 2"),
    (("tpe", 1, 2, 0.0, 4), "--time-budget 0.0: expected a number of seconds > 0"),
])
def test_bad_searcher_options_name_the_flag(args, message):
    with pytest.raises(SearcherOptionsError, match=message):
        check(*args)


def test_build_sets_scheduler_and_time_budget(tmp_path):
    search, _ = _build(tmp_path, sampler="random", num_samples=8, max_epochs=3,
                       grace_period=5, reduction_factor=3, time_budget=60.0)
    assert isinstance(search.search_alg, BestEpochOptunaSearch)
    assert search.scheduler._max_t == 3
    assert search.scheduler._reduction_factor == 3
    assert search.scheduler._brackets[0]._rungs[-1][0] == 3  # grace period capped at max_t
    assert search.time_budget_s == 60.0
    config = search.search_alg.suggest("t0")
    assert EXPERIMENT_KEY in config and config[EXPERIMENT_KEY]["model"]["name"]


def _trial(searcher, trial_id, history):
    searcher.suggest(trial_id)
    for epoch, metrics in enumerate(history, start=1):
        searcher.on_trial_result(trial_id, {"training_iteration": epoch, **metrics})
    searcher.on_trial_complete(trial_id, {"training_iteration": len(history), **history[-1]})


def test_optuna_is_told_the_best_epoch_not_the_last(tmp_path):
    search, storage = _build(tmp_path, sampler="random")
    _trial(search.search_alg, "a", [{"val/sdr": 2.0}, {"val/sdr": 5.5}, {"val/sdr": 3.0}])
    _trial(search.search_alg, "b", [{"val/sdr": 1.0}, {"val/sdr": 4.0}])
    study = optuna.load_study(study_name="study", storage=storage)
    assert [t.value for t in study.trials] == [5.5, 4.0]
    assert study.best_value == 5.5


def test_minimised_objective_keeps_its_lowest_epoch(tmp_path):
    search, storage = _build(tmp_path, objective="val/loss", sampler="random")
    _trial(search.search_alg, "a", [{"val/loss": 0.9}, {"val/loss": 0.4}, {"val/loss": 0.7}])
    study = optuna.load_study(study_name="study", storage=storage)
    assert study.trials[0].value == 0.4


def test_several_objectives_take_the_primary_objectives_best_epoch(tmp_path):
    search, storage = _build(tmp_path, objective="val/sdr,model/latency_ms", sampler="random")
    _trial(search.search_alg, "a", [{"val/sdr": 2.0, "model/latency_ms": 10.0},
                                    {"val/sdr": 6.0, "model/latency_ms": 12.0},
                                    {"val/sdr": 1.0, "model/latency_ms": 8.0}])
    study = optuna.load_study(study_name="study", storage=storage)
    assert study.trials[0].values == [6.0, 12.0]


def test_a_trial_that_never_scored_is_pruned(tmp_path):
    search, storage = _build(tmp_path, sampler="random")
    search.search_alg.suggest("a")
    search.search_alg.on_trial_complete("a", None, error=True)
    study = optuna.load_study(study_name="study", storage=storage)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL


def test_tune_flags_reach_the_options():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--space", "av_singing", "--sampler", "random", "--grace-period",
                              "2", "--reduction-factor", "3", "--time-budget", "90",
                              "--finalists", "5"])
    assert (args.sampler, args.grace_period, args.reduction_factor, args.time_budget,
            args.finalists) == ("random", 2, 3, 90.0, 5)
    with pytest.raises(SystemExit):
        parser.parse_args(["--space", "av_singing", "--sampler", "grid"])


def _plan(tmp_path, preset: str, paper_points="all", space: str = "conditioned_unet"):
    from avsep.platform.search_plan import Plan, SearchOptions

    return Plan(options=SearchOptions(space=space, paper_points=paper_points), space=get(space),
                base={"model": {"preset": preset}}, objectives=parse("val/sdr"),
                storage=str(tmp_path), name="s", mlflow_uri="sqlite:///unused.db",
                artifact_root=None, register_as="avsep-s")


def test_paper_points_reach_optuna_at_the_tiny_presets_lr(tmp_path):
    plan = _plan(tmp_path, "tiny", 2)
    points = plan.paper_points()
    # Table II exp. 1 and 2, their design choices kept, at the tiny lr and batch size
    assert [(p["frequency_scale"], p["curriculum"]) for p in points] == [("log", False),
                                                                         ("log", True)]
    assert {(p["lr"], p["batch_size"]) for p in points} == {(1e-3, 8)}
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    search = build(plan.space.function, plan.objectives, points, "study", storage,
                   sampler="random", seed=3)
    configs = [search.search_alg.suggest(str(i)) for i in range(3)]
    assert [(c["lr"], c["batch_size"]) for c in configs[:2]] == [(1e-3, 8), (1e-3, 8)]
    assert [c[EXPERIMENT_KEY]["train"]["lr"] for c in configs[:2]] == [1e-3, 1e-3]
    assert configs[2]["lr"] != 1e-3  # the sampler takes over after the enqueued points
    # the paper preset keeps the papers' values (1e-5, the Solos MHU-Net row 1e-4; batch 32);
    # none enqueues nothing
    paper = _plan(tmp_path, "paper").paper_points()
    assert [(p["lr"], p["batch_size"]) for p in paper] == [(1e-5, 32)] * 18 + [(1e-4, 32)]
    assert _plan(tmp_path, "tiny", "none").paper_points() == []
    assert len(_plan(tmp_path, "tiny", "all").paper_points()) == 19


def test_bad_paper_points_name_the_choices(tmp_path):
    from avsep.platform.search_plan import SearchSetupError

    with pytest.raises(SearchSetupError, match=r"--paper-points 'some': expected all, none or "
                                               r"a count N \(the first N paper points\)"):
        _plan(tmp_path, "tiny", "some").paper_points()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["--space", "zoo"]).paper_points == "all"
    assert parser.parse_args(["--space", "zoo", "--paper-points", "3"]).paper_points == 3
    assert parser.parse_args(["--space", "zoo", "--paper-points", "none"]).paper_points == "none"
    with pytest.raises(SystemExit):
        parser.parse_args(["--space", "zoo", "--paper-points", "-1"])


def test_tune_prints_the_training_runs_link_and_an_installed_dashboard(tmp_path):
    import dataclasses

    import mlflow

    from avsep.platform.search_results import paper_points_line, tool_lines

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = mlflow.MlflowClient(uri).create_experiment("s")
    plan = dataclasses.replace(_plan(tmp_path, "tiny", 2), mlflow_uri=uri,
                               optuna_storage=f"sqlite:///{tmp_path / 'optuna.db'}",
                               optuna_study="s")
    ui, dashboard = tool_lines(plan)
    assert ui.endswith(f"then open http://127.0.0.1:5000/#/experiments/{experiment}/runs"
                       "?workflowType=machine_learning (the study's training runs)")
    for line in (ui, dashboard):  # both commands name executables of avsep's environment
        command = line.split(": ", 1)[1].split()[0]
        assert Path(command).is_file(), command
    assert f"optuna-dashboard sqlite:///{tmp_path / 'optuna.db'}" in dashboard
    assert paper_points_line(plan).startswith("paper points: 2 of 19 evaluated first, with "
                                              "their design choices at the tiny preset's lr "
                                              "0.001, batch_size 8")
    none = dataclasses.replace(plan, options=dataclasses.replace(plan.options,
                                                                 paper_points="none"))
    assert paper_points_line(none).startswith("paper points: none of the space's 19 enqueued")

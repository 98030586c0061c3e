"""`avsep reproduce` as trials: the grid of a stage (arm × seed), the experiment each trial
trains, the dry run's cost from planted benchmark figures, and the command's flag checks."""

from __future__ import annotations

import argparse
import json

import pytest

from avsep.platform.reproduce import ReproduceOptions
from avsep.platform.reproduce_cost import cpu_minutes, describe, gpu_hours, trials
from avsep.platform.reproduce_trials import point_experiment, stage_points, study_stages
from avsep.studies import STUDIES


def test_swaminathan_stages_and_shared_trainings(tmp_path):
    """Case II arms share the Case I trainings: stage 1 has 4 trainings per seed, not 7."""
    study = STUDIES["swaminathan"]
    options = ReproduceOptions(paper="swaminathan", out=tmp_path, seeds=3)
    stages = study_stages(study)
    assert stages[0] == ("vad_cnn",) and len(stages) == 2 and "vad_cnn" not in stages[1]
    points = trials(study, options)
    assert [p.stage for p in points] == [0] * 3 + [1] * 12
    assert {p.seed for p in points} == {0, 1, 2}
    oracle = [p for p in points if "oracle" in p.arms]
    assert [p.arms for p in oracle] == [("oracle", "oracle_detector")] * 3
    assert {p.model for p in points} == {"vad_cnn", "attr_dnn"}


def test_trial_experiment_carries_its_seed_and_its_seeds_upstream_model(tmp_path):
    study = STUDIES["kadandale"]
    options = ReproduceOptions(paper="kadandale", out=tmp_path, seeds=2)
    arms = [study.arm(k) for k in study_stages(study)[1]]
    points = {(p.arms, p.seed): p for p in stage_points(study, 1, arms, options)}
    point = points[(("ynet_pt",), 1)]
    experiment = point_experiment(point, {"model": {"vocalist_checkpoint": "/up/seed1"}})
    assert experiment["train"]["seed"] == 1
    assert experiment["model"]["vocalist_checkpoint"] == "/up/seed1"
    assert experiment["model"]["name"] == "ynet"


def _plant(folder, cuda_rates, tiny):
    folder.mkdir()
    results = {m: {"cpu": {"fp32": {"samples_per_s": 1.0}},
                   **({"cuda": {"bf16": {"samples_per_s": r}}} if r else {})}
               for m, r in cuda_rates.items()}
    (folder / "model_throughput.json").write_text(json.dumps(
        {"benchmark": "model_throughput", "figures": {"results": results}}))
    for n, (when, models) in enumerate(tiny):
        (folder / f"tiny_presets_{n}.json").write_text(json.dumps(
            {"when": when, "figures": {"models": {
                m: {"train_cpu_s": cpu, "items_seen": items} for m, (cpu, items) in
                models.items()}}}))
    return folder


def test_dry_run_cost_from_planted_figures(tmp_path):
    study = STUDIES["li"]  # 3 arms: mmdensenet, av_mmdensenet x2
    options = ReproduceOptions(paper="li", out=tmp_path, seeds=2, epochs=3, train_length=100,
                               val_length=20)
    points = trials(study, options)
    assert len(points) == 6
    folder = _plant(tmp_path / "results", {"mmdensenet": 10.0, "av_mmdensenet": 5.0},
                    [("2026-01-01", {"mmdensenet": (100.0, 1000)}),
                     ("2026-02-01", {"mmdensenet": (30.0, 1000), "av_mmdensenet": (60, 1000)})])
    gpu = gpu_hours(points, options, folder)
    # 3 x 120 mixtures a trial: 2 trials at 10/s, 4 at 5/s
    assert gpu.value == pytest.approx((2 * 360 / 10 + 4 * 360 / 5) / 3600)
    cpu = cpu_minutes(points, options, folder)
    # newest measurement wins: 0.03 and 0.06 CPU-s a mixture, 300 training mixtures a trial
    assert cpu.value == pytest.approx((2 * 300 * 0.03 + 4 * 300 * 0.06) / 60)
    text = describe(study, options, folder)
    assert "6 trial(s)" in text and "av_nomask·seed1" in text and "GPU-hours: 0.1 —" in text


def test_dry_run_says_which_benchmark_to_run_without_gpu_figures(tmp_path):
    study = STUDIES["li"]
    options = ReproduceOptions(paper="li", out=tmp_path, seeds=1, preset="paper")
    folder = _plant(tmp_path / "results", {"mmdensenet": 10.0, "av_mmdensenet": None}, [])
    gpu = gpu_hours(trials(study, options), options, folder)
    assert gpu.value is None
    assert "av_mmdensenet" in gpu.note and "model_throughput.py --devices cuda" in gpu.note
    cpu = cpu_minutes(trials(study, options), options, folder)
    assert cpu.value is None and "--preset paper" in cpu.note


def _command(*argv):
    from avsep.commands.reproduce import add_arguments, run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


@pytest.mark.parametrize(("argv", "message"), [
    (["--train-layout", "solos"], "give both --train-layout and --train-root"),
    (["--train-layout", "solos", "--train-root", "/x"], "give the test copy as --layout/--root"),
    (["--max-concurrent", "0"], "--max-concurrent must be >= 1"),
    (["--workers-per-trial", "0"], "--workers-per-trial must be >= 1"),
    (["--val-length", "0"], "--val-length must be >= 1"),
])
def test_bad_flags_are_refused_before_anything_runs(argv, message, tmp_path, capsys):
    assert _command("solos", "--out", str(tmp_path), *argv) == 2
    assert message in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("command", "required"), [("reproduce", ["li"]),
                                                   ("tune", ["--space", "av_singing"])])
@pytest.mark.parametrize("value", ["0", "-5", "nan", "soon"])
def test_a_tracking_outage_limit_that_is_not_seconds_is_refused_by_the_parser(
        command, required, value, capsys):
    import importlib

    parser = argparse.ArgumentParser()
    importlib.import_module(f"avsep.commands.{command}").add_arguments(parser)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([*required, "--tracking-outage-limit", value])
    assert exit_.value.code == 2
    assert (f"argument --tracking-outage-limit: {value}: expected seconds > 0"
            in capsys.readouterr().err)
    args = parser.parse_args([*required, "--tracking-outage-limit", "2.5"])
    assert args.tracking_outage_limit == 2.5


def test_dry_run_prints_the_trials_and_trains_nothing(tmp_path, capsys):
    assert _command("swaminathan", "--out", str(tmp_path / "out"), "--seeds", "2",
                    "--epochs", "4", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "10 trial(s) in 2 stage(s), 4 epoch(s)" in out
    assert "stage 1  perturbed_15+perturbed_15_detector·seed1" in out
    assert "GPU-hours:" in out and "CPU-minutes:" in out
    assert not (tmp_path / "out").exists()


def test_resume_marks_runs_of_restarted_trials_killed(tmp_path):
    """A trial killed before its first checkpoint starts again as a new run; the run the killed
    driver left RUNNING is marked KILLED, runs the resumed trials carry on are left alone."""
    from types import SimpleNamespace

    import mlflow

    from avsep.platform.reproduce_trials import close_orphans
    from avsep.tracking.store import experiment_id

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = experiment_id(uri, "reproduce-li-stage0")
    carried, orphan, study = (client.create_run(experiment, tags=tags).info.run_id for tags in
                              ({"reproduce_seed": "0"}, {"reproduce_seed": "1"},
                               {"kind": "study"}))
    plan = SimpleNamespace(mlflow_uri=uri, name="reproduce-li-stage0", artifact_root=None,
                           options=SimpleNamespace(tracking_outage_limit=600.0))
    results = [SimpleNamespace(metrics={"mlflow_run_id": carried})]
    assert close_orphans(plan, results) == [orphan]
    status = {r: client.get_run(r).info.status for r in (carried, orphan, study)}
    assert status == {carried: "RUNNING", orphan: "KILLED", study: "RUNNING"}


def test_points_a_restored_stage_never_ran_are_named(tmp_path):
    """A stage whose restored search ran 2 of its 6 points (arm x seed) names the other 4; a
    point whose trial errored still counts as run."""
    from types import SimpleNamespace

    from avsep.platform.reproduce_trials import POINT_KEY, missing_points

    study = STUDIES["li"]
    options = ReproduceOptions(paper="li", out=tmp_path, seeds=2)
    arms = [study.arm(k) for k in study_stages(study)[0]]
    points = stage_points(study, 0, arms, options)
    assert len(points) == 6

    def result(point, error=None):
        return SimpleNamespace(config={POINT_KEY: {"seed": point.seed, "key": point.key}},
                               error=error)

    ran = [result(points[0]), result(points[3], error=RuntimeError("trial failed"))]
    assert missing_points(points, ran) == [p.label for p in points[1:3] + points[4:]]
    assert missing_points(points, [result(p) for p in points]) == []
    assert len(missing_points(points, [])) == 6

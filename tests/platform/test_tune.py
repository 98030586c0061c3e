"""The search driver on a real local Ray and a real sqlite MLflow store.

Fast: every bad input fails in :func:`prepare`, before Ray starts or any trial runs.
Slow (``-m slow``): a 4-trial search end to end (one trial crashes through the test's own
trainable and the search goes on; nested MLflow runs with params, curves and artifacts; the
champion guard; the report and Pareto front; the Optuna study in its sqlite storage), a second
search warm-started from the first one's study, and resume after the driver is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from avsep.config import ConfigError
from avsep.platform.data import DataPathError
from avsep.platform.tune import SearchOptions, SearchSetupError, prepare, run_trial
from avsep.tracking.store import TrackingError
from tests.platform.conftest import write_tiny_cache
from tests.tune_state import (
    assert_not_trained_again,
    assert_went_on,
    finished,
    killed_now,
    result_rows,
    saved_trials,
)

ROOT = Path(__file__).resolve().parents[2]


def _options(tmp_path: Path, cache: Path, **changes) -> SearchOptions:
    config = tmp_path / "base.yaml"
    config.write_text("data: {train_length: 8, val_length: 4}\neval: {examples: 1}\n")
    values = {"space": "av_singing", "data": str(cache), "num_samples": 4, "max_epochs": 2,
              "storage": str(tmp_path / "results"), "config": str(config), "check_samples": 4,
              "mlflow_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "max_concurrent": 2}
    return SearchOptions(**{**values, **changes})


# ----------------------------------------------------------------- bad inputs, before trials
@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"space": "nope"}, ValueError, "unknown search space 'nope'; valid choices"),
    ({"data": "/does/not/exist"}, DataPathError, "data folder not found"),
    ({"mlflow_uri": "http://127.0.0.1:9"}, TrackingError, "MLflow server unreachable"),
    ({"mlflow_uri": "./mlruns"}, TrackingError, "unsupported MLflow tracking URI"),
    ({"objective": "val/accuracy"}, ValueError, "unknown objective"),
    ({"num_samples": 0}, SearchSetupError, "must be >= 1"),
    ({"tracking_outage_limit": 0}, SearchSetupError, "--tracking-outage-limit 0: expected"),
])
def test_bad_inputs_fail_before_any_trial(tmp_path, tiny_cache, changes, error, message):
    import ray

    # a session-scoped Ray an earlier group left on this worker (tests/e2e's, when the test
    # command's scheduler runs this module right after it) is not this call's doing
    ray.shutdown()
    with pytest.raises(error, match=message):
        prepare(_options(tmp_path, tiny_cache, **changes))
    assert not ray.is_initialized()
    assert not (tmp_path / "results" / "av_singing").exists()


def test_bad_config_file_and_unbuildable_space_configs(tmp_path, tiny_cache):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {lr: -3}\n")
    with pytest.raises(ConfigError, match=r"train.lr: Input should be greater than 0"):
        prepare(_options(tmp_path, tiny_cache, config=str(bad)))
    typo = tmp_path / "typo.yaml"
    typo.write_text("model: {compresion: 0.5}\n")  # not an option of the zoo's models
    with pytest.raises(SearchSetupError, match="does not build: .*unknown option"):
        prepare(_options(tmp_path, tiny_cache, config=str(typo)))


def test_data_that_fits_no_model_is_refused(tmp_path, tiny_cache):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataPathError, match="no index.json here or in its subfolders"):
        prepare(_options(tmp_path, empty))
    from avsep.data.datasets.synthetic_cache import make_demo_cache

    wrong = make_demo_cache(tmp_path / "wrong", sample_rate=8000, seconds=2.0,
                            singers={"train": 1, "val": 1}, instruments=("violin",))
    with pytest.raises(DataPathError, match="sample rate 8000 Hz, model needs"):
        prepare(_options(tmp_path, wrong))


def test_folder_of_caches_is_accepted(tmp_path, tiny_cache):
    import shutil

    shutil.copytree(tiny_cache, tmp_path / "caches" / "singing")
    plan = prepare(_options(tmp_path, tmp_path / "caches"))
    assert plan.base["data"]["cache"] == str(tmp_path / "caches")
    assert plan.base["model"]["preset"] == "tiny" and plan.base["train"]["epochs"] == 2
    assert plan.mlflow_uri.endswith("mlflow.db") and plan.register_as == "avsep-av_singing"


def test_mlflow_tracking_uri_from_the_environment(tmp_path, tiny_cache, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'env' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    plan = prepare(_options(tmp_path, tiny_cache, check_samples=0, mlflow_uri=None))
    assert plan.mlflow_uri == uri and (tmp_path / "env" / "mlflow.db").is_file()
    # the Optuna study is stored beside the MLflow store; a second search gets its own study
    assert plan.optuna_storage == f"sqlite:///{tmp_path / 'env' / 'optuna.db'}"
    import optuna

    optuna.create_study(storage=plan.optuna_storage, study_name=plan.optuna_study)
    again = prepare(_options(tmp_path, tiny_cache, check_samples=0, mlflow_uri=None))
    assert (plan.optuna_study, again.optuna_study) == ("av_singing", "av_singing-2")
    resumed = prepare(_options(tmp_path, tiny_cache, check_samples=0, mlflow_uri=None, resume=True))
    assert resumed.optuna_study == "av_singing"
    with pytest.raises(SearchSetupError, match="--warm-start 'nope': no such study .*av_singing"):
        prepare(_options(tmp_path, tiny_cache, check_samples=0, mlflow_uri=None, warm_start="nope"))
    assert len(plan.fingerprint) == 16 and plan.fingerprint == again.fingerprint
    longer = tmp_path / "longer.yaml"
    longer.write_text("data: {train_length: 8, val_length: 6}\n")
    assert prepare(_options(tmp_path, tiny_cache, check_samples=0, mlflow_uri=None,
                                                      config=str(longer))).fingerprint \
        != plan.fingerprint  # another validation set, another fingerprint


def test_trial_run_names_say_what_the_trial_is():
    from avsep.platform.study_runs import trial_run_name

    name = trial_run_name({"modality": "audio_visual", "visual": "conv2d_lstm",
                           "mask": True, "dense": False, "lr": 3e-4, "batch_size": 8},
                          "av_mmdensenet")
    assert name == "av_mmdensenet·audio_visual·conv2d_lstm·mask·no-dense·lr3e-4·batch_size8"


def test_remote_storage_reports_under_avsep_home(tmp_path, monkeypatch):
    from avsep.platform.search_plan import report_dir

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path))
    assert report_dir("s3://bucket/results", "study") == tmp_path / "reports" / "study"
    assert report_dir(str(tmp_path / "r"), "study") == tmp_path / "r" / "study" / "report"


def test_local_runs_start_their_own_ray(monkeypatch):
    import ray

    from avsep.platform.ray_resources import (
        init_ray,
        init_search_ray,
        quiet_local_ray_worker,
    )
    from avsep.platform.search_plan import SearchOptions

    for key in ("RAY_TRAIN_ENABLE_PRINT_PATCH", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"):
        monkeypatch.setenv(key, "restored after the test")
        monkeypatch.delenv(key)
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    init_ray(2)  # never joins a stale /tmp/ray/ray_current_cluster
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    init_ray(2)
    init_ray(2, address="10.0.0.2:6379", ray_train=True)
    monkeypatch.delenv("RAY_ADDRESS")
    init_ray(2, ray_train=True)
    assert [c["address"] for c in calls] == ["local", "10.0.0.1:6379", "10.0.0.2:6379", "local"]
    assert calls[0]["num_cpus"] == 2 and "num_cpus" not in calls[1]
    # Ray Train's cleaner is quieted on a local Ray that runs Ray Train, through a job-wide
    # runtime env that a local Ray without Ray Train is spared; a cluster's is never touched
    assert calls[0]["runtime_env"] is None and "runtime_env" not in calls[2]
    assert calls[3]["runtime_env"] == {"worker_process_setup_hook": quiet_local_ray_worker}
    assert os.environ["RAY_TRAIN_ENABLE_PRINT_PATCH"] == "0"
    assert os.environ["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"] == "0"
    # a search (or reproduction) asks for the quieting when its trials run DDP, only then
    init_search_ray(SearchOptions(space="av_singing", workers_per_trial=2))
    init_search_ray(SearchOptions(space="av_singing"))
    assert calls[4]["num_cpus"] == 3  # 2 DDP workers and the trial that launches them
    assert calls[4]["runtime_env"] == calls[3]["runtime_env"]
    assert calls[5]["num_cpus"] == min(2, os.cpu_count() or 1) and calls[5]["runtime_env"] is None


def test_snapshot_warning_is_quiet_on_local_storage_only(tmp_path, monkeypatch):
    from avsep.platform.tune import quiet_local_snapshot_warning

    key = "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"
    monkeypatch.setenv(key, "restored after the test")
    monkeypatch.delenv(key)
    quiet_local_snapshot_warning("s3://bucket/results")
    assert key not in os.environ  # an upload per snapshot: Ray's warning stays on
    quiet_local_snapshot_warning(str(tmp_path))
    assert os.environ[key] == "0"
    monkeypatch.setenv(key, "7")
    quiet_local_snapshot_warning(str(tmp_path))
    assert os.environ[key] == "7"  # the user's value wins


# ----------------------------------------------------------------- real searches (slow)
def crash_audio_only_trials(config):
    """The test's trainable: the audio-only paper point crashes at its first epoch."""
    if config.get("modality") == "audio":
        raise RuntimeError("injected failure: audio-only trial")
    run_trial(config)


@pytest.mark.slow
def test_search_end_to_end_with_a_crashing_trial(tmp_path, tiny_cache, ray_session):
    import optuna
    import ray.cloudpickle

    from avsep.models.package import load_model_package
    from avsep.platform.tune import run

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    plan = prepare(_options(tmp_path, tiny_cache, objective="val/sdr,model/params",
                            max_failures=1))
    outcome = run(plan, trainable=crash_audio_only_trials)
    assert outcome.trials == 4 and outcome.failed == 1
    # trials reuse a finished trial's process (Tune's reuse_actors): 3 trials reported, 2 at a
    # time, from fewer than 3 processes
    pids = [{json.loads(line)["pid"] for line in path.read_text().splitlines() if line}
            for path in Path(plan.experiment_path).glob("*/result.json")]
    assert sum(1 for p in pids if p) == 3 and len(set().union(*pids)) < 3, pids
    uri = plan.mlflow_uri
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(plan.name)
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("kind") == "study"]
    assert len(parents) == 1
    parent = parents[0]
    trials = [r for r in runs if r.data.tags.get("kind") != "study"]
    assert len(trials) == 3  # the crashing trial never reached its first report
    for r in trials:
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id  # nested runs
        assert r.data.tags["space"] == "av_singing" and r.data.tags["study"] == plan.name
        assert r.data.tags["data_fingerprint"] == plan.fingerprint
        assert "modality" in r.data.params and "lr" in r.data.params
        assert "train.lr" not in r.data.params  # each searched parameter logged once
        assert r.info.run_name.startswith(("av_mmdensenet·", "mmdensenet·"))
        assert f"lr{float(r.data.params['lr']):.0e}".replace("e-0", "e-") in r.info.run_name
        assert r.info.status == "FINISHED"
        assert client.get_metric_history(r.info.run_id, "val/sdr_w0")
        sdri = client.get_metric_history(r.info.run_id, "val/sdri")
        sdr = client.get_metric_history(r.info.run_id, "val/sdr")
        mix = client.get_metric_history(r.info.run_id, "val/sdr_mixture")
        assert sdri[-1].value == pytest.approx(sdr[-1].value - mix[-1].value, abs=1e-6)
        names = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"model", "examples", "config"} <= names
    best = max(trials, key=lambda r: max(m.value for m in client.get_metric_history(
        r.info.run_id, "val/sdr")))
    assert outcome.champion_run == best.info.run_id
    verdict = outcome.verdict
    best_epoch = max(client.get_metric_history(best.info.run_id, "val/sdr"),
                     key=lambda m: m.value).step
    sdri = {m.step: m.value for m in client.get_metric_history(best.info.run_id, "val/sdri")}
    assert verdict.register == (sdri[best_epoch] > 0)  # the baseline rule, either way
    if verdict.register:  # no champion before: promoted
        assert verdict.promote
        champion = client.get_model_version_by_alias(plan.register_as, "champion")
        assert champion.run_id == best.info.run_id
        assert float(champion.tags["val_sdri"]) == pytest.approx(sdri[best_epoch], abs=1e-4)
        assert champion.tags["data_fingerprint"] == plan.fingerprint
        model, payload = load_model_package(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{plan.register_as}@champion", dst_path=str(tmp_path / "dl"),
            tracking_uri=uri))
        assert payload["metrics"]["epoch"] == best_epoch  # weights of the objective's epoch
        assert payload["model"]["preset"] == "tiny"
    else:
        assert "below the mixture baseline" in verdict.message
        assert not client.search_registered_models(f"name = '{plan.register_as}'")
    report_files = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/top_trials.md", "report/pareto_front.png"} <= report_files
    assert len(outcome.table) == 4 and outcome.pareto is not None and len(outcome.pareto) >= 1
    from avsep.platform.search_results import report_only  # `avsep report` rebuilds the same table

    again = report_only(plan.experiment_path, "val/sdr,model/params", tmp_path / "again")
    assert list(again.table["trial_id"]) == list(outcome.table["trial_id"])
    # the Optuna study persists: every trial, the crashed one as FAIL (paper points beyond
    # --num-samples stay WAITING)
    study = optuna.load_study(study_name=plan.optuna_study, storage=plan.optuna_storage)
    states = sorted(t.state.name for t in study.trials if t.state.is_finished())
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"]

    # a second search learns from the first: its study starts with the 3 finished trials,
    # and the paper points that already ran are not run again
    warm = prepare(_options(tmp_path, tiny_cache, objective="val/sdr,model/params",
                            name="warm", warm_start=plan.optuna_study, num_samples=1,
                            max_epochs=1))
    second = run(warm)
    assert second.trials == 1
    study = optuna.load_study(study_name=warm.optuna_study, storage=warm.optuna_storage)
    old = {t.number: t.params for t in study.trials[:3]}
    assert [t.state.name for t in study.trials if t.state.is_finished()] == ["COMPLETE"] * 4
    assert list(old.values()) == [t.params for t in optuna.load_study(
        study_name=plan.optuna_study, storage=plan.optuna_storage).trials
        if t.state.name == "COMPLETE"]
    # av_singing's first paper point (audio-only) crashed in the first search, so it is
    # evaluated first now; the paper points that finished there are not enqueued again
    audio, *visual = (dict(p) for p in plan.space.points_to_evaluate)
    new = study.trials[3].params
    assert all(new.get(k) == v for k, v in audio.items())
    finished_before = [t.params for t in study.trials[:3]]
    expected = [p for p in (audio, *visual)
                if not any(all(f.get(k) == v for k, v in p.items()) for f in finished_before)]
    assert [t.system_attrs.get("fixed_params") for t in study.trials[3:]] == expected


@pytest.mark.slow
def test_resume_after_the_driver_is_killed(tmp_path):
    cache = write_tiny_cache(tmp_path / "cache")
    args = [sys.executable, "-m", "avsep.cli", "tune", "--space", "av_singing", "--data",
            str(cache), "--num-samples", "3", "--max-epochs", "2", "--max-concurrent", "1",
            "--storage", str(tmp_path / "results"), "--config",
            str(_options(tmp_path, cache).config), "--num-cpus", "1"]
    env = {**os.environ, "AVSEP_HOME": str(tmp_path), "TQDM_DISABLE": "1"}
    experiment = tmp_path / "results" / "av_singing"
    # Tune saves its experiment state every loop step (not every 10 s), and the kill waits for
    # a save in which a trial finished: result.json runs ahead of the saved state, and a trial
    # whose last epoch the state does not hold trains that epoch again after the resume
    driver = subprocess.Popen(args, cwd=ROOT, env={**env, "TUNE_GLOBAL_CHECKPOINT_S": "0"},
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    try:
        while time.time() < deadline and driver.poll() is None:
            if finished(experiment):
                break
            time.sleep(0.05)
        assert driver.poll() is None, "the search ended before it could be killed"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
        killed_at = killed_now()
        driver.wait()
    saved = saved_trials(experiment)
    finished_before = finished(experiment)
    assert finished_before and len(finished_before) < 3, saved
    resumed = subprocess.run([*args, "--resume"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = result_rows(experiment)
    assert len(after) == 3  # the study finished: 3 trials, none lost, none added
    for trial in finished_before:  # completed trials were not run again
        assert_not_trained_again(after[trial], killed_at)
    for trial, rows in after.items():  # the others (ASHA may stop one early)
        assert_went_on(rows, killed_at, saved.get(trial, ("PENDING", 0))[1])
    assert "best trial: run " in resumed.stdout and "registered" in resumed.stdout


def test_data_with_fewer_instruments_than_the_space_caps_it_before_trials(tmp_path):
    from avsep.data.datasets.synthetic_cache import make_demo_cache
    from avsep.models import build

    spec = build({"name": "cunet", "preset": "tiny"}).spec
    cache = make_demo_cache(tmp_path / "urmp", sample_rate=spec.stft.sample_rate, seconds=7.0,
                            singers={"train": 0, "val": 0}, extra_vocals=0,
                            instruments=("violin", "flute", "cello"),
                            ensembles=0)
    options = _options(tmp_path, cache, space="conditioned_unet", check_samples=0)
    # the space adapts to the 3 instruments the data holds, and says so before any trial
    with pytest.warns(UserWarning, match=r"num_sources 2\.\.7 capped to 2\.\.3: split 'train'"):
        plan = prepare(options)
    assert plan.space.name == "conditioned_unet"

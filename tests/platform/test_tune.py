"""The search driver on a real local Ray and a real sqlite MLflow store.

Fast: every bad input fails in :func:`prepare`, before Ray starts or any trial runs.
Slow (``-m slow``): a 4-trial search end to end (one trial crashes and the search goes on;
MLflow runs with params, curves and artifacts; the champion alias; the report and Pareto
front), and resume after the driver is killed.
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
from avsep.platform.mlflow_utils import TrackingError
from avsep.platform.tune import SearchOptions, SearchSetupError, prepare
from tests.platform.conftest import write_tiny_cache

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
])
def test_bad_inputs_fail_before_any_trial(tmp_path, tiny_cache, changes, error, message):
    import ray

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


# ----------------------------------------------------------------- real searches (slow)
@pytest.mark.slow
def test_search_end_to_end_with_a_crashing_trial(tmp_path, tiny_cache, ray_session):
    from avsep.models.package import load_model_package
    from avsep.platform.tune import run

    plan = prepare(_options(tmp_path, tiny_cache, objective="val/sdr,model/params",
                            fail_when={"modality": "audio"}))  # paper point 1 crashes
    outcome = run(plan)
    assert outcome.trials == 4 and outcome.failed == 1
    uri = plan.mlflow_uri
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(plan.name)
    runs = client.search_runs([experiment.experiment_id])
    trials = [r for r in runs if r.data.tags.get("kind") != "search-summary"]
    assert len(trials) == 4
    assert sorted(r.info.status for r in trials).count("FAILED") == 1
    for r in trials:
        assert r.data.tags["space"] == "av_singing" and r.data.tags["study"] == plan.name
        assert "modality" in r.data.params and "train.lr" in r.data.params
    done = [r for r in trials if r.info.status == "FINISHED"]
    for r in done:
        assert client.get_metric_history(r.info.run_id, "val/sdr_w0")
        names = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"model", "examples", "config"} <= names
    champion = client.get_model_version_by_alias(plan.register_as, "champion")
    best = max(done, key=lambda r: max(m.value for m in client.get_metric_history(
        r.info.run_id, "val/sdr")))
    assert champion.run_id == best.info.run_id == outcome.champion_run
    model, payload = load_model_package(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{plan.register_as}@champion", dst_path=str(tmp_path / "dl"),
        tracking_uri=uri))
    assert payload["inputs"] and payload["spec"]["stft"]["sample_rate"] > 0
    assert payload["model"]["preset"] == "tiny"
    summary = [r for r in runs if r.data.tags.get("kind") == "search-summary"]
    assert len(summary) == 1
    report_files = {a.path for a in client.list_artifacts(summary[0].info.run_id, "report")}
    assert {"report/top_trials.md", "report/pareto_front.png"} <= report_files
    assert len(outcome.table) == 4 and outcome.pareto is not None and len(outcome.pareto) >= 1
    from avsep.platform.tune import report_only  # `avsep report` rebuilds the same table

    again = report_only(plan.experiment_path, "val/sdr,model/params", tmp_path / "again")
    assert list(again.table["trial_id"]) == list(outcome.table["trial_id"])


def _completed_trials(experiment: Path) -> dict[str, int]:
    """trial folder -> epochs in its result.json (trials that reported at least once)."""
    out = {}
    for result in experiment.glob("*/result.json"):
        lines = [json.loads(x) for x in result.read_text().splitlines() if x.strip()]
        if lines:
            out[result.parent.name] = len(lines)
    return out


@pytest.mark.slow
def test_resume_after_the_driver_is_killed(tmp_path):
    cache = write_tiny_cache(tmp_path / "cache")
    args = [sys.executable, "-m", "avsep.cli", "tune", "--space", "av_singing", "--data",
            str(cache), "--num-samples", "3", "--max-epochs", "2", "--max-concurrent", "1",
            "--storage", str(tmp_path / "results"), "--config",
            str(_options(tmp_path, cache).config), "--num-cpus", "1"]
    env = {**os.environ, "AVSEP_HOME": str(tmp_path), "TQDM_DISABLE": "1"}
    driver = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    experiment = tmp_path / "results" / "av_singing"
    deadline = time.time() + 400
    try:
        while time.time() < deadline and driver.poll() is None:
            if 2 in _completed_trials(experiment).values():
                break  # one trial has finished both epochs
            time.sleep(2)
        assert driver.poll() is None, "the search ended before it could be killed"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
        driver.wait()
    before = _completed_trials(experiment)
    finished_before = {t for t, n in before.items() if n == 2}
    assert finished_before and len(before) < 3 + 1
    resumed = subprocess.run([*args, "--resume"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = _completed_trials(experiment)
    assert len(after) == 3  # the study finished: 3 trials, none lost, none added
    for trial in finished_before:
        assert after[trial] == 2  # completed trials were not run again
    assert "champion: models:/avsep-av_singing@champion" in resumed.stdout


def test_data_too_small_for_the_space_fails_before_trials(tmp_path):
    from avsep.data.datasets.synthetic_cache import make_demo_cache
    from avsep.models import build

    spec = build({"name": "cunet", "preset": "tiny"}).spec
    cache = make_demo_cache(tmp_path / "urmp", sample_rate=spec.stft.sample_rate, seconds=7.0,
                            singers={"train": 0, "val": 0}, extra_vocals=0,
                            instruments=("violin", "flute", "cello"),
                            ensembles=0)
    options = _options(tmp_path, cache, space="conditioned_unet", check_samples=0)
    with pytest.raises(SearchSetupError, match="train data cannot feed cunet: .*7 different "
                                               "instruments"):
        prepare(options)

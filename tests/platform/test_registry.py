"""The champion guard, the per-contract champions and the pyfunc on a real sqlite MLflow store.

Fast: the guard's rules (:func:`decide`) in both directions; which aliases a contract may hold.
Slow: :func:`register` / :func:`register_champions` on real runs whose ``model`` artifact is a
real (untrained, tiny) package: no registration below the baseline, a worse model does not
dethrone a champion, ``force`` does, ``@champion`` and ``@champion-audio`` each follow their own
guard; a real search over ``av_singing`` with an audio-only and an audio-visual trial sets both
aliases; the registered pyfunc loads with ``mlflow.pyfunc.load_model`` (DataFrame and numpy
inputs, the engine's exact output), runs from its own avsep wheel, and a real
``mlflow models serve`` process answers ``POST /invocations`` with the same stems.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from avsep.platform.objectives import Objective
from avsep.tracking.registry import (
    CHAMPION,
    CHAMPION_AUDIO,
    Candidate,
    aliases_for,
    decide,
    register,
    register_champions,
)
from avsep.tracking.store import configure

SDR = Objective("val/sdr", "max")


def _candidate(value: float, sdri: float | None = 1.0, fingerprint: str = "f1",
               objective: Objective = SDR) -> Candidate:
    mixture = None if sdri is None else value - sdri
    return Candidate("run", objective, value, fingerprint, mixture, sdri)


def _champion(value: float, fingerprint: str = "f1", objective: str = "val/sdr:max") -> dict:
    return {"objective": objective, "objective_value": str(value),
            "data_fingerprint": fingerprint, "version": "1"}


def test_below_the_mixture_baseline_is_not_registered():
    verdict = decide(_candidate(-1.98, sdri=-0.5), None)
    assert (verdict.register, verdict.promote) == (False, False)
    assert verdict.message == ("not registered: below the mixture baseline: val/sdri -0.50 dB "
                               "(val/sdr_mixture -1.48 dB)")
    assert not decide(_candidate(3.0, sdri=0.0), None, force=True).register  # force too
    assert decide(_candidate(0.1, sdri=None), None).register  # no baseline: not applied


@pytest.mark.parametrize(("candidate", "current", "force", "promote", "reason"), [
    (_candidate(5.0), None, False, True, "no @champion yet"),
    (_candidate(5.0), _champion(4.0), False, True, "val/sdr:max 5 beats @champion's 4"),
    (_candidate(3.0), _champion(4.0), False, False, "the new model is not better"),
    (_candidate(4.0), _champion(4.0), False, False, "the new model is not better"),
    (_candidate(3.0), _champion(4.0), True, True, "--force"),
    (_candidate(9.0), _champion(4.0, fingerprint="f2"), False, False, "validated on other data"),
    (_candidate(9.0), _champion(4.0, objective="val/loss:min"), False, False,
     "@champion was chosen on 'val/loss:min'"),
    (_candidate(0.2, objective=Objective("val/loss", "min")),
     _champion(0.3, objective="val/loss:min"), False, True, "beats"),
    (_candidate(0.4, objective=Objective("val/loss", "min")),
     _champion(0.3, objective="val/loss:min"), False, False, "not better"),
])
def test_the_alias_moves_only_to_a_better_comparable_model(candidate, current, force, promote,
                                                          reason):
    verdict = decide(candidate, current, force)
    assert verdict.register and verdict.promote == promote
    assert reason in verdict.reason


def test_the_aliases_a_contract_may_hold():
    assert aliases_for({"task": "separation", "inputs": ["mixture"]}) == (CHAMPION, CHAMPION_AUDIO)
    assert aliases_for({"task": "separation", "inputs": ["mixture", "labels"]}) == (
        CHAMPION, CHAMPION_AUDIO)  # labels are not video: a plain song can be served
    assert aliases_for({"task": "separation", "inputs": ["mixture", "video"]}) == (CHAMPION,)
    assert aliases_for({"task": "sync", "inputs": ["mixture", "video"]}) == (CHAMPION,)


def test_pyfunc_video_column_and_input_example():
    from avsep.models import build
    from avsep.models.package import describe_contract
    from avsep.tracking.pyfunc import _video, encode_video, input_example, mixture_of, records

    frames = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 3), dtype=np.uint8)
    assert np.array_equal(_video(encode_video(frames))[0], frames)
    assert _video(None) == [] and _video("") == []
    with pytest.raises(ValueError, match=r"uint8 \(T, H, W, 3\)"):
        _video(encode_video(frames[..., 0]))
    model = build({"name": "av_mmdensenet", "preset": "tiny"})
    example = input_example(describe_contract(model)).iloc[0]
    rate, fps = model.spec.stft.sample_rate, model.spec.fps
    assert example["sample_rate"] == rate and len(example["mixture"]) == rate // 2
    video = _video(example["video"])[0]
    assert video.shape[0] >= 0.5 * fps and video.shape[1:3] == tuple(model.spec.crop)
    # rows: a DataFrame, a dict (numpy mixture) or a list of dicts; mono only
    wave = np.arange(6, dtype=np.float64)
    assert records({"mixture": wave, "sample_rate": 8}) == [{"mixture": wave, "sample_rate": 8}]
    assert len(records(pd.DataFrame([{"mixture": [0.0], "sample_rate": 8}] * 3))) == 3
    assert mixture_of({"mixture": wave}).shape == (1, 6)
    assert mixture_of({"mixture": wave.tolist()}).dtype == np.float32
    with pytest.raises(ValueError, match="one mono waveform"):
        mixture_of({"mixture": np.zeros((2, 6))})
    with pytest.raises(ValueError, match="a DataFrame with the columns mixture"):
        records(wave)


# ------------------------------------------------------------------------- real store (slow)
def _run_with_package(client, experiment: str, root: Path, name: str,
                      model_name: str = "mmdensenet") -> str:
    from avsep.models import build
    from avsep.models.package import save_model_package

    model = build({"name": model_name, "preset": "tiny"})
    package = save_model_package(model, {"name": model_name, "preset": "tiny"},
                                 root / name / "model", {"val/sdr": 1.0})
    run_id = client.create_run(experiment, run_name=name).info.run_id
    client.log_artifacts(run_id, str(package), "model")
    client.set_terminated(run_id)
    return run_id


def _store(tmp_path: Path, experiment: str) -> tuple[str, mlflow.MlflowClient, str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configure(uri)
    client = mlflow.MlflowClient()
    return uri, client, client.create_experiment(experiment,
                                                 artifact_location=str(tmp_path / "art"))


def _aliases(client, name: str) -> dict[str, tuple[str, str]]:
    """{alias: (version, run id)} of registered model ``name``."""
    model = client.get_registered_model(name)
    return {alias: (str(version), client.get_model_version(name, str(version)).run_id)
            for alias, version in model.aliases.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_candidate_without_a_package_is_refused_by_name(tmp_path):
    uri, client, experiment = _store(tmp_path, "empty")
    run_id = client.create_run(experiment).info.run_id
    with pytest.raises(ValueError, match=f"run {run_id} has no model/config.json artifact"):
        register(uri, Candidate(run_id, SDR, 1.0, "fp", 0.0, 1.0), "avsep-empty")
    with pytest.raises(ValueError, match="no candidate was given"):
        register_champions(uri, [], "avsep-empty")
    assert not client.search_registered_models("name = 'avsep-empty'")


@pytest.mark.slow
def test_each_input_contract_keeps_its_own_champion(tmp_path):
    from avsep.tracking.loading import ModelLoadError, load_model

    uri, client, experiment = _store(tmp_path, "contracts")
    kinds = {"av1": "av_mmdensenet", "av2": "av_mmdensenet", "a1": "mmdensenet",
             "a2": "mmdensenet", "a3": "mmdensenet"}
    runs = {n: _run_with_package(client, experiment, tmp_path, n, m) for n, m in kinds.items()}

    def cand(run: str, value: float, sdri: float = 1.0, fingerprint: str = "fp") -> Candidate:
        return Candidate(runs[run], SDR, value, fingerprint, value - sdri, sdri)

    name = "avsep-contracts"
    # a search whose best trial is audio-visual: the best audio-only one after it (third in
    # the ranking) takes @champion-audio; the audio-visual runner-up is not registered
    first = register_champions(uri, [cand("av1", 5.0), cand("av2", 4.5), cand("a1", 4.0)], name)
    assert first.moved() == {CHAMPION: "1", CHAMPION_AUDIO: "2"}
    assert _aliases(client, name) == {CHAMPION: ("1", runs["av1"]),
                                      CHAMPION_AUDIO: ("2", runs["a1"])}
    assert client.get_model_version(name, "1").tags["inputs"] == "mixture,video"
    assert client.get_model_version(name, "2").tags["inputs"] == "mixture"
    assert "@champion-audio: registered version 2 and promoted it" in first.message
    # an audio-only winner that beats both: one version, both aliases
    second = register_champions(uri, [cand("a2", 6.0)], name)
    assert second.moved() == {CHAMPION: "3", CHAMPION_AUDIO: "3"}
    # audio-visual wins again; its audio-only runner-up is worse than @champion-audio (6.0),
    # so that alias stays and the runner-up is not registered
    third = register_champions(uri, [cand("av2", 7.0), cand("a3", 5.5)], name)
    assert third.moved() == {CHAMPION: "4"}
    audio = third.verdicts[CHAMPION_AUDIO]
    assert not audio.register and audio.reason.startswith("@champion-audio stays at version 3")
    assert len(client.search_model_versions(f"name='{name}'")) == 4
    assert _aliases(client, name) == {CHAMPION: ("4", runs["av2"]),
                                      CHAMPION_AUDIO: ("3", runs["a2"])}
    # the guard applies per alias: validated on other data, neither alias moves
    other = register_champions(uri, [cand("a3", 9.0, fingerprint="other")], name)
    assert (other.register, other.version, other.moved()) == (True, "5", {})
    assert "validated on other data" in other.verdicts[CHAMPION_AUDIO].reason
    assert "validated on other data" in other.verdicts[CHAMPION].reason
    # below the mixture: nothing registered for either contract
    below = register_champions(uri, [cand("av1", 9.0, sdri=-0.2), cand("a1", 9.0, sdri=-0.1)],
                               name)
    assert not below.register and not below.verdicts[CHAMPION_AUDIO].register
    assert "below the mixture baseline" in below.verdicts[CHAMPION_AUDIO].reason
    # --force moves every alias the model's contract may hold
    forced = register(uri, cand("a1", 1.0), name, force=True)
    assert forced.moved() == {CHAMPION: "6", CHAMPION_AUDIO: "6"}
    assert len(client.search_model_versions(f"name='{name}'")) == 6

    # a search without audio-only trials says so; loading its missing alias names the fix
    only_av = register_champions(uri, [cand("av1", 3.0), cand("av2", 2.0)], "avsep-avonly")
    assert only_av.moved() == {CHAMPION: "1"}
    assert only_av.verdicts[CHAMPION_AUDIO].reason == ("no audio-only model among this "
                                                       "search's trials")
    with pytest.raises(ModelLoadError, match=r"no audio-only champion \(@champion-audio; "
                                             r"versions: 1\).*avsep tune --space avonly"):
        load_model("models:/avsep-avonly@champion-audio", tracking_uri=uri)

    # the audio-visual champion's pyfunc refuses a row without video, naming the audio alias
    model = mlflow.pyfunc.load_model(f"models:/avsep-avonly@{CHAMPION}")
    with pytest.raises(ValueError, match="audio-visual") as err:
        model.predict({"mixture": np.zeros(3200), "sample_rate": 3200})
    assert "@champion-audio" in str(err.value)
    assert not any(word in str(err.value).lower() for word in ("http", "upload", "400", "file"))


@pytest.mark.slow
def test_a_search_registers_the_champion_of_each_contract(tmp_path, tiny_cache, ray_session):
    from avsep.platform.tune import SearchOptions, prepare, run

    config = tmp_path / "base.yaml"
    config.write_text("data: {train_length: 24, val_length: 4}\neval: {examples: 0}\n")
    # av_singing's first two paper points: audio-only MMDenseNet, then the audio-visual one
    plan = prepare(SearchOptions(
        space="av_singing", data=str(tiny_cache), num_samples=2, max_epochs=4,
        storage=str(tmp_path / "results"), config=str(config), check_samples=2,
        mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", max_concurrent=2, finalists=0))
    outcome = run(plan)
    client = mlflow.MlflowClient(plan.mlflow_uri)
    experiment = client.get_experiment_by_name(plan.name)
    trials = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])
              if r.data.tags.get("kind") != "study"}
    assert sorted(r.data.params["modality"] for r in trials.values()) == ["audio",
                                                                          "audio_visual"]

    def best(run_id: str) -> tuple[float, float]:
        """(best val/sdr, val/sdri at that epoch) of a trial."""
        sdr = max(client.get_metric_history(run_id, "val/sdr"), key=lambda m: m.value)
        sdri = {m.step: m.value for m in client.get_metric_history(run_id, "val/sdri")}
        return sdr.value, sdri[sdr.step]

    scores = {r.data.params["modality"]: (run_id, *best(run_id)) for run_id, r in trials.items()}
    print("trials (run, val/sdr, val/sdri):", scores)
    audio_run, _, audio_sdri = scores["audio"]
    assert audio_sdri > 0, f"the audio-only trial did not beat the mixture: {scores}"
    # the guard's expectation from the trials' own scores: the best (val/sdr) takes @champion
    # when it beats the mixture, the audio-only trial @champion-audio
    winner, _, winner_sdri = max(scores.values(), key=lambda s: s[1])
    expected = {CHAMPION_AUDIO: audio_run, **({CHAMPION: winner} if winner_sdri > 0 else {})}
    aliases = _aliases(client, plan.register_as)
    assert {a: run for a, (_, run) in aliases.items()} == expected
    if winner == audio_run:  # one version holds both aliases
        assert aliases[CHAMPION][0] == aliases[CHAMPION_AUDIO][0] == "1"
    elif CHAMPION in expected:  # the audio-visual winner first, then the audio-only one
        assert (aliases[CHAMPION][0], aliases[CHAMPION_AUDIO][0]) == ("1", "2")
    assert outcome.verdict.moved() == {a: v for a, (v, _) in aliases.items()}
    from avsep.tracking.registry import champion_lines

    lines = champion_lines(plan.mlflow_uri, plan.register_as)
    assert lines[1].startswith(f"models:/{plan.register_as}@champion-audio = version "
                               f"{aliases[CHAMPION_AUDIO][0]} (inputs mixture; val/sdr:max")


@pytest.mark.slow
def test_guarded_registration_and_the_served_pyfunc(tmp_path):
    from avsep.models.package import find_package, load_model_package
    from avsep.serve.engine import Request, Separator

    uri, client, experiment = _store(tmp_path, "guard")
    runs = {n: _run_with_package(client, experiment, tmp_path, n) for n in ("a", "b", "c")}

    def candidate(run: str, value: float, sdri: float = 1.0) -> Candidate:
        return Candidate(runs[run], SDR, value, "fp", value - sdri, sdri)

    below = register(uri, candidate("a", -1.98, sdri=-0.4), "avsep-test")
    assert not below.register and below.version is None
    assert not client.search_registered_models("name = 'avsep-test'")

    first = register(uri, candidate("a", 4.0), "avsep-test")
    assert (first.register, first.promote, first.version) == (True, True, "1")
    worse = register(uri, candidate("b", 3.0), "avsep-test")
    assert (worse.register, worse.promote, worse.version) == (True, False, "2")
    assert "@champion kept because the new model is not better" in worse.message
    champion = client.get_model_version_by_alias("avsep-test", "champion")
    assert str(champion.version) == "1" and champion.run_id == runs["a"]
    assert champion.tags["objective_value"] == "4" and champion.tags["val_sdri"] == "1"
    forced = register(uri, candidate("c", 2.0), "avsep-test", force=True)
    assert (forced.promote, forced.version) == (True, "3")
    assert client.get_model_version_by_alias("avsep-test", "champion").run_id == runs["c"]
    # an audio-only model holds both aliases
    assert _aliases(client, "avsep-test") == {CHAMPION: ("3", runs["c"]),
                                              CHAMPION_AUDIO: ("3", runs["c"])}

    # the champion is an MLflow Model: pyfunc with a signature, loadable and servable
    folder = Path(mlflow.artifacts.download_artifacts("models:/avsep-test@champion",
                                                      dst_path=str(tmp_path / "dl")))
    model = mlflow.pyfunc.load_model(str(folder))
    inputs = {c.name for c in model.metadata.get_input_schema().inputs}
    assert {"mixture", "sample_rate", "labels", "video"} == inputs
    rate = 8000
    mixture = 0.1 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)
    # what the serving engine itself returns for the same request: the reference
    engine = Separator(*load_model_package(find_package(folder)))
    expected = engine.separate(Request(audio=mixture.astype(np.float32)[None], rate=rate))
    assert set(expected) == {"vocals", "accompaniment"}
    assert expected["vocals"].shape == (1, rate) and np.abs(expected["vocals"]).max() > 1e-4
    # a DataFrame of lists and a dict of numpy arrays, as the signature says
    by_frame = model.predict(pd.DataFrame([{"mixture": mixture.tolist(), "sample_rate": rate}]))
    by_numpy = model.predict({"mixture": mixture, "sample_rate": rate})
    for out in (by_frame, by_numpy):
        assert list(out.columns) == ["vocals", "accompaniment"]
        for stem, reference in expected.items():
            np.testing.assert_allclose(np.asarray(out.iloc[0][stem]), reference, atol=1e-6)
    # avsep serve's loader still finds config.json + weights.safetensors in the download
    assert (find_package(folder) / "config.json").is_file()

    # the model's one requirement is avsep's wheel (beside mlflow's pin), and that wheel alone
    # runs it: installed into an empty folder that shadows the repository's avsep
    requirements = (folder / "requirements.txt").read_text().split()
    wheels = [r for r in requirements if r.endswith(".whl")]
    assert wheels == ["artifacts/avsep-0.1.0-py3-none-any.whl"], requirements
    assert (folder / wheels[0]).is_file()
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(target), str(folder / wheels[0])], check=True)
    np.save(tmp_path / "mixture.npy", mixture)
    script = ("import json, sys, numpy as np, mlflow, avsep\n"
              "assert avsep.__file__.startswith(sys.argv[2]), avsep.__file__\n"
              "out = mlflow.pyfunc.load_model(sys.argv[1]).predict("
              "{'mixture': np.load(sys.argv[3]), 'sample_rate': 8000})\n"
              "print(json.dumps(out.iloc[0].to_dict()))\n")
    ran = subprocess.run([sys.executable, "-c", script, str(folder), str(target),
                          str(tmp_path / "mixture.npy")], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(target)}, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    from_wheel = json.loads(ran.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.asarray(from_wheel["vocals"]), expected["vocals"], atol=1e-6)

    # `mlflow models serve` as the README writes it: the venv's bin first on PATH (mlflow
    # starts `uvicorn` from the PATH), the local environment
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", "models:/avsep-test@champion", "--env-manager",
         "local", "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=tmp_path,
        start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "w"))  # noqa: SIM115
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        body = json.dumps({"dataframe_records": [{"mixture": mixture.tolist(),
                                                  "sample_rate": rate}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            predictions = json.loads(reply.read())["predictions"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # its own process group only
        server.wait(timeout=30)
    assert len(predictions) == 1 and set(predictions[0]) == {"vocals", "accompaniment"}
    for stem, reference in expected.items():
        np.testing.assert_allclose(np.asarray(predictions[0][stem]), reference, atol=1e-6)


@pytest.mark.slow
def test_a_model_without_stems_registers_its_package(tmp_path):
    from avsep.models.package import find_package, load_model_package

    uri, client, experiment = _store(tmp_path, "sync")
    run_id = _run_with_package(client, experiment, tmp_path, "v", model_name="vocalist")
    score = Objective("val/score", "max")
    verdict = register(uri, Candidate(run_id, score, -0.6, "fp"), "avsep-vocalist")
    assert (verdict.register, verdict.promote, verdict.version) == (True, True, "1")
    assert set(verdict.verdicts) == {CHAMPION}  # a sync model serves no stems: no audio alias
    folder = mlflow.artifacts.download_artifacts("models:/avsep-vocalist@champion",
                                                 dst_path=str(tmp_path / "dl"))
    model, payload = load_model_package(find_package(folder))
    assert payload["task"] == "sync" and payload["model"]["name"] == "vocalist"

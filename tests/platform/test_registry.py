"""The champion guard and the pyfunc champion on a real sqlite MLflow store.

Fast: the guard's rules (:func:`decide`) in both directions.
Slow: :func:`register` on real runs whose ``model`` artifact is a real (untrained, tiny)
package: no registration below the baseline, a worse model does not dethrone the champion,
``force`` does; the registered pyfunc loads with ``mlflow.pyfunc.load_model`` and a real
``mlflow models serve`` process answers ``POST /invocations`` with the stems.
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
from avsep.tracking.registry import Candidate, decide

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


def test_pyfunc_video_column_and_input_example():
    from avsep.models import build
    from avsep.models.package import describe_contract
    from avsep.tracking.pyfunc import _video, encode_video, input_example

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_guarded_registration_and_the_served_pyfunc(tmp_path):
    from avsep.tracking.registry import register
    from avsep.tracking.store import configure

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configure(uri)
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("guard", artifact_location=str(tmp_path / "art"))
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

    # the champion is an MLflow Model: pyfunc with a signature, loadable and servable
    model = mlflow.pyfunc.load_model("models:/avsep-test@champion")
    inputs = {c.name for c in model.metadata.get_input_schema().inputs}
    assert {"mixture", "sample_rate", "labels", "video"} == inputs
    rate = 8000
    mixture = (0.1 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).tolist()
    out = model.predict(pd.DataFrame([{"mixture": mixture, "sample_rate": rate}]))
    assert list(out.columns) == ["vocals", "accompaniment"]
    assert np.asarray(out.iloc[0]["vocals"]).shape == (1, rate)
    # avsep serve's loader still finds config.json + weights.safetensors in the download
    from avsep.models.package import find_package

    folder = mlflow.artifacts.download_artifacts("models:/avsep-test@champion",
                                                 dst_path=str(tmp_path / "dl"))
    assert (find_package(folder) / "config.json").is_file()

    port = _free_port()
    bin_dir = Path(sys.executable).parent  # mlflow starts `uvicorn` from the PATH
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen(
        [str(bin_dir / "mlflow"), "models", "serve", "-m",
         "models:/avsep-test@champion", "--env-manager", "local", "-h", "127.0.0.1", "-p",
         str(port)], env=env, cwd=tmp_path, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "serve.log", "w"))  # noqa: SIM115
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        body = json.dumps({"dataframe_records": [{"mixture": mixture[:4000],
                                                  "sample_rate": rate}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            predictions = json.loads(reply.read())["predictions"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert len(predictions) == 1 and set(predictions[0]) == {"vocals", "accompaniment"}
    vocals = np.asarray(predictions[0]["vocals"])
    assert vocals.shape == (1, 4000) and np.isfinite(vocals).all()


@pytest.mark.slow
def test_a_model_without_stems_registers_its_package(tmp_path):
    from avsep.models.package import find_package, load_model_package
    from avsep.tracking.registry import register
    from avsep.tracking.store import configure

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configure(uri)
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("sync", artifact_location=str(tmp_path / "art"))
    run_id = _run_with_package(client, experiment, tmp_path, "v", model_name="vocalist")
    score = Objective("val/score", "max")
    verdict = register(uri, Candidate(run_id, score, -0.6, "fp"), "avsep-vocalist")
    assert (verdict.register, verdict.promote, verdict.version) == (True, True, "1")
    folder = mlflow.artifacts.download_artifacts("models:/avsep-vocalist@champion",
                                                 dst_path=str(tmp_path / "dl"))
    model, payload = load_model_package(find_package(folder))
    assert payload["task"] == "sync" and payload["model"]["name"] == "vocalist"

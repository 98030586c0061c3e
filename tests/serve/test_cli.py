"""`avsep serve` / `avsep separate` find the MLflow store by MLflow's conventions, refuse a
model that does not load before deploying anything, and write only the labelled stems."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch

from avsep.cli import main
from avsep.serve.engine import serving_backend
from avsep.serve.precision import resolve_precision
from tests.serve.conftest import _free_port
from tests.serve.test_http import unzip_stems
from tests.serve.test_upload import wav_bytes


def _song(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    rng = np.random.default_rng(3)
    sf.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate)
    return path


def test_serve_refuses_a_store_that_does_not_exist(tmp_path, monkeypatch, capsys):
    store = tmp_path / "nowhere" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    assert main(["serve", "--model", "models:/avsep-av_singing@champion"]) == 1
    err = capsys.readouterr().err
    assert "nothing deployed" in err and f"sqlite:///{store} does not exist" in err
    assert "--mlflow-uri" in err and "avsep tune --space" in err
    assert not store.exists()  # the check does not leave an empty store behind


def test_serve_names_what_the_store_holds(champion, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion.tracking_uri)
    assert main(["serve", "--model", "models:/avsep-conditioned_unet@champion"]) == 1
    err = capsys.readouterr().err
    assert "no registered model 'avsep-conditioned_unet'" in err
    assert "models:/serve-test@champion" in err  # what it holds instead
    assert "`avsep tune --space conditioned_unet`" in err  # the command that creates it
    assert main(["serve", "--model", "models:/serve-test@staging"]) == 1
    assert "has no alias 'staging' (versions: 1)" in capsys.readouterr().err


def test_separate_reads_the_store_from_mlflow_tracking_uri(champion, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion.tracking_uri)
    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "empty-home"))  # the default store is empty
    song = _song(tmp_path / "song.wav")
    assert main(["separate", str(song), "--model", champion.model_uri,
                 "--out", str(tmp_path / "stems")]) == 0
    written = sorted(p.name for p in (tmp_path / "stems" / "song").iterdir())
    assert written == ["accompaniment.wav", "vocals.wav"]
    vocals, rate = sf.read(tmp_path / "stems" / "song" / "vocals.wav", always_2d=True)
    assert rate == 8000 and vocals.shape == (8000, 1)


def test_separate_writes_only_the_labelled_stems(cunet_package, tmp_path, capsys):
    song = _song(tmp_path / "song.wav")
    out = tmp_path / "stems"
    assert main(["separate", str(song), "--model", str(cunet_package),
                 "--labels", "violin, flute,cello", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "song").iterdir()) == ["cello.wav", "flute.wav",
                                                                "violin.wav"]
    flute, rate = sf.read(out / "song" / "flute.wav", always_2d=True)
    assert rate == 8000 and flute.shape == (8000, 1)
    assert main(["separate", str(song), "--model", str(cunet_package), "--out", str(out)]) == 2
    assert "label-conditioned" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_command_serves_the_champion_of_mlflow_tracking_uri(champion, tmp_path):
    """A real `avsep serve` given no --mlflow-uri: only MLFLOW_TRACKING_URI names the store."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(MLFLOW_TRACKING_URI=champion.tracking_uri, AVSEP_HOME=str(tmp_path / "home"),
               TQDM_DISABLE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "avsep.cli", "serve", "--model", champion.model_uri, "--port",
         str(port), "--cpus-per-replica", "1"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        info = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/info", timeout=10).json()
                break
            except (httpx.HTTPError, ValueError):
                time.sleep(2)
        assert info is not None, f"`avsep serve` never answered: {process.poll()}"
        assert info["uri"] == champion.model_uri and info["version"] == "1"
        assert info["sources"] == ["vocals", "accompaniment"]
        # the default precision and backend, resolved in the replica (engine.serving_backend)
        running = resolve_precision("auto")
        expected = serving_backend(torch.device("cpu"), running)
        assert {k: info["runtime"][k] for k in ("precision", "backend_asked", "backend")} \
            == {"precision": running, "backend_asked": "auto", "backend": expected}
        if expected == "openvino":  # both bands of the MMDenseNet family
            assert info["runtime"]["compiled_blocks"] == 2
        audio = (0.1 * np.random.default_rng(4).standard_normal((1, 6400))).astype(np.float32)
        reply = httpx.post(f"http://127.0.0.1:{port}/separate",
                           files={"audio": ("a.wav", wav_bytes(audio, 6400, "FLOAT"))},
                           timeout=120)
        assert reply.status_code == 200, reply.text
        assert {k: v.shape for k, v in unzip_stems(reply.content).items()} == {
            "vocals": (1, 6400), "accompaniment": (1, 6400)}
    finally:
        process.send_signal(signal.SIGTERM)  # as a process manager stops it
        try:
            output = process.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output[-3000:]
    assert "avsep serve: stopped" in output and "Traceback" not in output
    assert not (tmp_path / "home" / "mlflow.db").exists()  # the default store was never used

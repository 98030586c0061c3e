"""End to end with an audio-visual model: an AV MMDenseNet trained on the synthetic corpus (the
serving tests' cache, the quick start's proposed point) separates a held-out test song from the
song's own video (its sound track, and the boxes sidecar beside it) through `avsep separate`
and through the Serve HTTP endpoint, at least 3 dB SI-SDR above the mixture, with the crops
and the Wiener count its package recorded. Slow: it trains (CPU, a few minutes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from avsep.metrics.sdr import si_sdr
from tests.serve.conftest import LIMITS, _free_port
from tests.serve.test_http import unzip_stems

EPOCHS = 3
MODEL = {"name": "av_mmdensenet", "preset": "tiny", "frontend": "conv2d_lstm",
         "mask_layer": True}


@dataclass
class AVModel:
    uri: str
    tracking_uri: str
    seconds: float  # training wall time


@pytest.fixture(scope="module")
def av_model(champion, tmp_path_factory) -> AVModel:
    """The tiny AV MMDenseNet trained on the champion's cache (logged to its MLflow store)."""
    import mlflow

    from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker

    root = tmp_path_factory.mktemp("av-train")
    experiment = {"model": MODEL,
                  "data": {"cache": str(champion.cache), "train_length": 512, "val_length": 16,
                           "options": {"extra_vocal_share": 0.5}},
                  "train": {"lr": 1e-3, "batch_size": 8, "epochs": EPOCHS, "seed": 0},
                  "eval": {"wiener_iterations": [0, 1, 2], "examples": 0}}
    run = RunContext(mlflow_uri=champion.tracking_uri, mlflow_experiment="serve-av",
                     run_name="av", local_root=str(root))
    start = time.perf_counter()
    train_loop_per_worker(make_config(experiment, run))
    seconds = time.perf_counter() - start
    client = mlflow.MlflowClient(tracking_uri=champion.tracking_uri)
    experiment_id = client.get_experiment_by_name("serve-av").experiment_id
    (found,) = client.search_runs([experiment_id])
    return AVModel(f"runs:/{found.info.run_id}/model", champion.tracking_uri, seconds)


def _test_song(champion) -> tuple[Path, np.ndarray, int]:
    """The cache's test song: its video (with the mixture as sound track and the boxes sidecar
    beside it) and its vocals (1, L) at the corpus rate."""
    index = json.loads((champion.cache / "index.json").read_text())
    track = next(t for t in index["tracks"] if t["split"] == "test")
    folder = next((champion.corpus / "singing").glob(f"*/{track['id']}"))
    vocals, rate = sf.read(folder / "vocals.wav", dtype="float32", always_2d=True)
    return folder / "video.mp4", vocals.T, rate


def _gain(vocals: np.ndarray, estimate: np.ndarray, mixture: np.ndarray) -> tuple[float, float]:
    """SI-SDR of the estimate and of the mixture against the vocals (dB), on their overlap."""
    length = min(vocals.shape[-1], estimate.shape[-1], mixture.shape[-1])
    ref, est, mix = (a[0, :length].astype(np.float64) for a in (vocals, estimate, mixture))
    return float(si_sdr(ref, est)), float(si_sdr(ref, mix))


@pytest.mark.slow
def test_an_av_model_separates_its_test_song_from_the_video_through_separate_and_http(
        champion, av_model, tmp_path):
    from ray import serve

    from avsep.serve.launch import app_args, start_local
    from avsep.serve.upload import decode_audio

    print(f"trained the AV MMDenseNet in {av_model.seconds:.0f} s ({EPOCHS} epochs)")
    video, vocals, rate = _test_song(champion)
    mixture, mixture_rate = decode_audio(video.read_bytes(), 600.0)  # the AAC sound track
    assert mixture_rate == rate

    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "avsep.cli", "separate", str(video), "--model", av_model.uri,
         "--mlflow-uri", av_model.tracking_uri, "--out", str(tmp_path / "stems"),
         "--precision", "fp32"],  # the app below serves fp32 (app_args' default)
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Wiener iterations" in done.stderr and "cropped by" not in done.stderr
    local, local_rate = sf.read(tmp_path / "stems" / "video" / "vocals.wav", dtype="float32",
                                always_2d=True)
    assert local_rate == rate
    separated, baseline = _gain(vocals, local.T, mixture)
    print(f"avsep separate: vocals SI-SDR {separated:.2f} dB, mixture {baseline:.2f} dB")
    assert separated - baseline >= 3.0

    port = _free_port()
    start_local(app_args(av_model.uri, av_model.tracking_uri, "1", 0.0, LIMITS, True, 16),
                "127.0.0.1", port, num_cpus=2)
    try:
        files = {"audio": ("video.mp4", video.read_bytes()),
                 "boxes": ("video.boxes.json", (video.with_suffix(".boxes.json")).read_bytes())}
        reply = httpx.post(f"http://127.0.0.1:{port}/separate", files=files, timeout=600)
        assert reply.status_code == 200, reply.text
        stems = unzip_stems(reply.content)
        over_http, _ = _gain(vocals, stems["vocals"], mixture)
        print(f"HTTP /separate: vocals SI-SDR {over_http:.2f} dB (notice: "
              f"{reply.headers.get('x-avsep-notice')})")
        assert over_http - baseline >= 3.0
        np.testing.assert_allclose(stems["vocals"], local.T, atol=1e-4)  # one path
        # the same song without its sidecar: the face detector's mouth box (another scale than
        # the sidecar's the model trained on), and the answer says so in one line
        bare = httpx.post(f"http://127.0.0.1:{port}/separate",
                          files={"audio": ("video.mp4", video.read_bytes())}, timeout=600)
        assert bare.status_code == 200, bare.text
        notice = bare.headers.get("x-avsep-notice", "")
        assert "cropped by 'detector'" in notice and "\n" not in notice
        without, _ = _gain(vocals, unzip_stems(bare.content)["vocals"], mixture)
        print(f"HTTP /separate without the sidecar: vocals SI-SDR {without:.2f} dB ({notice})")
    finally:
        serve.shutdown()

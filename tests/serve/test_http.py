"""The separation service over real HTTP: quality, parity with `avsep separate`, bad inputs,
concurrency. The server is a real Ray Serve app on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from avsep.metrics import bss_eval
from avsep.serve.calibrate import choose
from tests.serve.conftest import LIMITS
from tests.serve.test_upload import mp4_bytes, wav_bytes

UPLOAD_RATE = 6400  # twice the model's 3.2 kHz: the service resamples down and back up


def load_test_song(cache: Path, seconds: float = 8.0) -> dict[str, np.ndarray]:
    """Vocals and accompaniment (1, L) of the cache's test song at UPLOAD_RATE, equal RMS."""
    index = json.loads((cache / "index.json").read_text())
    track = next(t for t in index["tracks"] if t["split"] == "test")
    stems = {}
    for source in track["sources"]:
        if source["role"] in ("vocals", "accompaniment"):
            audio = np.load(cache / source["audio"]).astype(np.float32) / 32768.0
            audio = torch.from_numpy(audio[:, : int(seconds * index["sample_rate"])])
            audio = torchaudio.functional.resample(audio, index["sample_rate"], UPLOAD_RATE)
            stems[source["role"]] = (0.1 * audio / audio.pow(2).mean().sqrt()).numpy()
    return stems


def unzip_stems(payload: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {name[:-4]: sf.read(io.BytesIO(archive.read(name)), dtype="float32",
                                   always_2d=True)[0].T for name in archive.namelist()}


def median_sdr(references: dict[str, np.ndarray], estimates: dict[str, np.ndarray]) -> np.ndarray:
    names = ("vocals", "accompaniment")
    refs = np.stack([references[n].T for n in names])
    ests = np.stack([estimates[n].T for n in names])
    return np.nanmedian(bss_eval(refs, ests, UPLOAD_RATE)["sdr"], axis=1)


def post(url: str, files: dict, data: dict | None = None) -> httpx.Response:
    return httpx.post(f"{url}/separate", files=files, data=data or {}, timeout=300)


def test_http_separation_beats_the_mixture_and_matches_avsep_separate(served, champion,
                                                                      tmp_path):
    stems = load_test_song(champion.cache)
    mixture = stems["vocals"] + stems["accompaniment"]
    response = post(served, {"audio": ("mix.wav", wav_bytes(mixture, UPLOAD_RATE, "FLOAT"))})
    assert response.status_code == 200, response.text
    separated = unzip_stems(response.content)
    assert set(separated) == {"vocals", "accompaniment"}
    assert separated["vocals"].shape == mixture.shape
    gain = median_sdr(stems, separated) - median_sdr(stems, {"vocals": mixture,
                                                             "accompaniment": mixture})
    print(f"SDR gain over the mixture (BSS Eval v4, median of 1 s frames): {gain}")
    assert gain[0] >= 3.0, f"vocals gain {gain[0]:.2f} dB < 3 dB"

    song = tmp_path / "mix.wav"
    sf.write(song, mixture.T, UPLOAD_RATE, subtype="FLOAT")
    env = {**os.environ, "TQDM_DISABLE": "1"}
    subprocess.run([sys.executable, "-m", "avsep.cli", "separate", str(song), "--model",
                    champion.model_uri, "--mlflow-uri", champion.tracking_uri, "--out",
                    str(tmp_path / "stems"), "--precision", "fp32"],  # as the app serves
                   check=True, env=env, capture_output=True)
    for name, audio in separated.items():
        local, rate = sf.read(tmp_path / "stems" / "mix" / f"{name}.wav", dtype="float32",
                              always_2d=True)
        assert rate == UPLOAD_RATE
        np.testing.assert_allclose(local.T, audio, atol=1e-4)


def test_info_describes_the_model_and_limits(served):
    info = httpx.get(f"{served}/info", timeout=30).json()
    assert info["sources"] == ["vocals", "accompaniment"]
    assert info["inputs"] == ["mixture"] and info["sample_rate"] == 3200
    assert info["version"] == "1" and "val/sdr" in json.dumps(info["metrics"])
    assert info["limits"]["max_upload_bytes"] == LIMITS["max_upload_bytes"]
    # a replica of 1 CPU computes on 1 thread, in fp32 (Ray would say the same through
    # OMP_NUM_THREADS; the replica sets it itself so that more CPUs mean more threads), its two
    # MMDenseNet bands in ONNX Runtime (backend "auto" on CPU)
    runtime = info["runtime"]
    assert {k: runtime[k] for k in ("torch_threads", "precision", "device", "backend",
                                    "compiled_blocks")} == {
        "torch_threads": 1, "precision": "fp32", "device": "cpu", "backend": "onnxruntime",
        "compiled_blocks": 2}
    # the replica timed its model on batches of 1, 2, 4, ... (<= the fixture's 16) silent
    # chunks at start and caps its calls at the cheapest per chunk (avsep/serve/calibrate.py)
    costs = {int(size): cost for size, cost in runtime["cpu_s_per_chunk_by_batch"].items()}
    assert set(costs) <= {1, 2, 4, 8, 16} and 1 in costs and all(c > 0 for c in costs.values())
    assert runtime["max_chunks_per_call"] == choose(costs)
    # batching is on (the default) unless a cap of one chunk leaves it nothing to merge
    assert runtime["batching"] is (runtime["max_chunks_per_call"] > 1)
    av = httpx.get(f"{served}/av/info", timeout=30).json()
    assert av["inputs"] == ["mixture", "video"] and av["video"]["crop"] == [16, 16]


def test_one_named_stem_and_wiener_iterations(served):
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal((1, UPLOAD_RATE * 2))).astype(np.float32)
    files = {"audio": ("a.wav", wav_bytes(audio, UPLOAD_RATE, "FLOAT"))}
    response = post(served, files, {"format": "vocals", "wiener_iterations": "1"})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    vocals, rate = sf.read(io.BytesIO(response.content), always_2d=True)
    assert rate == UPLOAD_RATE and vocals.shape == (audio.shape[1], 1)


def _tone(seconds: float, rate: int = UPLOAD_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 330 * t))[None].astype(np.float32)


def _wav(seconds: float) -> bytes:
    return wav_bytes(_tone(seconds), UPLOAD_RATE)


BAD_REQUESTS = {
    "empty file": ({"audio": ("a.wav", b"")}, {}, 400, "empty"),
    "not audio": ({"audio": ("a.wav", b"hello, world" * 50)}, {}, 415, "not an audio"),
    "truncated wav": ({"audio": ("a.wav", _wav(2.0)[:9000])}, {}, 400, "truncated"),
    "too large": ({"audio": ("a.wav", b"RIFF" + bytes(4 * 1024 * 1024))}, {}, 413, "limit"),
    "too long": ({"audio": ("a.wav", _wav(25.0))}, {}, 413, "the limit is 20 s"),
    "nan samples": ({"audio": ("a.wav", wav_bytes(np.full((1, 800), np.nan, np.float32),
                                                  subtype="FLOAT"))}, {}, 422, "NaN"),
    "unknown labels": ({"audio": ("a.wav", _wav(1.0))}, {"labels": "banjo"}, 400,
                       "unknown label"),
    "wrong field name": ({"sound": ("a.wav", _wav(1.0))}, {}, 400,
                         "unknown form field"),
    "bad wiener": ({"audio": ("a.wav", _wav(1.0))}, {"wiener_iterations": "x"},
                   400, "must be an integer"),
    "bad format": ({"audio": ("a.wav", _wav(1.0))}, {"format": "drums"}, 400,
                   "format"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_gets_a_4xx_and_the_server_keeps_serving(served, case):
    files, data, status, message = BAD_REQUESTS[case]
    response = post(served, files, data)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert httpx.get(f"{served}/healthz", timeout=30).status_code == 200
    good = post(served, {"audio": ("a.wav", _wav(0.5))})
    assert good.status_code == 200


def test_video_rules_of_an_audio_visual_model(served):
    audio = {"audio": ("a.wav", wav_bytes(_tone(1.0, 16000), 16000))}
    missing = post(f"{served}/av", audio)
    assert missing.status_code == 400 and "audio-visual" in missing.json()["error"]
    short = post(f"{served}/av", {**audio, "video": ("v.mp4", mp4_bytes(0.4, with_audio=False))})
    assert short.status_code == 400 and "shorter than the audio" in short.json()["error"]
    ok = post(f"{served}/av", {**audio, "video": ("v.mp4", mp4_bytes(1.2, with_audio=False))})
    assert ok.status_code == 200, ok.text
    own_track = post(f"{served}/av", {"audio": ("clip.mp4", mp4_bytes(1.0))})
    assert own_track.status_code == 200, own_track.text
    assert set(unzip_stems(own_track.content)) == {"vocals", "accompaniment"}


def test_twenty_concurrent_requests_all_succeed(served):
    rng = np.random.default_rng(2)
    uploads = [wav_bytes((0.1 * rng.standard_normal((1, UPLOAD_RATE * 3))).astype(np.float32),
                         UPLOAD_RATE, "FLOAT") for _ in range(20)]

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=600) as client:
            return await asyncio.gather(*(client.post(f"{served}/separate",
                                                      files={"audio": ("a.wav", data)})
                                          for data in uploads))

    responses = asyncio.run(fire())
    assert [r.status_code for r in responses] == [200] * 20
    assert all(len(unzip_stems(r.content)["vocals"][0]) == UPLOAD_RATE * 3 for r in responses)


def test_labels_select_the_stems(served):
    audio = {"audio": ("a.wav", wav_bytes(_tone(1.0, 8000), 8000))}
    labelled = post(f"{served}/cunet", audio, {"labels": "violin, flute,cello"})
    assert labelled.status_code == 200, labelled.text
    stems = unzip_stems(labelled.content)
    assert sorted(stems) == ["cello", "flute", "violin"]  # not the model's 13 stems
    assert all(stem.shape == (1, 8000) for stem in stems.values())
    one = post(f"{served}/cunet", audio, {"labels": "violin,flute", "format": "flute"})
    assert one.status_code == 200 and one.headers["content-type"] == "audio/wav"
    unlabelled = post(f"{served}/cunet", audio, {"labels": "violin", "format": "flute"})
    assert unlabelled.status_code == 400 and "['violin']" in unlabelled.json()["error"]
    vocal_model = post(served, {"audio": ("a.wav", _wav(0.5))}, {"labels": "violin"})
    assert vocal_model.status_code == 400
    assert "vocals, accompaniment" in vocal_model.json()["error"]

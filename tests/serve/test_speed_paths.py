"""The serving speed paths give the outputs of the plain path (issue #21 item 2).

* Y-Net on a stereo upload: the visual encoder runs once per chunk (not once per channel) and
  the stems equal those of every item run through the model on its own;
* precision: ``auto`` is bf16 exactly where the CPU has native bf16; fp32 stays one argument
  away; a bad precision names the flag.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsep.models import build
from avsep.serve.engine import (
    PRECISION_CHOICES,
    Request,
    Separator,
    cpu_supports_bf16,
    resolve_precision,
)


def _ynet_request(seconds: float = 1.5) -> tuple[Separator, Request]:
    torch.manual_seed(0)
    model = build({"name": "ynet", "preset": "tiny"})
    separator = Separator(model, precision="fp32", backend="torch")
    rate = separator.rate
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal((2, int(seconds * rate)))).astype(np.float32)
    frames = rng.integers(0, 256, (int(seconds * 25) + 2, 32, 32, 3), dtype=np.uint8)
    return separator, Request(audio=audio, rate=rate, videos=[frames])


def test_ynet_encodes_each_chunk_video_once_with_unchanged_outputs():
    separator, request = _ynet_request()
    jobs = separator.make_jobs(request)
    chunks = len(jobs.plan.starts)
    assert jobs.per_channel and len(jobs.items) == 2 * chunks and chunks >= 3
    encoded: list[int] = []
    hook = separator.model.visual_encoder.register_forward_hook(
        lambda _m, args, _out: encoded.append(args[0].shape[0]))
    try:
        shared = separator.run(jobs.items, 0, max_batch=16)
        assert sum(encoded) == chunks  # one encoder pass per chunk video, not per channel item
        encoded.clear()
        capped = separator.run(jobs.items, 0, max_batch=1)  # a replica whose cap is 1 chunk
        assert sum(encoded) == chunks and max(encoded) == 1
    finally:
        hook.remove()
    assert max(float((a - b).abs().max()) for a, b in zip(shared, capped, strict=True)) <= 1e-5

    with torch.inference_mode():  # the plain path: each item alone, its own encoder pass
        alone = [separator.model.separate({k: v.unsqueeze(0) for k, v in item.items()})[0]
                 for item in jobs.items]
    largest = max(float((a - b).abs().max()) for a, b in zip(shared, alone, strict=True))
    assert largest <= 1e-5, largest
    stems = separator.assemble(shared, jobs)
    assert set(stems) == {"vocals", "accompaniment"} and stems["vocals"].shape == (2, 1.5 * 4000)


def test_ynet_batches_that_mix_requests_keep_each_items_features():
    separator, request = _ynet_request(1.0)
    other = Request(audio=request.audio[::-1].copy(), rate=request.rate,
                    videos=[255 - request.videos[0]])
    items = separator.make_jobs(request).items + separator.make_jobs(other).items
    together = separator.run(items, 0, max_batch=16)
    apart = separator.run(items[:len(items) // 2], 0) + separator.run(items[len(items) // 2:], 0)
    assert max(float((a - b).abs().max()) for a, b in zip(together, apart, strict=True)) <= 1e-5


def test_auto_precision_is_bf16_exactly_where_the_cpu_has_it():
    expected = "bf16" if cpu_supports_bf16() else "fp32"
    assert resolve_precision("auto") == expected
    assert resolve_precision("auto", "cuda") == "fp32"
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    model = build({"name": "mmdensenet", "preset": "tiny"})
    assert Separator(model, precision="auto", backend="torch").precision == expected
    fp32 = Separator(model, precision="fp32", backend="auto")
    assert fp32.precision == "fp32"
    assert "auto" in PRECISION_CHOICES
    with pytest.raises(ValueError, match="--precision"):
        resolve_precision("fp16")


def _info(separator: Separator) -> dict:
    from fastapi.testclient import TestClient

    from avsep.serve.http import build_http_app
    from avsep.serve.lanes import Lanes
    from avsep.serve.limits import Limits

    async def run_items(items, wiener):  # /info never runs the model
        raise AssertionError("not called")

    lanes = Lanes(1, 1)
    try:
        app = build_http_app(separator, Limits(), run_items, lanes)
        with TestClient(app) as client:
            return client.get("/info").json()
    finally:
        lanes.close()


@pytest.mark.parametrize("flag", [[], ["--precision", "fp32"], ["--precision", "bf16"]])
def test_the_precision_flag_of_serve_and_separate_sets_what_info_states(flag):
    import argparse

    from avsep.commands import separate, serve
    from avsep.serve.launch import app_args

    parsed = []
    for command in (serve, separate):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        parsed.append(parser.parse_args([*flag, *(["song.wav"] if command is separate else [])]))
    asked = {a.precision for a in parsed}
    assert asked == {flag[1] if flag else "auto"}
    precision = asked.pop()
    assert app_args("pkg", None, "1", 0.0, {}, True, 8, precision=precision)["precision"] \
        == precision
    separator = Separator(build({"name": "mmdensenet", "preset": "tiny"}), precision=precision)
    info = _info(separator)
    running = resolve_precision(precision)
    assert info["runtime"]["precision"] == running == info["precision"]["running"]
    assert info["precision"]["asked"] == precision
    assert info["precision"]["cpu_bf16"] is cpu_supports_bf16()
    why = info["precision"]["why"]
    assert why == f"--precision {precision}" if flag else why.startswith("auto: ")


def _singer_scene(frames: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """A 640x480 video of a synthetic singer (the 112x112 render scaled to 480x480, centred on
    a grey scene) and the true mouth boxes in its pixels."""
    cv2 = pytest.importorskip("cv2")
    from avsep.data.synth.faces import random_face, render_singer

    rng = np.random.default_rng(2)
    openness = (0.5 + 0.5 * np.sin(np.arange(frames) / 3)).astype(np.float32)
    faces, mouths = render_singer(random_face(rng), openness, rng, 25.0)
    scene = np.full((frames, 480, 640, 3), 90, np.uint8)
    for i, face in enumerate(faces):
        scene[i, :, 80:560] = cv2.resize(face, (480, 480), interpolation=cv2.INTER_LINEAR)
    scale = 480 / faces.shape[1]
    return scene, mouths * scale + np.array([80, 0, 80, 0])


def test_the_detector_works_at_240_px_on_large_frames_and_finds_the_mouth():
    import cv2

    from avsep.data.video import DETECT_SIDE, detect_mouth_boxes, open_video

    scene, truth = _singer_scene()
    boxes = detect_mouth_boxes(open_video(scene, name="scene"), np.arange(len(scene)))
    assert boxes is not None
    # the same as detecting on the grey frames scaled to the working size by hand, boxes x2
    assert DETECT_SIDE == 240
    small = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (320, 240),
                                 interpolation=cv2.INTER_AREA) for f in scene])[..., None]
    half = detect_mouth_boxes(open_video(small, name="small"), np.arange(len(small)))
    np.testing.assert_allclose(boxes, 2 * half, atol=1e-9)
    # and it lands on the true mouth (the corpus test's criterion)
    centre = np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - (truth[:, :2] + truth[:, 2:]) / 2,
                            axis=1)
    assert np.median(centre / (truth[:, 2] - truth[:, 0])) < 0.5


@pytest.mark.slow
def test_bf16_costs_the_trained_champion_at_most_the_measured_bound(champion):
    """bf16 is the CPU default because it cost <= 0.009 dB SI-SDR on the quick start's songs
    (benchmarks/results/precision_cost.json): on every song of the session champion's held-out
    splits, neither torch's bf16 nor OpenVINO's bf16 blocks (``--backend openvino``, the
    replicas' default, run in a process of its own: ``openvino_probe.py``) lose more than the
    issue's 0.05 dB against fp32. And the faster path changes nothing beyond bf16's own
    rounding: OpenVINO's distance to fp32 is at most torch bf16's plus 0.01 dB (the issue-#21
    rule for a faster path). Both are roundings of the fp32 network, so fp32 is the reference,
    not one of them: on session 10's champion torch bf16 moved the test song +0.034 dB from
    fp32 and OpenVINO 0.0008 dB, 0.033 dB apart (docs/serve.md)."""
    import soundfile as sf

    from avsep.metrics.sdr import si_sdr
    from tests.serve.test_engine import run_probe

    runs = {p: Separator.from_uri(champion.model_uri, tracking_uri=champion.tracking_uri,
                                  precision=p, backend="torch") for p in ("fp32", "bf16")}
    songs = sorted(champion.corpus.glob("singing/*/*/mixture.wav"))
    songs = [s for s in songs if s.parent.parent.name in ("val", "test")] or songs[:2]
    scores: dict[str, list[float]] = {precision: [] for precision in runs}
    for mixture_path in songs:
        mixture, rate = sf.read(mixture_path, dtype="float32", always_2d=True)
        truth, _ = sf.read(mixture_path.with_name("vocals.wav"), dtype="float32",
                           always_2d=True)
        for precision, separator in runs.items():
            vocals = separator.separate(Request(audio=mixture.T, rate=rate))["vocals"]
            scores[precision].append(float(si_sdr(truth.mean(1), vocals.mean(0)[:len(truth)])))
    fp32, bf16 = np.array(scores["fp32"]), np.array(scores["bf16"])
    assert len(fp32) >= 2 and (fp32 > 0.0).all()  # trained: the comparison means something
    assert (fp32 - bf16).max() <= 0.05, (fp32, bf16)
    probe = run_probe("champion", champion.tracking_uri, champion.model_uri,
                      *(str(s) for s in songs))
    assert probe["compiled_blocks"] == 2  # the two bands, in OpenVINO
    np.testing.assert_allclose(probe["si_sdr"]["torch"], bf16, atol=1e-6)  # the same songs
    openvino = np.array(probe["si_sdr"]["openvino"])
    assert (fp32 - openvino).max() <= 0.05, (fp32, openvino)
    extra = np.abs(openvino - fp32) - np.abs(bf16 - fp32)
    assert extra.max() <= 0.01, (fp32, bf16, openvino)


def test_avsep_separate_runs_at_the_precision_flag_and_says_which(tmp_path, capsys):
    import soundfile as sf

    from avsep.cli import main
    from avsep.models.package import save_model_package

    config = {"name": "mmdensenet", "preset": "tiny"}
    package = save_model_package(build(config), config, tmp_path / "pkg")
    song = tmp_path / "song.wav"
    rng = np.random.default_rng(0)
    sf.write(song, (0.3 * rng.standard_normal((4800, 2))).astype(np.float32), 3200)
    stems = {}
    for flag in ("fp32", "bf16"):
        assert main(["separate", str(song), "--model", str(package), "--precision", flag,
                     "--out", str(tmp_path / flag)]) == 0
        assert f"precision {flag}" in capsys.readouterr().err
        stems[flag] = sf.read(tmp_path / flag / "song" / "vocals.wav")[0]
    difference = np.abs(stems["fp32"] - stems["bf16"]).max()
    assert 0 < difference < 0.1 * np.abs(stems["fp32"]).max()  # the flag switches the network

"""`avsep prepare`: decode + crop + resample + cache, checked against what the test wrote."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avsep.data.prepare import PrepareSettings, prepare, settings_from_model
from avsep.data.records import DataError
from tests.data import test_layouts as tl
from tests.data import test_video as tv

FPS = 25
SETTINGS = PrepareSettings(sample_rate=8000, fps=25.0, crop=(32, 32), video_channels=3)


def player_boxes(k: int) -> dict[str, list[float]]:
    """Two moving 32x32 player boxes at video frame ``k``."""
    return {"1_vn": [8.0 + k, 20.0, 40.0 + k, 52.0],
            "2_vc": [70.0, 44.0 - k / 2, 102.0, 76.0 - k / 2]}


def urmp_with_boxes(root: Path, folder: str = "01_Jupiter_vn_vc", seconds: float = 2.0) -> Path:
    base = tl.urmp_piece(root, folder, seconds)
    frames = int(seconds * FPS)
    sidecar = {"fps": FPS, "size": [tv.WIDTH, tv.HEIGHT],
               "boxes": {name: [player_boxes(k)[name] for k in range(frames)]
                         for name in ("1_vn", "2_vc")}}
    (base / f"Vid_{folder}.boxes.json").write_text(json.dumps(sidecar))
    return base


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_urmp_with_boxes_sidecar(tmp_path: Path) -> None:
    root, out = tmp_path / "urmp", tmp_path / "cache"
    urmp_with_boxes(root)
    before = tree_digest(root)
    result = prepare("urmp", root, out, SETTINGS)
    assert (result.written, result.reused, result.problems) == (1, 0, [])
    assert tree_digest(root) == before  # user data is only read

    index = json.loads((out / "index.json").read_text())
    assert {k: index[k] for k in ("version", "layout", "sample_rate", "fps", "crop",
                                  "video_channels")} == {
        "version": 1, "layout": "urmp", "sample_rate": 8000, "fps": 25.0, "crop": [32, 32],
        "video_channels": 3}
    (track,) = index["tracks"]
    assert {"id", "split", "dir", "duration_s", "sources", "performer", "piece"} <= set(track)
    assert (track["id"], track["split"], track["dir"]) == ("01_Jupiter_vn_vc", "train",
                                                           "tracks/01_Jupiter_vn_vc")
    assert track["duration_s"] == pytest.approx(2.0)
    assert [(s["name"], s["role"], s["instrument"], s["crop_from"]) for s in track["sources"]] == [
        ("1_vn", "instrument", "violin", "boxes"), ("2_vc", "instrument", "cello", "boxes")]

    for source, k_source in zip(track["sources"], (1, 2), strict=True):
        audio = np.load(out / source["audio"], mmap_mode="r")
        assert audio.dtype == np.int16 and audio.shape == (1, 16000)
        written, _ = sf.read(str(root / "01_Jupiter_vn_vc" /
                                 f"AuSep_{k_source}_{source['name'][2:]}_01_Jupiter.wav"),
                             dtype="float32", always_2d=True)
        assert np.max(np.abs(audio[0] / 32768.0 - written[:, 0])) <= 1 / 32768

        video = np.load(out / source["video"], mmap_mode="r")
        assert video.dtype == np.uint8 and video.shape == (50, 32, 32, 3)
        scores = [tv.psnr(video[k], tv.expected_crop(np.array(player_boxes(k)[source["name"]]),
                                                     k / FPS, (32, 32))) for k in range(50)]
        assert min(scores) > 30, scores
        # the other player's boxes give a clearly different picture (the crop is located)
        other = "2_vc" if source["name"] == "1_vn" else "1_vn"
        assert tv.psnr(video[0], tv.expected_crop(np.array(player_boxes(0)[other]), 0.0,
                                                  (32, 32))) < 20

    f0 = np.load(out / track["sources"][1]["annotations"]["f0"]["path"])
    assert track["sources"][1]["annotations"]["f0"]["rate"] == 100.0
    assert f0.dtype == np.float32 and f0.shape == (200,)
    assert np.all(f0[:10] == 0) and np.allclose(f0[12:100], 440.0)
    notes = np.load(out / track["sources"][0]["annotations"]["notes"]["path"])
    assert notes[5] == 0 and notes[20] == 58 and notes[65] == 0 and notes[75] == 61

    from avsep.data.datasets.cache import load_cache  # the reader the training side uses

    cache = load_cache(out)
    assert [t.id for t in cache.tracks] == ["01_Jupiter_vn_vc"]
    assert cache.tracks[0].sources[0].frames == 50


def test_resampling_gray_and_lower_fps(tmp_path: Path) -> None:
    root, out = tmp_path / "urmp", tmp_path / "cache"
    urmp_with_boxes(root, seconds=1.0)
    settings = PrepareSettings(sample_rate=16000, fps=12.5, crop=(16, 16), video_channels=1)
    prepare("urmp", root, out, settings)
    track = json.loads((out / "index.json").read_text())["tracks"][0]
    audio = np.load(out / track["sources"][0]["audio"])
    assert audio.shape == (1, 16000)
    t = np.arange(16000) / 16000
    reference = 0.3 * np.sin(2 * np.pi * 220 * t)
    error = audio[0, 200:-200] / 32768 - reference[200:-200]
    assert 10 * np.log10(np.sum(reference[200:-200] ** 2) / np.sum(error**2)) > 35
    video = np.load(out / track["sources"][0]["video"])
    assert video.shape == (12, 16, 16, 1)
    for k in range(12):  # cached frame k is source frame 2k (time k / 12.5)
        expected = tv.expected_crop(np.array(player_boxes(2 * k)["1_vn"]), k / 12.5, (16, 16))
        assert tv.psnr(video[k, ..., 0], expected @ np.array([0.299, 0.587, 0.114])) > 30


def test_rerun_skips_finished_tracks_and_cleans_partial_ones(tmp_path: Path) -> None:
    root, out = tmp_path / "urmp", tmp_path / "cache"
    urmp_with_boxes(root, seconds=1.0)
    urmp_with_boxes(root, "02_Sonata_fl_cl", seconds=1.0)
    (root / "02_Sonata_fl_cl" / "Vid_02_Sonata_fl_cl.boxes.json").write_text(json.dumps(
        {"fps": 25, "boxes": {"1_fl": [[0, 0, 32, 32]], "2_cl": [[50, 50, 82, 82]]}}))
    prepare("urmp", root, out, SETTINGS)
    audio = out / "tracks" / "01_Jupiter_vn_vc" / "audio" / "1_vn.npy"
    stamp = audio.stat().st_mtime_ns
    (out / "tracks" / ".02_Sonata_fl_cl.partial").mkdir()  # an interrupted earlier attempt
    result = prepare("urmp", root, out, SETTINGS)
    assert (result.written, result.reused) == (0, 2)
    assert audio.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (out / "tracks").iterdir()) == [
        ".02_Sonata_fl_cl.partial", "01_Jupiter_vn_vc", "02_Sonata_fl_cl"]
    shutil_target = out / "tracks" / "02_Sonata_fl_cl"
    import shutil

    shutil.rmtree(shutil_target)  # lost track: written again, leftovers replaced
    result = prepare("urmp", root, out, SETTINGS)
    assert (result.written, result.reused) == (1, 1)
    assert not (out / "tracks" / ".02_Sonata_fl_cl.partial").exists()
    assert not list(out.glob(".index.json.tmp*"))
    foreign = out / "tracks" / "02_Sonata_fl_cl"
    shutil.rmtree(foreign)
    (foreign / "mine").mkdir(parents=True)  # a folder prepare did not write is never replaced
    with pytest.raises(DataError, match="not written by avsep prepare") as err:
        prepare("urmp", root, out, SETTINGS)
    assert err.value.path == foreign and (foreign / "mine").is_dir()
    with pytest.raises(DataError, match="must not be the dataset root"):
        prepare("urmp", root, root / "cache", SETTINGS)
    with pytest.raises(DataError, match="choose another --out") as err:
        prepare("urmp", root, out, PrepareSettings(sample_rate=16000, fps=25.0, crop=(32, 32)))
    assert err.value.path == out / "index.json"


def test_bad_sidecar_raises_or_is_skipped(tmp_path: Path) -> None:
    root, out = tmp_path / "urmp", tmp_path / "cache"
    urmp_with_boxes(root, seconds=1.0)
    bad = urmp_with_boxes(root, "03_Dance_ob_bn", seconds=1.0)
    sidecar = bad / "Vid_03_Dance_ob_bn.boxes.json"
    sidecar.write_text(json.dumps({"fps": 25, "boxes": {"1_ob": [[0, 0, 32, 32]]}}))
    with pytest.raises(DataError, match="no boxes for source '2_bn'") as err:
        prepare("urmp", root, out, SETTINGS)
    assert err.value.path == sidecar
    assert not list((out / "tracks").glob(".*partial"))  # nothing half-written is left
    result = prepare("urmp", root, out, SETTINGS, skip_bad=True)
    assert result.written == 0 and result.reused == 1 and len(result.problems) == 1
    index = json.loads((out / "index.json").read_text())
    assert [t["id"] for t in index["tracks"]] == ["01_Jupiter_vn_vc"]
    assert index["problems"][0]["path"] == str(sidecar)


def test_prepare_mir1k_channels_and_vocal_labels(tmp_path: Path) -> None:
    root, out = tl.mir1k_tree(tmp_path / "mir1k"), tmp_path / "cache"
    prepare("mir1k", root, out, PrepareSettings(sample_rate=16000))
    index = json.loads((out / "index.json").read_text())
    assert index["fps"] is None and len(index["tracks"]) == 4
    track = next(t for t in index["tracks"] if t["id"] == "amy_2_01")
    written, _ = sf.read(str(root / "Wavfile" / "amy_2_01.wav"), dtype="float32")
    for source, channel in (("accompaniment", 0), ("vocals", 1)):
        entry = next(s for s in track["sources"] if s["name"] == source)
        audio = np.load(out / entry["audio"])
        assert audio.shape == (1, 8000) and entry["video"] is None
        assert np.max(np.abs(audio[0] / 32768 - written[:, channel])) <= 1 / 32768
    vad = np.load(out / track["annotations"]["vad"]["path"])
    assert vad.shape == (50,) and np.all(vad[:20] == 0) and np.all(vad[25:] == 1)


def test_prepare_acappella_crops_the_mouth_from_landmarks(tmp_path: Path) -> None:
    root, out = tl.acappella_tree(tmp_path / "acappella"), tmp_path / "cache"
    sample = root / "splits/train/frames/English/Female/aB3_x-9_0_1_to_0_2"
    np.save(sample.with_suffix(".npy"), np.stack([tv.render(k / 25, 96, 128) for k in range(10)]))
    points = np.zeros((10, 68, 2), dtype=np.int16)
    points[:, 48:68, 0] = np.linspace(30, 60, 20)  # mouth 30 px wide -> 36 px square
    points[:, 48:68, 1] = np.linspace(80, 95, 20)
    np.save(str(sample).replace("/frames/", "/landmarks/") + ".npy", points)
    prepare("acappella", root, out, PrepareSettings(16384, 25.0, (24, 24)))
    track = next(t for t in json.loads((out / "index.json").read_text())["tracks"]
                 if t["id"] == "aB3_x-9_0_1_to_0_2")
    (source,) = track["sources"]
    assert source["crop_from"] == "landmarks"
    video = np.load(out / source["video"])
    assert video.shape == (10, 24, 24, 3)
    box = np.array([45 - 18, 87.5 - 18, 45 + 18, 87.5 + 18])
    assert min(tv.psnr(video[k], tv.expected_crop(box, k / 25, (24, 24))) for k in range(10)) > 30


def test_model_settings_and_cli(tmp_path: Path) -> None:
    settings, clip = settings_from_model("av_mmdensenet")
    assert settings == PrepareSettings(32000, 25.0, (64, 64), settings.video_channels, 2)
    assert clip == pytest.approx(2.56)
    root = tmp_path / "urmp"
    urmp_with_boxes(root, seconds=1.0)
    code, text = tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out",
                            str(tmp_path / "cache"), "--sample-rate", "8000", "--fps", "25",
                            "--crop", "32x32", "--gray")
    assert code == 0 and "wrote 1 track(s)" in text
    index = json.loads((tmp_path / "cache" / "index.json").read_text())
    assert index["video_channels"] == 1 and index["crop"] == [32, 32]
    code, text = tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out",
                            str(tmp_path / "c2"), "--sample-rate", "8000", "--min-seconds", "5")
    assert code == 1 and "audio shorter than the clip" in text
    with pytest.raises(SystemExit):
        tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out", "x",
                   "--sample-rate", "8000", "--crop", "64by64")


@pytest.mark.slow
def test_parallel_workers_write_the_same_cache(tmp_path: Path) -> None:
    root = tmp_path / "urmp"
    urmp_with_boxes(root, seconds=1.0)
    urmp_with_boxes(root, "02_Sonata_fl_cl", seconds=1.0)
    (root / "02_Sonata_fl_cl" / "Vid_02_Sonata_fl_cl.boxes.json").write_text(json.dumps(
        {"fps": 25, "boxes": {"1_fl": [[0, 0, 32, 32]], "2_cl": [[50, 50, 82, 82]]}}))
    prepare("urmp", root, tmp_path / "serial", SETTINGS)
    prepare("urmp", root, tmp_path / "parallel", SETTINGS, workers=2)
    serial = tree_digest(tmp_path / "serial" / "tracks")
    assert serial == tree_digest(tmp_path / "parallel" / "tracks") and len(serial) > 10


def test_without_boxes_players_get_strips_and_a_soloist_the_centre(tmp_path: Path) -> None:
    root, out = tmp_path / "urmp", tmp_path / "cache"
    tl.urmp_piece(root, "01_Jupiter_vn_vc", 1.0)  # no sidecar
    prepare("urmp", root, out, PrepareSettings(8000, 25.0, (32, 32)))
    track = json.loads((out / "index.json").read_text())["tracks"][0]
    for part, source in enumerate(track["sources"]):
        assert source["crop_from"] == "strips"
        video = np.load(out / source["video"])
        box = np.array([part * 64.0, 16.0, part * 64.0 + 64.0, 80.0])  # strip fitted to 1:1
        assert min(tv.psnr(video[k], tv.expected_crop(box, k / 25, (32, 32)))
                   for k in range(25)) > 30

    solos, out = tmp_path / "solos", tmp_path / "cache_solos"
    t = np.arange(8000) / 8000
    tv.write_mp4(solos / "videos" / "Flute" / "xE908RyNvGY.mp4", seconds=1.0,
                 audio=0.3 * np.sin(2 * np.pi * 440 * t)[None], sample_rate=8000)
    prepare("solos", solos, out, PrepareSettings(8000, 25.0, (24, 32)))
    track = json.loads((out / "index.json").read_text())["tracks"][0]
    (source,) = track["sources"]
    assert (source["crop_from"], source["instrument"]) == ("centre", "flute")
    video = np.load(out / source["video"])
    box = np.array([0.0, 0.0, 128.0, 96.0])  # 4:3 frame, 3:4 (H:W 24x32) crop = whole frame
    assert min(tv.psnr(video[k], tv.expected_crop(box, k / 25, (24, 32))) for k in range(25)) > 30
    audio = np.load(out / source["audio"])[0] / 32768
    spectrum = np.abs(np.fft.rfft(audio[1000:7000]))
    assert np.argmax(spectrum) * 8000 / 6000 == pytest.approx(440, abs=3)

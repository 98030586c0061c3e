"""`avsep prepare --space`: every cache a search space's models need, each video decoded once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import avsep.data.video as video_module
from avsep.data.needs import _build_spec, cache_name, needs_of_space, sampled_models
from avsep.data.prepare import CacheTarget, PrepareSettings, prepare, prepare_many
from avsep.platform.caches import resolve_cache
from avsep.search_spaces import get
from tests.data import test_layouts as tl
from tests.data.test_prepare import urmp_with_boxes


def test_space_needs_group_models_by_rate_crop_and_fps() -> None:
    needs, failed = needs_of_space("zoo", "tiny")
    by_name = {n.name: n for n in needs}
    assert failed == []  # every family the zoo samples builds without a checkpoint
    assert sorted(by_name) == ["sr16000_mono_audio", "sr3200_mono_fps25_crop16x16",
                               "sr4000_mono_fps25_crop16x16", "sr4000_mono_fps25_crop48x96"]
    assert sorted(by_name["sr3200_mono_fps25_crop16x16"].models) == ["av_mmdensenet",
                                                                     "mmdensenet"]
    (cunet,) = needs_of_space("conditioned_unet", "tiny")[0]
    specs = [_build_spec({**m, "preset": "tiny"}) for m in sampled_models(get("conditioned_unet"))]
    ((rate, crop),) = {(s.stft.sample_rate, tuple(s.crop)) for s in specs if s.fps}
    assert len({s.fps for s in specs if s.fps}) >= 2
    # single-frame and motion contexts share one cache at the highest fps any of them needs
    assert cunet.settings == PrepareSettings(rate, max(s.fps for s in specs if s.fps), crop, 3, 1)
    assert cache_name(PrepareSettings(8000, 12.5, (8, 4), 1)) == "sr8000_fps12.5_crop8x4_gray"
    assert cache_name(PrepareSettings(32000, channels=2)) == "sr32000_stereo_audio"
    _, failed = needs_of_space("vocalist_ynet", "tiny", samples=4)
    assert [m["vocalist_init"] for m, _ in failed] == ["pretrained"]
    assert "vocalist_checkpoint" in failed[0][1]


@pytest.mark.slow
def test_prepare_space_writes_caches_that_resolve_for_every_model(corpus: Path,
                                                                  tmp_path: Path) -> None:
    for space, layout, root in (("av_singing", "avsep_synth", corpus / "singing"),
                                ("conditioned_unet", "urmp", corpus / "urmp")):
        out = tmp_path / space
        code, text = tl.run_cli("prepare", "--layout", layout, "--root", str(root), "--out",
                                str(out), "--space", space)
        assert code == 0, text
        names = sorted(p.parent.name for p in out.glob("*/index.json"))
        assert names == sorted(n.name for n in needs_of_space(space, "tiny")[0])
        for model in sampled_models(get(space)):
            spec = _build_spec({**model, "preset": "tiny"})
            cache = resolve_cache(out, spec, ("train", "val", "test"))
            index = json.loads((cache / "index.json").read_text())
            assert (index["space"], index["preset"], index["layout"]) == (space, "tiny", layout)
            assert index["sample_rate"] == spec.stft.sample_rate
            assert {t["split"] for t in index["tracks"]} == {"train", "val", "test"}


def test_model_and_preset_flags(tmp_path: Path) -> None:
    root = tmp_path / "urmp"
    for piece in ("01_Jupiter_vn_vc", "02_Spring_fl_tpt", "03_Waltz_ob_bn"):
        tl.urmp_piece(root, piece, 1.0)
    code, text = tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out",
                            str(tmp_path / "cunet"), "--model", "cunet", "--preset", "tiny",
                            "--opt", "check_video=false", "--min-seconds", "0.5")
    assert code == 0, text
    index = json.loads((tmp_path / "cunet" / "index.json").read_text())
    assert (index["sample_rate"], index["model"], index["preset"]) == (4000, "cunet", "tiny")
    code, text = tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out",
                            str(tmp_path / "x"))
    assert code == 2 and f"--out {tmp_path / 'x'} --space av_singing --preset tiny" in text
    code, text = tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out",
                            str(tmp_path / "x"), "--space", "zoo", "--fps", "25")
    assert code == 2 and "--fps cannot be combined with --space" in text
    code, text = tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out",
                            str(tmp_path / "x"), "--space", "nope")
    assert code == 2 and "unknown search space 'nope'" in text


def test_each_video_is_decoded_once_for_all_caches(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "urmp"
    urmp_with_boxes(root)  # 2 s, 25 fps, two players sharing the ensemble video
    full = PrepareSettings(8000, 25.0, (32, 32), 3)
    small = PrepareSettings(8000, 10.0, (16, 16), 1)
    decoded: list[int] = []
    real = video_module.iter_frames

    def counting(source, indices, chunk=64):
        decoded.append(len(indices))
        return real(source, indices, chunk)

    monkeypatch.setattr(video_module, "iter_frames", counting)
    prepare_many("urmp", root, [CacheTarget(tmp_path / "a", full),
                                CacheTarget(tmp_path / "b", small)])
    assert decoded == [50]  # one pass over the union of the 50 and the 20 frames
    prepare("urmp", root, tmp_path / "a1", full)
    prepare("urmp", root, tmp_path / "b1", small)
    assert decoded == [50, 50, 20]
    for joint, alone in (("a", "a1"), ("b", "b1")):
        for part in ("1_vn", "2_vc"):
            rel = Path("tracks/01_Jupiter_vn_vc/video") / f"{part}.npy"
            assert np.array_equal(np.load(tmp_path / joint / rel),
                                  np.load(tmp_path / alone / rel))
    assert np.load(tmp_path / "b" / "tracks/01_Jupiter_vn_vc/video/1_vn.npy").shape == \
        (20, 16, 16, 1)


def test_a_singer_video_without_a_face_falls_back_to_the_centre(tmp_path: Path) -> None:
    root = tmp_path / "ursing"
    for song in ("song01", "song02"):
        for stem in ("mixture", "vocals", "accompaniment"):
            tl.wav(root / song / f"{stem}.wav", 0.5)
        tl.write_mp4(root / song / "video.mp4", seconds=0.5)  # moving shapes, no face
    (a, b) = prepare_many("ursing", root, [
        CacheTarget(tmp_path / "a", PrepareSettings(8000, 25.0, (16, 16))),
        CacheTarget(tmp_path / "b", PrepareSettings(8000, 10.0, (8, 8)))])
    for result, frames in ((a, 12), (b, 4)):  # the video holds 12 frames: 0.48 s
        index = json.loads(result.index_path.read_text())
        vocals = index["tracks"][0]["sources"][0]
        assert vocals["crop_from"] == "centre"
        assert np.load(result.index_path.parent / vocals["video"]).shape[0] == frames


def test_channels_setting_downmixes_and_is_checked_by_resolution(tmp_path: Path) -> None:
    root = tl.musdb_tree(tmp_path / "musdb")  # 44.1 kHz stereo
    prepare("musdb18", root, tmp_path / "stereo", PrepareSettings(8000))
    mono = prepare("musdb18", root, tmp_path / "mono", PrepareSettings(8000, channels=1))
    rel = Path("tracks/A_Band_-_Song/audio/vocals.npy")
    both, one = np.load(tmp_path / "stereo" / rel), np.load(tmp_path / "mono" / rel)
    assert both.shape[0] == 2 and one.shape == (1, both.shape[1])
    assert np.abs(both.astype(np.float64).mean(axis=0) - one[0]).max() <= 1.0  # int16 rounding
    assert json.loads(mono.index_path.read_text())["channels"] == 1
    spec = _build_spec({"name": "attr_dnn", "preset": "tiny"})  # 16 kHz mono
    prepare("musdb18", root, tmp_path / "all" / "x", PrepareSettings(spec.stft.sample_rate,
                                                                     channels=2))
    with pytest.raises(Exception, match=r"2 audio channel\(s\), model needs 1") as err:
        resolve_cache(tmp_path / "all", spec)
    assert "--channels 1" in str(err.value)

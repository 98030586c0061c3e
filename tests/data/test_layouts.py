"""Each layout reader on a tiny tree in that dataset's exact naming, written here."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avsep.cli import main as cli
from avsep.data.layouts import LAYOUTS, read_layout
from avsep.data.records import DataError
from avsep.data.splits import assign_splits
from tests.data.test_video import write_mp4


def wav(path: Path, seconds: float = 0.25, rate: int = 8000, channels: int = 1,
        freq: float = 220.0) -> Path:
    t = np.arange(int(round(seconds * rate))) / rate
    audio = np.stack([0.3 * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)])
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.T, rate, subtype="PCM_16")
    return path


def by_id(records: list) -> dict:
    return {r.track_id: r for r in records}


# ---------------------------------------------------------------------------- MUSDB18


def musdb_tree(root: Path) -> Path:
    for subset, name in (("train", "Actions - One Minute Smile"), ("train", "A Band - Song"),
                         ("test", "Some One - Test Song")):
        for stem in ("mixture", "vocals", "drums", "bass", "other"):
            wav(root / subset / name / f"{stem}.wav", rate=44100, channels=2)
    return root


def test_musdb18_tracks_splits_and_stems(tmp_path: Path) -> None:
    records, problems = read_layout("musdb18", musdb_tree(tmp_path))
    assert problems == []
    tracks = by_id(records)
    assert {k: t.split for k, t in tracks.items()} == {
        "Actions - One Minute Smile": "val", "A Band - Song": "train",
        "Some One - Test Song": "test"}
    track = tracks["A Band - Song"]
    assert [s.name for s in track.sources] == ["vocals", "drums", "bass", "other"]
    assert (track.sample_rate, track.channels, track.performer) == (44100, 2, "A Band")
    assert track.duration_s == pytest.approx(0.25, abs=1e-4)
    assert track.mixture_path.name == "mixture.wav"


@pytest.mark.parametrize("damage, message", [
    (lambda t: (t / "vocals.wav").unlink(), "missing file"),
    (lambda t: wav(t / "drums.wav", rate=22050, channels=2), "wrong sample rate: 22050 Hz"),
    (lambda t: wav(t / "bass.wav", rate=44100, channels=1), "mono/stereo mismatch"),
    (lambda t: wav(t / "other.wav", seconds=0.1, rate=44100, channels=2), "shorter"),
])
def test_musdb18_bad_files_raise_or_are_skipped(tmp_path: Path, damage, message) -> None:
    root = musdb_tree(tmp_path)
    track = root / "train" / "A Band - Song"
    damage(track)
    with pytest.raises(DataError, match=message) as err:
        read_layout("musdb18", root)
    assert err.value.path.parent == track
    records, problems = read_layout("musdb18", root, skip_bad=True)
    assert "A Band - Song" not in by_id(records) and len(records) == 2
    assert len(problems) == 1 and message.split(":")[0] in problems[0].message
    assert problems[0].path.parent == track


def test_audio_shorter_than_the_clip(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="audio shorter than the clip"):
        read_layout("musdb18", musdb_tree(tmp_path), min_seconds=1.0)


# ---------------------------------------------------------------------------- URMP


def urmp_piece(root: Path, folder: str, seconds: float = 1.0) -> Path:
    num, piece, *codes = folder.split("_")
    base = root / folder
    wav(base / f"AuMix_{folder}.wav", seconds)
    for k, code in enumerate(codes, start=1):
        wav(base / f"AuSep_{k}_{code}_{num}_{piece}.wav", seconds, freq=220 * k)
        (base / f"F0s_{k}_{code}_{num}_{piece}.txt").write_text(
            "".join(f"{t / 100:.2f}\t{220.0 * k if t > 10 else 0:.1f}\n" for t in range(100)))
        (base / f"Notes_{k}_{code}_{num}_{piece}.txt").write_text(
            f"0.1\t{57 + k}\t0.5\n0.7\t{60 + k}\t0.2\n")
    write_mp4(base / f"Vid_{folder}.mp4", seconds=seconds)
    return base


def test_urmp_naming_instruments_annotations_and_splits(tmp_path: Path) -> None:
    urmp_piece(tmp_path, "01_Jupiter_vn_vc")
    urmp_piece(tmp_path, "12_Spring_fl_tpt_tba")
    (tmp_path / "avsep_splits.json").write_text(json.dumps({"01_Jupiter_vn_vc": "test"}))
    records, problems = read_layout("urmp", tmp_path)
    assert problems == []
    tracks = by_id(records)
    jupiter, spring = tracks["01_Jupiter_vn_vc"], tracks["12_Spring_fl_tpt_tba"]
    assert (jupiter.split, spring.split) == ("test", "unknown")
    assert [(s.name, s.instrument) for s in spring.sources] == [
        ("1_fl", "flute"), ("2_tpt", "trumpet"), ("3_tba", "tuba")]
    assert all(s.video_path.name == "Vid_12_Spring_fl_tpt_tba.mp4" for s in spring.sources)
    assert set(jupiter.sources[1].annotations) == {"f0", "notes"}
    assert jupiter.sources[1].annotations["f0"].name == "F0s_2_vc_01_Jupiter.txt"
    assert jupiter.piece == "01_Jupiter" and jupiter.sample_rate == 8000


def test_urmp_unknown_instrument_and_truncated_video(tmp_path: Path) -> None:
    urmp_piece(tmp_path, "01_Jupiter_vn_vc")
    bad = urmp_piece(tmp_path, "02_Sonata_vn_xx")
    with pytest.raises(DataError, match="unknown instrument name 'xx'") as err:
        read_layout("urmp", tmp_path)
    assert err.value.path == bad / "AuSep_2_xx_02_Sonata.wav"
    records, problems = read_layout("urmp", tmp_path, skip_bad=True)
    assert [r.track_id for r in records] == ["01_Jupiter_vn_vc"] and len(problems) == 1
    (bad / "AuSep_2_xx_02_Sonata.wav").rename(bad / "AuSep_2_vc_02_Sonata.wav")
    bad.rename(tmp_path / "02_Sonata_vn_vc")
    for p in (tmp_path / "02_Sonata_vn_vc").glob("*_02_Sonata_vn_xx*"):
        p.rename(p.with_name(p.name.replace("vn_xx", "vn_vc")))
    video = tmp_path / "02_Sonata_vn_vc" / "Vid_02_Sonata_vn_vc.mp4"
    video.write_bytes(video.read_bytes()[:2000])
    with pytest.raises(DataError, match="corrupt or truncated video") as err:
        read_layout("urmp", tmp_path)
    assert err.value.path == video


# ---------------------------------------------------------------------------- Solos


def test_solos_instrument_folders_and_sound_tracks(tmp_path: Path) -> None:
    t = np.arange(16000) / 8000
    write_mp4(tmp_path / "videos" / "Violin" / "JrNn2Ns7k-g.mp4", seconds=2.0,
              audio=0.3 * np.sin(2 * np.pi * 440 * t)[None], sample_rate=8000)
    write_mp4(tmp_path / "videos" / "DoubleBass" / "GxvCwJfkr4A.mp4", seconds=1.0)
    wav(tmp_path / "audio" / "DoubleBass" / "GxvCwJfkr4A.wav", 1.0)
    (tmp_path / "solos_timestamps.json").write_text(json.dumps(
        {"Violin": {"JrNn2Ns7k-g": [[0, 40]]}}))
    (tmp_path / "avsep_splits.json").write_text(json.dumps({"GxvCwJfkr4A": "train"}))
    records, problems = read_layout("solos", tmp_path)
    assert problems == []
    violin, bass = by_id(records)["Violin_JrNn2Ns7k-g"], by_id(records)["DoubleBass_GxvCwJfkr4A"]
    assert violin.sources[0].audio_path.suffix == ".mp4" and violin.sample_rate == 8000
    assert violin.extra["timestamps"] == [[0, 40]] and violin.split == "unknown"
    assert (bass.sources[0].instrument, bass.split) == ("double_bass", "train")
    assert bass.sources[0].audio_path.suffix == ".wav"
    write_mp4(tmp_path / "videos" / "Banjo" / "zzz.mp4", seconds=0.2)
    with pytest.raises(DataError, match="unknown instrument name 'Banjo'") as err:
        read_layout("solos", tmp_path)
    assert err.value.path.name == "Banjo"


# ---------------------------------------------------------------------------- Acappella


def acappella_tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.csv").write_text(
        "ID,Repeat,Init,Fin,Length (s),Song Name,Link,Comments,Singer,Language,Gender\n"
        "aB3_x-9,,0.10,0.20,10,Hallelujah,youtube.com/watch?v=aB3_x-9,,Ana,English,Female\n")
    (root / "test_unseen.csv").write_text(
        "ID,Repeat,Init,Fin,Length (s),Song Name,Link,Comments,Singer,Language,Gender\n"
        "Zz1,,1.00,1.10,10,Cancion,youtube.com/watch?v=Zz1,,Luis,Spanish,Male\n")
    for subset, lang, gender, sample in (
            ("train", "English", "Female", "aB3_x-9_0_1_to_0_2"),
            ("test_unseen_spanish_male", "Spanish", "Male", "Zz1_1_0_to_1_1")):
        base = root / "splits" / subset
        wav(base / "audio" / lang / gender / f"{sample}.wav", 0.4, rate=16384)
        for kind, array in (("frames", np.zeros((10, 128, 96, 3), dtype=np.uint8)),
                            ("landmarks", np.full((10, 68, 2), 50, dtype=np.int16))):
            (base / kind / lang / gender).mkdir(parents=True, exist_ok=True)
            np.save(base / kind / lang / gender / f"{sample}.npy", array)
    return root


def test_acappella_preprocessed_tree_and_csv_metadata(tmp_path: Path) -> None:
    records, problems = read_layout("acappella", acappella_tree(tmp_path))
    assert problems == []
    train, test = by_id(records)["aB3_x-9_0_1_to_0_2"], by_id(records)["Zz1_1_0_to_1_1"]
    assert (train.split, train.performer, train.piece) == ("train", "Ana", "Hallelujah")
    assert (test.split, test.extra["subset"]) == ("test", "test_unseen_spanish_male")
    assert train.sources[0].video_path.suffix == ".npy" and train.sample_rate == 16384
    assert "landmarks" in train.sources[0].annotations
    frames = tmp_path / "splits/train/frames/English/Female/aB3_x-9_0_1_to_0_2.npy"
    frames.unlink()
    with pytest.raises(DataError, match="missing file") as err:
        read_layout("acappella", tmp_path)
    assert err.value.path == frames


def test_acappella_raw_samples_split_by_csv(tmp_path: Path) -> None:
    acappella_tree(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "splits")
    t = np.arange(8000) / 8000
    write_mp4(tmp_path / "samples" / "Zz1_1_0_to_1_1.mp4", seconds=1.0,
              audio=0.3 * np.sin(2 * np.pi * 300 * t)[None], sample_rate=8000)
    records, _ = read_layout("acappella", tmp_path)
    assert [(r.track_id, r.split, r.performer) for r in records] == [
        ("Zz1_1_0_to_1_1", "test", "Luis")]


# ---------------------------------------------------------------------------- MIR-1K


def mir1k_tree(root: Path) -> Path:
    for stem in ("abjones_1_01", "abjones_1_02", "amy_2_01", "bobon_3_01"):
        wav(root / "Wavfile" / f"{stem}.wav", 0.5, rate=16000, channels=2)
        label = root / "vocal-nonvocalLabel" / f"{stem}.vocal"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("0\n" * 10 + "1\n" * 14)
    wav(root / "UndividedWavfile" / "abjones_1.wav", 1.0, rate=16000, channels=2)
    return root


def test_mir1k_channels_labels_and_huang_split(tmp_path: Path) -> None:
    records, problems = read_layout("mir1k", mir1k_tree(tmp_path), val_fraction=0.5)
    assert problems == []
    splits = {r.track_id: r.split for r in records}
    assert splits == {"abjones_1_01": "train", "abjones_1_02": "train", "amy_2_01": "val",
                      "bobon_3_01": "test"}
    track = by_id(records)["abjones_1_01"]
    assert [s.name for s in track.sources] == ["accompaniment", "vocals"]
    assert track.extra["channel_map"] == {"accompaniment": 0, "vocals": 1}
    assert track.channels == 1 and track.sample_rate == 16000
    assert track.annotations["vad"].name == "abjones_1_01.vocal"
    undivided, _ = read_layout("mir1k", tmp_path, variant="undivided")
    assert [r.track_id for r in undivided] == ["abjones_1"] and undivided[0].annotations == {}


def test_mir1k_mono_file_is_a_mismatch(tmp_path: Path) -> None:
    mono = wav(mir1k_tree(tmp_path) / "Wavfile" / "amy_2_01.wav", 0.5, rate=16000)
    with pytest.raises(DataError, match="mono/stereo mismatch") as err:
        read_layout("mir1k", tmp_path)
    assert err.value.path == mono
    with pytest.raises(DataError, match="unknown MIR-1K variant"):
        read_layout("mir1k", tmp_path, variant="halves")


# ---------------------------------------------------------------------------- URSing


def test_ursing_default_and_described_trees(tmp_path: Path) -> None:
    for song in ("song01", "song02"):
        for stem in ("mixture", "vocals", "accompaniment"):
            wav(tmp_path / "a" / song / f"{stem}.wav", 0.5)
        write_mp4(tmp_path / "a" / song / "video.mp4", seconds=0.5)
    records, problems = read_layout("ursing", tmp_path / "a")
    # no split in the description: avsep.data.splits assigns one
    assert problems == [] and [r.split for r in records] == ["unknown", "unknown"]
    vocals, accompaniment = records[0].sources
    assert vocals.video_path.name == "video.mp4" and accompaniment.video_path is None

    root = tmp_path / "b"
    for singer in ("s1", "s2"):
        wav(root / "audio" / f"{singer}_solo.wav", 0.5)
        wav(root / "audio" / f"{singer}_backing.wav", 0.5)
        (root / "clips" / singer).mkdir(parents=True)
    (root / "avsep_layout.yaml").write_text(
        "tracks: clips/*\nmixture: null\nvideo: null\nsplits_file: splits.json\n"
        "sources:\n  voice: {audio: 'audio/{track}_solo.wav', role: vocals}\n"
        "  band: {audio: 'audio/{track}_backing.wav', role: accompaniment}\n")
    (root / "splits.json").write_text(json.dumps({"s1": "train"}))
    records, _ = read_layout("ursing", root)
    assert [(r.track_id, r.split, [s.name for s in r.sources]) for r in records] == [
        ("s1", "train", ["voice", "band"]), ("s2", "unknown", ["voice", "band"])]
    with pytest.raises(DataError, match="track 's2' has no train/val/test split under policy "
                                        "'layout_description'"):
        assign_splits("ursing", root, records)
    (root / "splits.json").write_text(json.dumps({"s1": "train", "s2": "test"}))
    records, _ = read_layout("ursing", root)
    assert assign_splits("ursing", root, records).name == "layout_description"
    assert [r.split for r in records] == ["train", "test"]
    with pytest.raises(DataError, match="unknown role 'choir'"):
        read_layout("ursing", root, sources={"v": {"audio": "audio/{track}_solo.wav",
                                                   "role": "choir"}})


# ---------------------------------------------------------------------------- registry + CLI


def test_registry_names_every_layout_and_rejects_others(tmp_path: Path) -> None:
    assert set(LAYOUTS) == {"musdb18", "urmp", "solos", "acappella", "mir1k", "ursing",
                            "avsep_synth"}
    with pytest.raises(ValueError, match="valid layouts: musdb18, urmp"):
        read_layout("musdb", tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        read_layout("urmp", tmp_path / "absent")
    with pytest.raises(ValueError, match=r"no option\(s\) \['varient'\]; its options: .*variant"):
        read_layout("mir1k", tmp_path, varient="undivided")
    with pytest.raises(ValueError, match="unknown URSing option"):
        read_layout("ursing", tmp_path, trax="*")


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(list(argv))
    return code, out.getvalue()


def test_inspect_json_lists_tracks_and_problems(tmp_path: Path) -> None:
    root = musdb_tree(tmp_path)
    (root / "test" / "Some One - Test Song" / "bass.wav").unlink()
    code, text = run_cli("data", "inspect", "--layout", "musdb18", "--root", str(root), "--json")
    report = json.loads(text)
    assert code == 1
    assert sorted(t["track_id"] for t in report["tracks"]) == [
        "A Band - Song", "Actions - One Minute Smile"]
    assert report["tracks"][0]["sources"][0]["role"] == "vocals"
    assert len(report["problems"]) == 1
    assert report["problems"][0]["path"].endswith("bass.wav")
    assert "missing file" in report["problems"][0]["message"]
    code, text = run_cli("data", "inspect", "--layout", "musdb18", "--root", str(root),
                         "--skip-bad")
    assert code == 0 and "2 track(s), 1 problem(s)" in text and "A Band - Song" in text
    code, _ = run_cli("data", "inspect", "--layout", "mir1k", "--root", str(root))
    assert code == 2

"""`avsep synth` end to end on a tiny corpus: files, determinism, splits, AV links, readers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch  # noqa: F401 - torch is imported before decord (decord hangs otherwise)

from avsep.data.records import URMP_INSTRUMENTS, DataError
from avsep.data.synth import naming
from avsep.data.synth.corpus import FPS, SAMPLE_RATE, generate

MINUTES, TRACK_SECONDS = 0.4, 4.0  # 3 songs + 3 pieces of 4 s


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "corpus"
    generate(out, minutes=MINUTES, seed=0, track_seconds=TRACK_SECONDS, progress=False)
    return out


def content_files(root: Path) -> dict[str, bytes]:
    """Every WAV, NPY, JSON and TXT file under ``root`` (relative path -> bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.suffix in {".wav", ".npy", ".json", ".txt"}}


def test_same_seed_same_bytes_other_seed_differs(corpus: Path, tmp_path: Path):
    again = tmp_path / "again"
    generate(again, minutes=MINUTES, seed=0, track_seconds=TRACK_SECONDS, progress=False)
    first, second = content_files(corpus), content_files(again)
    assert sorted(first) == sorted(second)
    assert any(name.endswith(".wav") for name in first)
    different = [name for name in first if first[name] != second[name]]
    assert different == []
    other = tmp_path / "other"
    generate(other, minutes=MINUTES, seed=1, track_seconds=TRACK_SECONDS, progress=False)
    third = content_files(other)
    wav_a = sorted(v for k, v in first.items() if k.endswith("mixture.wav"))
    wav_b = sorted(v for k, v in third.items() if k.endswith("mixture.wav"))
    assert len(wav_a) == len(wav_b) and all(a != b for a, b in zip(wav_a, wav_b, strict=True))
    assert json.loads(first["corpus.json"])["seed"] == 0
    assert json.loads(third["corpus.json"])["seed"] == 1


def test_refuses_to_overwrite_without_asking(corpus: Path):
    with pytest.raises(FileExistsError, match="corpus.json"):
        generate(corpus, minutes=MINUTES, seed=0, track_seconds=TRACK_SECONDS, progress=False)


def singing_tracks(corpus: Path) -> list[Path]:
    return sorted((corpus / "singing").glob("*/*/track.json"))


def test_wavs_round_trip_and_mixtures_are_sums(corpus: Path):
    lsb = 1 / 32768
    for meta_path in singing_tracks(corpus):
        folder = meta_path.parent
        meta = json.loads(meta_path.read_text())
        audio = {}
        for name in ("mixture", "vocals", "accompaniment", "extra_vocals"):
            data, rate = sf.read(folder / f"{name}.wav", dtype="float64")
            info = sf.info(str(folder / f"{name}.wav"))
            assert rate == SAMPLE_RATE and info.subtype == "PCM_16" and data.ndim == 1
            assert len(data) == meta["num_samples"] == int(TRACK_SECONDS * SAMPLE_RATE)
            assert np.abs(data).max() <= 0.9 + lsb and np.sqrt(np.mean(data**2)) > 0.01
            audio[name] = data
        residual = audio["mixture"] - audio["vocals"] - audio["accompaniment"]
        assert np.abs(residual).max() <= 2 * lsb
    for mix in sorted((corpus / "urmp").glob("*/AuMix_*.wav")):
        parts = sorted(mix.parent.glob("AuSep_*.wav"))
        total = sum(sf.read(p, dtype="float64")[0] for p in parts)
        mixture, rate = sf.read(mix, dtype="float64")
        assert rate == SAMPLE_RATE
        assert np.abs(mixture - total).max() <= len(parts) * lsb


def mouth_darkness(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    out = []
    for frame, box in zip(frames.astype(np.float32), boxes, strict=True):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        luma = frame[y0:y1, x0:x1].mean(-1)
        out.append(np.mean(luma < 0.4 * np.percentile(luma, 90)))
    return np.array(out)


def decode(path: Path) -> np.ndarray:
    import decord

    reader = decord.VideoReader(str(path))
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def at_fps(values_100hz: np.ndarray, frames: int) -> np.ndarray:
    return values_100hz[: frames * 4].reshape(frames, 4).mean(axis=1)


def rms_per_frame(audio: np.ndarray, frames: int) -> np.ndarray:
    hop = SAMPLE_RATE // FPS
    return np.sqrt(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1))


def test_singer_mouth_follows_own_syllables_not_others(corpus: Path):
    tracks = singing_tracks(corpus)
    envelopes = {p: np.load(p.parent / "envelope.npy") for p in tracks}
    frames_expected = int(TRACK_SECONDS * FPS)
    for meta_path in tracks:
        folder = meta_path.parent
        frames = decode(folder / "video.mp4")
        assert frames.shape == (frames_expected, 112, 112, 3)
        sidecar = json.loads((folder / "video.boxes.json").read_text())
        assert sidecar["fps"] == FPS and sidecar["size"] == [112, 112]
        boxes = np.array(sidecar["boxes"]["vocals"])
        assert boxes.shape == (frames_expected, 4)
        dark = mouth_darkness(frames, boxes)
        own = np.corrcoef(dark, at_fps(envelopes[meta_path], frames_expected))[0, 1]
        assert own > 0.7
        for other_path, envelope in envelopes.items():
            if other_path != meta_path:
                assert np.corrcoef(dark, at_fps(envelope, frames_expected))[0, 1] < own - 0.3
        # the off-screen voice is not what the mouth shows
        extra, _ = sf.read(folder / "extra_vocals.wav")
        vocals, _ = sf.read(folder / "vocals.wav")
        with_extra = np.corrcoef(dark, rms_per_frame(extra, frames_expected))[0, 1]
        with_own = np.corrcoef(dark, rms_per_frame(vocals, frames_expected))[0, 1]
        assert with_own > 0.5 and with_extra < with_own - 0.3
        vad = np.load(folder / "vad.npy")
        assert set(np.unique(vad)) <= {0.0, 1.0} and 0.2 < vad.mean() < 0.95


def notes_onset_frames(path: Path) -> np.ndarray:
    table = np.loadtxt(path, ndmin=2)
    return np.unique(np.ceil(table[:, 0] * FPS - 1e-6).astype(int))


def test_player_motion_in_the_urmp_video_follows_each_players_own_onsets(corpus: Path):
    checked = 0
    for video in sorted((corpus / "urmp").glob("*/Vid_*.mp4")):
        frames = decode(video).astype(np.float32)
        sidecar = json.loads(video.with_name(video.stem + ".boxes.json").read_text())
        assert sidecar["size"] == [frames.shape[2], frames.shape[1]]
        folder = video.parent
        number, piece = folder.name.split("_")[:2]
        energies, onsets = {}, {}
        for name, boxes in sidecar["boxes"].items():
            x0, y0, x1, y1 = (int(v) for v in boxes[0])
            cell = frames[:, y0:y1, x0:x1]
            energies[name] = np.concatenate([[0.0], np.abs(np.diff(cell, axis=0)).mean((1, 2, 3))])
            onsets[name] = notes_onset_frames(folder / f"Notes_{name}_{number}_{piece}.txt")
        for name, energy in energies.items():
            hits = onsets[name][(onsets[name] > 0) & (onsets[name] < len(energy))]
            own = energy[hits].mean()
            for other, other_hits in onsets.items():
                exclusive = np.setdiff1d(other_hits, np.concatenate([hits - 1, hits, hits + 1]))
                exclusive = exclusive[(exclusive > 0) & (exclusive < len(energy))]
                if other != name and len(exclusive) >= 2:
                    assert own > 2 * energy[exclusive].mean(), (video.name, name, other)
                    checked += 1
    assert checked > 0


def test_urmp_naming_and_reader(corpus: Path):
    from avsep.data.layouts import read_layout

    root = corpus / "urmp"
    splits = json.loads((root / "avsep_splits.json").read_text())
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    assert sorted(splits) == [f.name for f in folders]
    for folder in folders:
        match = naming.URMP_FOLDER.match(folder.name)
        assert match, folder.name
        number, piece, codes = match[1], match[2], match[3].strip("_").split("_")
        assert 2 <= len(codes) <= 4 and len(set(codes)) == len(codes)
        expected = {f"AuMix_{folder.name}.wav", f"Vid_{folder.name}.mp4",
                    f"Vid_{folder.name}.boxes.json"}
        for k, code in enumerate(codes, start=1):
            for kind, ext in (("AuSep", "wav"), ("Notes", "txt"), ("F0s", "txt")):
                expected.add(f"{kind}_{k}_{code}_{number}_{piece}.{ext}")
        assert {p.name for p in folder.iterdir()} == expected
    records, problems = read_layout("urmp", root)
    assert problems == [] and len(records) == len(folders)
    for record in records:
        assert record.split == splits[record.track_id]
        assert record.sample_rate == SAMPLE_RATE
        assert record.duration_s == pytest.approx(TRACK_SECONDS)
        assert all(s.instrument in URMP_INSTRUMENTS for s in record.sources)
        boxes = json.loads(record.video_path.with_name(
            record.video_path.stem + ".boxes.json").read_text())["boxes"]
        assert sorted(boxes) == sorted(s.name for s in record.sources)


def test_splits_share_no_performer_and_no_piece(corpus: Path):
    from avsep.data.layouts import read_layout

    summary = json.loads((corpus / "corpus.json").read_text())
    for part in ("singing", "urmp"):
        by_split = summary[part]
        assert all(by_split[s]["count"] >= 1 for s in ("train", "val", "test"))
        for a in ("train", "val", "test"):
            for b in ("train", "val", "test"):
                if a < b:
                    for key in ("performers", "pieces", "extra_singers"):
                        shared = set(by_split[a].get(key, [])) & set(by_split[b].get(key, []))
                        assert not shared, (part, a, b, key, shared)
    # the same holds in what the readers and the per-piece metadata report
    records, _ = read_layout("avsep_synth", corpus / "singing")
    seen: dict[str, str] = {}
    for record in records:
        for who in (record.performer, record.piece, record.extra["extra_singer"]):
            assert seen.setdefault(who, record.split) == record.split
    meta = json.loads((corpus / "urmp" / "avsep_meta.json").read_text())
    seen = {}
    for entry in meta.values():
        for who in [s["player"] for s in entry["sources"]] + [entry["piece"]]:
            assert seen.setdefault(who, entry["split"]) == entry["split"]
    assert summary["counts"]["train"]["singing"] >= 1


def test_singing_reader_returns_records(corpus: Path):
    from avsep.data.layouts import read_layout

    records, problems = read_layout("avsep_synth", corpus)  # the corpus root works too
    assert problems == [] and len(records) == len(singing_tracks(corpus))
    for record in records:
        assert record.layout == "avsep_synth" and record.split in {"train", "val", "test"}
        assert [s.role for s in record.sources] == ["vocals", "accompaniment", "extra_vocals"]
        vocals = record.sources[0]
        assert vocals.video_path == record.video_path and record.video_path.is_file()
        assert set(vocals.annotations) == {"vad", "envelope"}
        assert record.sources[1].video_path is None and record.sources[2].video_path is None
        assert record.sample_rate == SAMPLE_RATE and record.channels == 1
        assert record.duration_s == pytest.approx(TRACK_SECONDS)
        assert record.performer.startswith("S") and record.piece
        assert record.annotations["boxes"].name == "video.boxes.json"


def one_track_copy(corpus: Path, tmp_path: Path) -> Path:
    source = singing_tracks(corpus)[0].parent
    target = tmp_path / "singing" / source.parent.name / source.name
    shutil.copytree(source, target)
    return target


def test_singing_reader_names_the_bad_file(corpus: Path, tmp_path: Path):
    from avsep.data.layouts import read_layout

    track = one_track_copy(corpus, tmp_path)
    (track / "vocals.wav").unlink()
    with pytest.raises(DataError, match="vocals.wav"):
        read_layout("avsep_synth", tmp_path / "singing")
    records, problems = read_layout("avsep_synth", tmp_path / "singing", skip_bad=True)
    assert records == [] and len(problems) == 1 and problems[0].path.name == "vocals.wav"


def test_singing_reader_checks_the_declared_sample_rate(corpus: Path, tmp_path: Path):
    from avsep.data.layouts import read_layout

    track = one_track_copy(corpus, tmp_path)
    meta = json.loads((track / "track.json").read_text())
    meta["sample_rate"] = 16000
    (track / "track.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="sample rate.*16000"):
        read_layout("avsep_synth", tmp_path / "singing")
    meta["split"] = "val"
    (track / "track.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="does not match the folder"):
        read_layout("avsep_synth", tmp_path / "singing")


def test_singing_reader_rejects_an_empty_root(tmp_path: Path):
    from avsep.data.layouts import read_layout

    with pytest.raises(DataError, match="no tracks found"):
        read_layout("avsep_synth", tmp_path)


def test_command_line(tmp_path: Path, capsys):
    from avsep.cli import main

    out = tmp_path / "cli"
    args = ["synth", "--out", str(out), "--minutes", "0.15", "--track-seconds", "3", "--quiet"]
    assert main(args) == 0
    assert (out / "corpus.json").is_file() and "wrote" in capsys.readouterr().out
    assert main(args) == 2
    assert "already there" in capsys.readouterr().err
    font = tmp_path / "tiny.sf2"
    assert main(args + ["--overwrite", "--soundfont", str(font)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "x"), "--minutes", "-1"]) == 2
    assert "positive" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "x"), "--minutes", "60"]) == 2
    assert "at most 99" in capsys.readouterr().err and not (tmp_path / "x").exists()

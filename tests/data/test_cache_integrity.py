"""A damaged prepared cache is named, not crashed on (issue 21, item 4).

``prepare`` records each file's size and sha256; runs check sizes before they start and the
sha256 at a file's first read; the error names the file and the ``avsep prepare`` command that
rewrites it; an index written before the records existed is read with one warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from avsep.data import integrity
from avsep.data.datasets import load_cache, make_dataset
from avsep.data.datasets.synthetic_cache import make_demo_cache, make_tiny_singing_cache
from avsep.data.integrity import (
    CacheIntegrityError,
    FileRecord,
    check_sizes,
    content_problem,
    record_files,
    rewrite_command,
    size_problem,
)
from avsep.data.prepare import PrepareSettings, prepare
from tests.data import test_layouts as tl
from tests.data.cache_factory import tiny_spec


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip_byte(path: Path, offset: int = -1) -> None:
    """Change one byte of ``path`` in place (its size stays the same)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, by: int = 100) -> int:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size - by)
    return size


def strip_records(cache: Path) -> None:
    """Make ``cache``'s index look written before sizes and checksums were recorded."""
    index = json.loads((cache / "index.json").read_text())
    for track in index["tracks"]:
        track.pop("files")
    (cache / "index.json").write_text(json.dumps(index))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_cache(tmp_path_factory.mktemp("demo") / "cache", seconds=2.0,
                           instruments=("violin",), seed=5)


@pytest.fixture
def copy(demo: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo, tmp_path / "cache"))


# ------------------------------------------------------------------------------ units


def test_record_files_sizes_and_sha256(tmp_path: Path) -> None:
    track = tmp_path / "tracks" / "a"
    (track / "audio").mkdir(parents=True)
    np.save(track / "audio" / "vocals.npy", np.arange(1000, dtype=np.int16)[None])
    (track / "track.json").write_text("{}")
    files = record_files(track, "tracks/a")
    assert list(files) == ["tracks/a/audio/vocals.npy"]  # track.json is not a data file
    path = track / "audio" / "vocals.npy"
    assert files["tracks/a/audio/vocals.npy"] == {"size": 2128, "sha256": sha256(path)}
    assert path.stat().st_size == 2128


def test_size_and_content_problems(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(b"0123456789")
    record = FileRecord(10, sha256(path))
    assert size_problem(path, record) is None and content_problem(path, record) is None
    flip_byte(path, 3)
    assert size_problem(path, record) is None  # same size: only the checksum sees it
    assert "checksum mismatch" in content_problem(path, record)
    assert "same size, 10 bytes" in content_problem(path, record)
    path.write_bytes(b"01234")
    assert size_problem(path, record) == "truncated: index.json records 10 bytes, found 5"
    path.write_bytes(b"0123456789ab")
    assert size_problem(path, record) == "longer than written: index.json records 10 bytes, " \
                                         "found 12"
    path.unlink()
    assert size_problem(path, record) == "missing file (index.json records 10 bytes)"


def test_rewrite_command_from_what_the_index_records(tmp_path: Path) -> None:
    policy = {"name": "hash", "source": "seeded", "seed": 7, "fractions": [0.6, 0.2, 0.2],
              "counts": {}}
    space = {"layout": "musdb18", "root": "/data/musdb", "split_policy": policy,
             "space": "attribute_aware", "preset": "paper", "sample_rate": 16000}
    cache = tmp_path / "caches" / "sr16000_mono_audio"
    assert rewrite_command(space, cache) == (
        f"avsep prepare --layout musdb18 --root /data/musdb --split-seed 7 --split-fractions "
        f"0.6,0.2,0.2 --out {tmp_path / 'caches'} --space attribute_aware --preset paper")
    model = {"layout": "urmp", "root": "/data/urmp", "model": "cunet", "preset": "tiny",
             "split_policy": {"name": "official"}}
    assert rewrite_command(model, cache) == (
        f"avsep prepare --layout urmp --root /data/urmp --out {cache} --model cunet "
        "--preset tiny")
    explicit = {"layout": "urmp", "root": "/d", "sample_rate": 8000, "fps": 25.0,
                "crop": [16, 16], "video_channels": 1, "channels": 1}
    assert rewrite_command(explicit, cache) == (
        f"avsep prepare --layout urmp --root /d --out {cache} --sample-rate 8000 --channels 1 "
        "--fps 25 --crop 16x16 --gray")
    unknown = rewrite_command({"sample_rate": 8000}, cache)
    assert unknown.startswith("avsep prepare --layout LAYOUT --root /path/to/dataset --out")
    assert "records no dataset layout and root" in unknown


def test_check_sizes_reads_only_the_splits_asked_and_lists_every_bad_file(copy: Path) -> None:
    files = json.loads((copy / "index.json").read_text())["tracks"]
    test_files = [copy / rel for t in files if t["split"] == "test" for rel in t["files"]]
    total = sum(len(t["files"]) for t in files)
    assert check_sizes(copy) == total
    for path in test_files[:7]:
        truncate(path)
    assert check_sizes(copy, ("train", "val")) == total - len(test_files)
    with pytest.raises(CacheIntegrityError) as err:
        check_sizes(copy, ("test",))
    assert err.value.path == test_files[0]
    text = str(err.value)
    assert "truncated: index.json records" in text
    assert "6 more file(s) of the cache too" in text and "and 2 more" in text
    assert f"rewrite it with:\n  avsep prepare --layout LAYOUT --root /path/to/dataset " \
           f"--out {copy}" in text


# ------------------------------------------------------------------------------ prepare


def test_prepare_records_every_file_and_rewrites_only_damaged_tracks(tmp_path: Path) -> None:
    root, out = tl.musdb_tree(tmp_path / "musdb"), tmp_path / "cache"
    settings = PrepareSettings(sample_rate=8000)
    assert prepare("musdb18", root, out, settings).written == 3
    index = json.loads((out / "index.json").read_text())
    recorded = {rel: rec for t in index["tracks"] for rel, rec in t["files"].items()}
    on_disk = sorted(p.relative_to(out).as_posix() for p in (out / "tracks").rglob("*.npy"))
    assert sorted(recorded) == on_disk and len(on_disk) == 15  # 3 tracks x (4 stems + mix)
    for rel, rec in recorded.items():
        assert rec == {"size": (out / rel).stat().st_size, "sha256": sha256(out / rel)}
    assert check_sizes(out) == 15

    again = prepare("musdb18", root, out, settings)
    assert (again.written, again.reused) == (0, 3)
    victim = out / "tracks" / "A_Band_-_Song" / "audio" / "vocals.npy"
    other = out / "tracks" / "Some_One_-_Test_Song" / "audio" / "bass.npy"
    before = other.stat().st_mtime_ns
    flip_byte(victim)
    repaired = prepare("musdb18", root, out, settings)
    assert (repaired.written, repaired.reused) == (1, 2)  # only the damaged track rewritten
    assert sha256(victim) == recorded[victim.relative_to(out).as_posix()]["sha256"]
    assert other.stat().st_mtime_ns == before
    assert json.loads((out / "index.json").read_text()) == index

    # a track prepared before records existed is rewritten to record them
    marker = out / "tracks" / "A_Band_-_Song" / "track.json"
    done = json.loads(marker.read_text())
    del done["entry"]["files"]
    marker.write_text(json.dumps(done))
    assert prepare("musdb18", root, out, settings).written == 1
    assert json.loads((out / "index.json").read_text()) == index


# ------------------------------------------------------------------------------ reading


def test_same_size_damage_is_named_at_first_read(copy: Path) -> None:
    index = load_cache(copy)
    damaged = {s.audio for t in index.split("train") for s in t.sources}
    for path in damaged:
        flip_byte(path)
    dataset = make_dataset("singing", copy, tiny_spec(), "train", length=4)  # headers only
    with pytest.raises(CacheIntegrityError) as err:
        dataset[0]
    assert err.value.path in damaged
    assert "checksum mismatch" in str(err.value)
    assert f"avsep prepare --layout LAYOUT --root /path/to/dataset --out {copy}" in str(err.value)


def test_checksum_is_verified_once_per_process_and_file(copy: Path, monkeypatch) -> None:
    calls: list[Path] = []
    digest = integrity.file_digest
    monkeypatch.setattr(integrity, "_verified", set())
    monkeypatch.setattr(integrity, "file_digest", lambda p: calls.append(p) or digest(p))
    train = make_dataset("singing", copy, tiny_spec(), "train", length=8)
    for epoch in range(2):
        train.set_epoch(epoch)
        for i in range(len(train)):
            train[i]
    again = make_dataset("singing", copy, tiny_spec(), "train", length=8)  # a second reader
    for i in range(len(again)):
        again[i]
    assert calls and len(calls) == len(set(calls))  # each file hashed once in this process
    assert set(calls) <= set(load_cache(copy).checks)


def test_an_index_without_records_is_read_with_one_warning(copy: Path, capsys) -> None:
    strip_records(copy)
    assert check_sizes(copy) == 0
    index = load_cache(copy)
    assert index.checks == {}
    dataset = make_dataset("singing", index, tiny_spec(), "train", length=2)
    assert dataset[0]["mixture"].shape[-1] > 0
    err = capsys.readouterr().err
    assert err.count("record no file sizes or checksums") == 1  # once per cache and process
    assert f"avsep prepare --layout LAYOUT --root /path/to/dataset --out {copy}" in err


# ------------------------------------------------------------------------------ commands


def run_cli(*argv: str) -> tuple[int, str]:
    from avsep.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.mark.parametrize("command", ["tune", "train"])
def test_truncated_file_stops_the_command_before_any_trial(command: str, tmp_path: Path,
                                                            monkeypatch) -> None:
    import ray

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    cache = make_tiny_singing_cache(tmp_path / "cache")
    victim = cache / "tracks" / "train-song1" / "video" / "vocals.npy"
    size = truncate(victim, 1000)
    db = tmp_path / "mlflow.db"
    common = ["--data", str(cache), "--storage", str(tmp_path / "results"),
              "--mlflow-uri", f"sqlite:///{db}"]
    if command == "tune":
        argv = ["tune", "--space", "av_singing", "--num-samples", "2", "--max-epochs", "1",
                *common]
    else:
        argv = ["train", "--model", "av_mmdensenet", "--preset", "tiny", "--epochs", "1",
                *common]
    code, text = run_cli(*argv)
    assert code == 2, text
    assert f"{victim}: truncated: index.json records {size} bytes, found {size - 1000}" in text
    assert f"avsep prepare --layout LAYOUT --root /path/to/dataset --out {cache}" in text
    assert "Traceback" not in text
    assert not ray.is_initialized()  # no trial, not even Ray, was started
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as con:
            tables = {r[0] for r in con.execute("select name from sqlite_master")}
            runs = con.execute("select count(*) from runs").fetchone()[0] if "runs" in tables \
                else 0
        assert runs == 0
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob(
        "params.json"))


@pytest.mark.slow
def test_same_size_damage_fails_the_trial_with_its_message(tmp_path: Path, monkeypatch) -> None:
    """The size check passes, so the search starts; the trial that first reads the damaged
    file fails (once: no retry) with the error naming it, and the search ends without a model."""
    import ray

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    cache = make_tiny_singing_cache(tmp_path / "cache")
    for track in load_cache(cache).split("train"):
        for source in track.sources:
            flip_byte(source.audio)
    storage = tmp_path / "results"
    try:
        code, text = run_cli("tune", "--space", "av_singing", "--data", str(cache),
                             "--num-samples", "1", "--max-epochs", "1", "--max-failures", "0",
                             "--finalists", "0", "--paper-points", "none", "--num-cpus", "2",
                             "--storage", str(storage))
    finally:
        ray.shutdown()
    assert code == 1, text  # no trial finished with a model
    assert "1 trials (1 failed)" in text
    (error,) = storage.glob("av_singing/*/error.txt")
    last = error.read_text().strip().splitlines()
    assert last[-3].startswith("avsep.data.integrity.CacheIntegrityError: ")
    assert any(f"{cache}/tracks/train-song{i}/" in last[-3] for i in (0, 1))
    assert "checksum mismatch" in last[-3]
    fix = rewrite_command(json.loads((cache / "index.json").read_text()), cache.resolve())
    assert last[-2:] == ["rewrite it with:", f"  {fix}"]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_eval_names_a_damaged_test_file(damage: str, tmp_path: Path, monkeypatch) -> None:
    import torch

    from avsep.models import build
    from avsep.models.package import save_model_package

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    config = {"name": "mmdensenet", "preset": "tiny"}
    torch.manual_seed(0)
    package = save_model_package(build(config), config, tmp_path / "model")
    cache = make_demo_cache(tmp_path / "cache", sample_rate=build(config).spec.stft.sample_rate,
                            seconds=2.0, singers={"train": 1, "val": 1, "test": 1},
                            extra_vocals=0, instruments=("violin",), solos=0, ensembles=0)
    victim = load_cache(cache).split("test")[0].by_role("vocals")[0].audio
    if damage == "truncate":
        truncate(victim)
    else:
        flip_byte(victim)
    code, text = run_cli("eval", "--model", str(package), "--data", str(cache), "--out",
                         str(tmp_path / "report"), "--test-seconds", "1", "--max-items", "1",
                         "--conditions", "plain")
    assert code == 2, text
    assert f"avsep eval: {victim}: " in text
    assert ("truncated" if damage == "truncate" else "checksum mismatch") in text
    assert f"avsep prepare --layout LAYOUT --root /path/to/dataset --out {cache}" in text
    assert not (tmp_path / "report" / "eval.md").exists()


def test_the_printed_prepare_command_rewrites_the_damaged_file(tmp_path: Path) -> None:
    import shlex

    root, cache = tl.musdb_tree(tmp_path / "musdb"), tmp_path / "cache"
    code, _ = run_cli("prepare", "--layout", "musdb18", "--root", str(root), "--out", str(cache),
                      "--sample-rate", "8000")
    assert code == 0
    victim = next((cache / "tracks").glob("*/audio/drums.npy"))
    recorded = sha256(victim)
    truncate(victim, 64)
    with pytest.raises(CacheIntegrityError) as err:
        check_sizes(cache)
    command = str(err.value).split("rewrite it with:\n  ", 1)[1]
    assert command == (f"avsep prepare --layout musdb18 --root {root.resolve()} --out "
                       f"{cache.resolve()} --sample-rate 8000")
    code, text = run_cli(*shlex.split(command)[1:])  # as printed
    assert code == 0 and "wrote 1 track(s), reused 2" in text
    assert sha256(victim) == recorded and check_sizes(cache) == 15

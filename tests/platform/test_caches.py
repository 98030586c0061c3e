"""Cache resolution: which cache feeds a model, and errors whose `avsep prepare` command,
run as printed, writes the cache that was missing."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from avsep.platform.caches import DataPathError, find_caches, resolve_cache
from tests.data import test_layouts as tl
from tests.data.cache_factory import tiny_spec

PIECES = ("01_Jupiter_vn_vc", "02_Spring_fl_tpt", "03_Waltz_ob_bn")


def index(path: Path, sample_rate: int, fps: float | None = None,
          crop: list[int] | None = None, splits: tuple[str, ...] = ("train", "val"),
          **extra: object) -> Path:
    """A hand-written cache index (no track data: resolution reads only index.json)."""
    path.mkdir(parents=True)
    (path / "index.json").write_text(json.dumps({
        "version": 1, "layout": "urmp", "sample_rate": sample_rate, "fps": fps, "crop": crop,
        "video_channels": 3, "tracks": [{"id": s, "split": s} for s in splits], **extra}))
    return path


def commands(message: str) -> list[list[str]]:
    """The `avsep prepare ...` command lines a message prints, as argv lists."""
    return [shlex.split(line.split("avsep ", 1)[1]) for line in message.splitlines()
            if re.search(r"(^|: )avsep prepare ", line.strip())]


def test_the_fitting_cache_with_the_lowest_sufficient_fps_wins(tmp_path: Path) -> None:
    index(tmp_path / "audio8k", 8000)
    index(tmp_path / "v10", 8000, 10.0, [16, 16])
    index(tmp_path / "v25", 8000, 25.0, [16, 16])
    index(tmp_path / "v50", 8000, 50.0, [16, 16])
    assert resolve_cache(tmp_path, tiny_spec(video=False)) == tmp_path / "audio8k"
    assert resolve_cache(tmp_path, tiny_spec(fps=25.0)) == (tmp_path / "v25").resolve()
    assert resolve_cache(tmp_path, tiny_spec(fps=12.5)) == (tmp_path / "v25").resolve()
    with pytest.raises(DataPathError, match=r"v10: video at 10.0 fps, model needs at least 60"):
        resolve_cache(tmp_path, tiny_spec(fps=60.0))
    assert [c.path.name for c in find_caches(tmp_path)] == ["audio8k", "v10", "v25", "v50"]


def test_the_old_import_path_still_works() -> None:
    from avsep.platform import data

    assert data.DataPathError is DataPathError and data.resolve_cache is resolve_cache


def test_error_names_the_recorded_dataset_and_the_space_form(tmp_path: Path) -> None:
    caches = tmp_path / "caches"
    index(caches / "sr4000_audio", 4000, root="/data/urmp",
          split_policy={"name": "hash", "source": "hash", "seed": 7,
                        "fractions": [0.6, 0.2, 0.2]})
    with pytest.raises(DataPathError) as err:
        resolve_cache(caches, tiny_spec(fps=25.0), space="conditioned_unet", preset="tiny")
    first, second = commands(str(err.value))
    assert first == ["prepare", "--layout", "urmp", "--root", "/data/urmp", "--split-seed", "7",
                     "--split-fractions", "0.6,0.2,0.2", "--out",
                     str(caches.resolve() / "sr8000_mono_fps25_crop16x16"), "--sample-rate",
                     "8000", "--channels", "1", "--fps", "25", "--crop", "16x16"]
    assert second[-4:] == ["--space", "conditioned_unet", "--preset", "tiny"]
    assert second[second.index("--out") + 1] == str(caches.resolve())
    # a cache that does not record its dataset: placeholders the user fills in
    index(tmp_path / "old", 4000)
    with pytest.raises(DataPathError, match="--layout LAYOUT --root /path/to/dataset"):
        resolve_cache(tmp_path / "old", tiny_spec(video=False))
    assert "then pass --data" in str(pytest.raises(
        DataPathError, resolve_cache, tmp_path / "old", tiny_spec(video=False)).value)


def test_the_printed_commands_write_the_missing_caches(tmp_path: Path) -> None:
    root, caches = tmp_path / "urmp", tmp_path / "caches"
    for piece in PIECES:
        tl.urmp_piece(root, piece, 1.0)
    code, _ = tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out",
                         str(caches / "audio"), "--sample-rate", "8000")
    assert code == 0
    spec = tiny_spec(clip_seconds=0.5, fps=10.0)  # 8 kHz, 16x16 crops at 10 fps
    with pytest.raises(DataPathError, match="crop None, model needs") as err:
        resolve_cache(caches, spec)
    (command,) = commands(str(err.value))
    code, _ = tl.run_cli(*command)
    assert code == 0
    cache = resolve_cache(caches, spec)
    assert cache.name == "sr8000_mono_fps10_crop16x16"
    assert json.loads((cache / "index.json").read_text())["root"] == str(root.resolve())

    # a cache without a val split: the advice re-splits that cache
    (root / "avsep_splits.json").write_text(json.dumps(dict.fromkeys(PIECES, "train")))
    code, _ = tl.run_cli("prepare", "--layout", "urmp", "--root", str(root), "--out",
                         str(tmp_path / "one" / "sr8000_audio"), "--sample-rate", "8000")
    assert code == 0
    with pytest.raises(DataPathError, match=r"has no \['val'\] tracks") as err:
        resolve_cache(tmp_path / "one", tiny_spec(video=False))
    (command,) = commands(str(err.value))
    assert command[-2:] == ["--split-policy", "hash"]
    code, _ = tl.run_cli(*command)
    assert code == 0
    assert resolve_cache(tmp_path / "one", tiny_spec(video=False)).name == "sr8000_audio"

"""Your own data: a URMP and a MIR-1K tree, written in their exact layouts with no split file,
go through the README's three commands (inspect, prepare --space, tune) with the default splits.

The trees are tiny (sine tones, 4 s per track) but real layouts: the URMP pieces carry AuMix,
AuSep, F0s, Notes and Vid files; the MIR-1K clips are stereo Wavfile/<singer>_<song>_<clip>.wav
with vocal-nonvocal labels. Asserted: every track gets a split, the splits are piece- and
singer-disjoint and recorded in the cache index, and a 1-trial search trains on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.test_layouts import urmp_piece, wav

SMOKE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"
SECONDS = 4.0
URMP_PIECES = ("01_Jupiter_vn_vc", "02_Spring_fl_tpt", "03_Waltz_ob_bn", "04_Elegy_va_vc",
               "05_Minuet_cl_hn")
MIR1K_SINGERS = ("abjones", "amy", "bobon", "davidson", "heycat", "jmzen")


def write_urmp(root: Path) -> Path:
    for piece in URMP_PIECES:
        urmp_piece(root, piece, SECONDS)
    return root


def write_mir1k(root: Path) -> Path:
    for n, singer in enumerate(MIR1K_SINGERS):
        for stem in (f"{singer}_1_01", f"{singer}_1_02", f"{singer}_2_01"):
            wav(root / "Wavfile" / f"{stem}.wav", SECONDS, rate=16000, channels=2,
                freq=150 + 20 * n)
            label = root / "vocal-nonvocalLabel" / f"{stem}.vocal"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("0\n" * 50 + "1\n" * 349)
    return root


def _indexes(cache: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(cache.glob("*/index.json"))]


@pytest.mark.slow
@pytest.mark.parametrize(("layout", "writer", "space"), [
    ("urmp", write_urmp, "conditioned_unet"),
    ("mir1k", write_mir1k, "attribute_aware"),
])
def test_own_copy_prepared_and_searched_with_default_splits(layout, writer, space, tmp_path,
                                                            local_ray, monkeypatch):
    import mlflow

    from avsep.cli import main

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    root = writer(tmp_path / layout)
    assert main(["data", "inspect", "--layout", layout, "--root", str(root)]) == 0
    cache = tmp_path / "caches"
    assert main(["prepare", "--layout", layout, "--root", str(root), "--out", str(cache),
                 "--space", space]) == 0
    assert not any((root / name).exists() for name in ("avsep_splits.json", "index.json"))
    for index in _indexes(cache):
        assert index["split_policy"]["name"] == "hash"
        assert {t["split"] for t in index["tracks"]} == {"train", "val", "test"}
        for key in ("piece", "performer"):  # no piece and no performer on two sides
            sides: dict[str, set[str]] = {}
            for track in index["tracks"]:
                if track.get(key):
                    sides.setdefault(track[key], set()).add(track["split"])
            assert all(len(s) == 1 for s in sides.values()), (key, sides)
            if key == "piece" or layout == "mir1k":  # URMP names no performer
                assert len(sides) >= 3, (key, sides)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    main(["tune", "--space", space, "--data", str(cache), "--config", str(SMOKE_CONFIG),
          "--num-samples", "1", "--max-epochs", "1", "--name", f"own-{layout}",
          "--mlflow-uri", store])
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name(f"own-{layout}")
    finished = [r for r in client.search_runs([experiment.experiment_id])
                if r.info.status == "FINISHED" and "val/sdr" in r.data.metrics]
    assert len(finished) == 1

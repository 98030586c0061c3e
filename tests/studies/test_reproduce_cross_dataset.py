"""Cross-dataset reproduction (``--train-layout/--train-root`` with ``--layout/--root``): train
on a Solos copy, score on a URMP copy's test split, as Slizovskaia et al. and the Solos paper do.

Two tiny trees in their exact layouts (written here: sine tones, 4 s a track, real MP4 videos):
Solos with 6 instruments × 2 recordings (a split file gives its validation split two
instruments) and URMP with 5 pieces (default hash split). The Solos study is cut to its
conditioned U-Net arm, 1 seed, 1 epoch of 8 mixtures. Asserted: two caches, each from its own
copy; the trained run read the Solos cache; every scored row is an excerpt of the URMP test
split.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests.data.test_layouts import urmp_piece, wav
from tests.data.test_video import write_mp4

pytestmark = pytest.mark.slow

SECONDS = 4.0
SOLOS = ("Violin", "Cello", "Flute", "Trumpet", "Clarinet", "Oboe")
#: the second recording of each instrument: its split (the first ones train)
SECOND = ("val", "val", "test", "test", "train", "train")
URMP_PIECES = ("01_Jupiter_vn_vc", "02_Spring_fl_tpt", "03_Waltz_ob_bn", "04_Elegy_va_vc",
               "05_Minuet_cl_hn")


def write_solos(root: Path) -> Path:
    """videos/<Instrument>/<id>.mp4 with audio/<Instrument>/<id>.wav, and a split file."""
    splits = {}
    for n, instrument in enumerate(SOLOS):
        for k in range(2):
            video_id = f"{instrument[:3]}{k}xyzABCD"
            write_mp4(root / "videos" / instrument / f"{video_id}.mp4", seconds=SECONDS)
            wav(root / "audio" / instrument / f"{video_id}.wav", SECONDS,
                freq=200 + 40 * n + 10 * k)
            splits[video_id] = "train" if k == 0 else SECOND[n]
    (root / "avsep_splits.json").write_text(json.dumps(splits))
    return root


def _index_tracks(cache: Path) -> dict[str, dict]:
    """track id -> its record in the cache's index (split, piece, ...)."""
    tracks = {}
    for index in cache.glob("*/index.json"):
        tracks.update({t["id"]: t for t in json.loads(index.read_text())["tracks"]})
    return tracks


def test_train_on_solos_score_on_urmp(tmp_path, monkeypatch):
    import mlflow
    import ray

    from avsep.platform.reproduce import ReproduceOptions, run
    from avsep.studies import STUDIES

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    solos = write_solos(tmp_path / "solos")
    urmp = tmp_path / "urmp"
    for piece in URMP_PIECES:
        urmp_piece(urmp, piece, SECONDS)
    study = dataclasses.replace(STUDIES["solos"], arms=(STUDIES["solos"].arm("cunet"),),
                                findings=())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    options = ReproduceOptions(paper="solos", out=tmp_path / "out", epochs=1, seeds=1,
                               train_layout="solos", train_root=solos, layout="urmp", root=urmp,
                               train_length=8, val_length=4, test_items=1, mlflow_uri=uri,
                               train_overrides={"lr": 1e-3, "batch_size": 4})
    try:
        result = run(study, options)
    finally:
        ray.shutdown()

    train_cache = options.out / "cache" / "train-solos-tiny"
    test_cache = options.out / "cache" / "test-urmp-tiny"
    assert set(_index_tracks(train_cache)) == {f"{i}_{i[:3]}{k}xyzABCD" for i in SOLOS
                                               for k in range(2)}
    urmp_tracks = _index_tracks(test_cache)
    assert set(urmp_tracks) == set(URMP_PIECES)

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("reproduce-solos-stage0")
    runs = [r for r in client.search_runs([experiment.experiment_id])
            if "reproduce_arms" in r.data.tags]
    assert len(runs) == 1 and runs[0].data.params["data.cache"] == str(train_cache)

    rows = result.rows
    assert len(rows) > 0 and set(rows["run_id"]) == {runs[0].info.run_id}
    test_pieces = {t["piece"] for t in urmp_tracks.values() if t["split"] == "test"}
    assert test_pieces and set(rows["excerpt"]) <= test_pieces
    assert np.isfinite(rows[rows["system"] == "model"]["sdr"].astype(float)).any()

"""`avsep eval` as a command: advice that applies as written, detectors, the sync guard."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from avsep.cli import main
from avsep.models import build
from avsep.models.package import save_model_package


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """Error tracebacks (``guarded``) go to ``$AVSEP_HOME/logs``: keep them in the test's folder."""
    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))


def _package(config: dict, root: Path) -> Path:
    torch.manual_seed(0)
    return save_model_package(build(config), config, root / "model")


def _mmdensenet_and_songs(root: Path, seconds: float, test: int, extra_vocals: int
                          ) -> tuple[Path, Path]:
    """A tiny MMDenseNet package and a singing cache at its rate: one train and one val song,
    ``test`` test songs, ``extra_vocals`` extra voices for the v+ mixtures."""
    from avsep.data.datasets.synthetic_cache import make_demo_cache

    config = {"name": "mmdensenet", "preset": "tiny"}
    package = _package(config, root)
    cache = make_demo_cache(root / "cache", sample_rate=build(config).spec.stft.sample_rate,
                            seconds=seconds, singers={"train": 1, "val": 1, "test": test},
                            extra_vocals=extra_vocals, instruments=("violin",), solos=0,
                            ensembles=0)
    return package, cache


def test_missing_extra_vocal_advises_conditions_plain_which_then_runs(tmp_path, capsys):
    package, cache = _mmdensenet_and_songs(tmp_path, seconds=2.0, test=1, extra_vocals=0)
    out = tmp_path / "report"
    speed = ["--out", str(out), "--test-seconds", "1", "--max-items", "1"]
    assert main(["eval", "--model", str(package), "--data", str(cache), *speed]) == 2
    err = capsys.readouterr().err
    advice = re.search(r"`(avsep eval [^`]+)`", err)
    assert advice and "--conditions plain" in advice.group(1), err
    argv = shlex.split(advice.group(1))[1:]  # the advice, exactly as printed
    assert main([*argv, *speed]) == 0
    table = pd.read_csv(out / "table_li.csv")
    assert set(table["condition"]) == {"plain"}
    assert (out / "eval.md").read_text().count("## li") == 1


def test_detector_eval_writes_accuracy_and_confusion(tmp_path, capsys):
    from avsep.data.datasets.synthetic_cache import make_demo_cache

    package = _package({"name": "vad_cnn", "preset": "tiny"}, tmp_path)
    cache = make_demo_cache(tmp_path / "cache", sample_rate=16000, seconds=3.0,
                            singers={"train": 1, "val": 1, "test": 1}, instruments=("violin",),
                            solos=0, ensembles=0, vad_annotation=True)
    out = tmp_path / "report"
    assert main(["eval", "--model", str(package), "--data", str(cache), "--out", str(out)]) == 0
    assert "vocal activity accuracy" in capsys.readouterr().out
    scores = pd.read_csv(out / "table_swaminathan_vad_scores.csv").iloc[0]
    rows = pd.read_csv(out / "eval_rows.csv")
    frames = int(rows[["tn", "fp", "fn", "tp"]].to_numpy().sum())
    assert scores["frames"] == frames > 0
    assert scores["accuracy"] == pytest.approx((rows["tp"].sum() + rows["tn"].sum()) / frames)
    confusion = pd.read_csv(out / "table_swaminathan_vad.csv")
    assert list(confusion.columns[1:]) == ["Predicted: No-Vocal", "Predicted: Vocal"]


def test_sync_models_dispatch_to_sync_eval_or_say_what_is_missing(tmp_path, capsys,
                                                                   monkeypatch):
    package = _package({"name": "vocalist", "preset": "tiny"}, tmp_path)
    monkeypatch.setitem(sys.modules, "avsep.evaluation.sync", None)  # import fails
    assert main(["eval", "--model", str(package), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "evaluation.sync" in err and "is a sync model" not in err


def test_activity_source_on_a_model_without_activity_input_names_the_fix(tmp_path, capsys):
    package = _package({"name": "mmdensenet", "preset": "tiny"}, tmp_path)
    argv = ["eval", "--model", str(package), "--data", str(tmp_path),
            "--activity-source", "oracle"]
    assert main(argv) == 2
    assert "Drop --activity-source" in capsys.readouterr().err
    assert main([*argv[:-1], "perturbed:x"]) == 2
    assert "perturbed:F" in capsys.readouterr().err


@pytest.mark.slow
def test_sync_eval_writes_accuracy_against_context_length(tmp_path, capsys):
    from avsep.data.datasets.synthetic_cache import make_demo_cache

    config = {"name": "vocalist", "preset": "tiny"}
    spec = build(config).spec
    package = _package(config, tmp_path)
    cache = make_demo_cache(tmp_path / "cache", sample_rate=spec.stft.sample_rate,
                            crop=tuple(spec.crop), fps=spec.fps, seconds=3.0,
                            singers={"train": 1, "val": 1, "test": 1}, instruments=("violin",),
                            solos=0, ensembles=0)
    out = tmp_path / "report"
    argv = ["eval", "--model", str(package), "--data", str(cache), "--out", str(out),
            "--max-items", "2", "--contexts", "5,10"]
    assert main(argv) == 0
    table = pd.read_csv(out / "table_kadandale_sync.csv")
    assert table["context"].tolist() == [5, 10]
    for column in ("acc ±1 frames (%)", "acc ±5 frames (%)"):
        assert table[column].between(0, 100).all()


def test_a_cache_that_does_not_fit_gets_the_exact_prepare_command(tmp_path, capsys):
    import json

    from avsep.data.datasets.synthetic_cache import make_demo_cache

    package = _package({"name": "mmdensenet", "preset": "tiny"}, tmp_path)
    cache = make_demo_cache(tmp_path / "cache", sample_rate=4000, seconds=1.0,
                            singers={"train": 1, "val": 1, "test": 1}, instruments=("violin",),
                            solos=0, ensembles=0)
    index = json.loads((cache / "index.json").read_text())
    index.update(layout="avsep_synth", root=str(tmp_path / "corpus"))
    (cache / "index.json").write_text(json.dumps(index))
    assert main(["eval", "--model", str(package), "--data", str(cache)]) == 2
    err = capsys.readouterr().err
    rate = build({"name": "mmdensenet", "preset": "tiny"}).spec.stft.sample_rate
    out = tmp_path / f"mmdensenet-{rate}hz"
    assert (f"`avsep prepare --layout avsep_synth --root {tmp_path / 'corpus'} --out {out} "
            f"--sample-rate {rate}`") in err
    assert f"then `avsep eval --model {package} --data {out}`" in err


def test_test_excerpts_scores_every_condition_of_n_drawn_songs(tmp_path, capsys):
    """--test-excerpts 2 on 4 test songs (plain + v+ each): 2 songs, both conditions of each,
    and the draw follows --selection-seed; --max-items 2 (the first rows) is all plain."""
    package, cache = _mmdensenet_and_songs(tmp_path, seconds=1.0, test=4, extra_vocals=2)
    base = ["eval", "--model", str(package), "--data", str(cache), "--test-seconds", "1",
            "--no-ablations"]
    drawn = {}
    for seed in (0, 1, 2):
        out = tmp_path / f"drawn{seed}"
        assert main([*base, "--out", str(out), "--test-excerpts", "2",
                     "--selection-seed", str(seed)]) == 0
        rows = pd.read_csv(out / "eval_rows.csv")
        rows = rows[rows["system"] == "model"]
        assert rows["excerpt"].nunique() == 2
        for _, song in rows.groupby("excerpt"):
            assert set(song["condition"]) == {"plain", "v+"}
        drawn[seed] = frozenset(rows["excerpt"])
    assert "2 of 4 excerpts drawn" in capsys.readouterr().out
    assert len(set(drawn.values())) > 1  # the seed changes the draw
    out = tmp_path / "first"
    assert main([*base, "--out", str(out), "--max-items", "2"]) == 0
    first = pd.read_csv(out / "eval_rows.csv")
    assert set(first["condition"]) == {"plain"}


@pytest.mark.parametrize("value", ["0", "two"])
def test_test_excerpts_must_be_a_positive_count(value, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--model", "m", "--data", "d", "--test-excerpts", value])
    assert "expected a whole number >= 1" in capsys.readouterr().err

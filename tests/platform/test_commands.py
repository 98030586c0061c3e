"""The platform commands: listings, clear exit-2 errors before any work, a real `avsep train`."""

from __future__ import annotations

import json

import pytest

from avsep.cli import main


def test_spaces_lists_every_space_and_its_dimensions(capsys):
    assert main(["spaces", "--json"]) == 0
    spaces = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(spaces) == {"av_singing", "conditioned_unet", "sound_of_pixels",
                           "attribute_aware", "vocalist_ynet", "zoo"}
    dims = {d["name"]: d for d in spaces["conditioned_unet"]["dimensions"]}
    assert dims["context"]["when"] == "conditioning in {film_*}"
    assert "scored per trial" in dims["wiener_iterations"]["values"]
    assert main(["spaces", "av_singing"]) == 0
    text = capsys.readouterr().out
    assert "modality" in text and "[when modality=audio_visual]" in text
    assert main(["spaces", "nope"]) == 2


@pytest.mark.parametrize("argv", [
    ["tune", "--space", "nope", "--data", "/x"],
    ["tune", "--space", "av_singing", "--data", "/does/not/exist"],
    ["train", "--model", "mmdensenet", "--data", "/does/not/exist"],
    ["train", "--model", "no_such_model", "--data", "/x"],
    ["report", "--name", "nothing-here", "--storage", "/does/not/exist"],
])
def test_bad_inputs_exit_2_with_a_message(argv, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    message = captured.err + captured.out
    assert any(text in message for text in ("unknown search space", "data folder not found",
                                            "unknown model", "no such search folder"))


@pytest.mark.slow
def test_train_command_runs_ray_train(tiny_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AVSEP_HOME", str(tmp_path))
    code = main(["train", "--model", "mmdensenet", "--data", str(tiny_cache), "--epochs", "1",
                 "--batch-size", "4", "--storage", str(tmp_path / "results")])
    import ray

    ray.shutdown()
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"epoch": 1' in out and "checkpoint:" in out
    assert (tmp_path / "mlflow.db").is_file()

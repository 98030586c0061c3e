"""The platform commands: listings, clear exit-2 errors before any work, a real `avsep train`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avsep.cli import main


def test_spaces_lists_every_space_and_its_dimensions(capsys):
    assert main(["spaces", "--json"]) == 0
    spaces = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(spaces) == {"av_singing", "conditioned_unet", "sound_of_pixels",
                           "attribute_aware", "vad_cnn", "vocalist", "vocalist_ynet", "zoo"}
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


def test_train_names_and_debug_tracebacks(tiny_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AVSEP_HOME", str(tmp_path))
    argv = ["train", "--model", "mmdensenet", "--data", str(tiny_cache), "--storage",
            str(tmp_path / "results")]
    assert main([*argv, "--resume", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--resume nope: no run folder" in err and "traceback: " in err
    log = Path(err.split("traceback: ")[1].split(";")[0])
    assert log.parent == tmp_path / "logs" and "FileNotFoundError" in log.read_text()
    (tmp_path / "results" / "taken").mkdir(parents=True)
    assert main([*argv, "--name", "taken"]) == 2
    assert "`avsep train --resume taken ...`" in capsys.readouterr().err
    with pytest.raises(ValueError, match="already exists"):  # --debug keeps the traceback
        main([*argv, "--name", "taken", "--debug"])


@pytest.mark.slow
def test_train_command_runs_ray_train(tiny_cache, tmp_path, capsys, monkeypatch):
    import re

    import mlflow
    import ray

    ray.shutdown()  # the command starts its own local Ray, as in a user's shell
    monkeypatch.setenv("AVSEP_HOME", str(tmp_path))
    uri = f"sqlite:///{tmp_path / 'env' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    config = tmp_path / "small.yaml"  # 8 training and 4 validation items (defaults: 64, 192)
    config.write_text("data: {train_length: 8, val_length: 4}\n")
    argv = ["train", "--model", "mmdensenet", "--data", str(tiny_cache), "--batch-size", "4",
            "--storage", str(tmp_path / "results"), "--config", str(config)]
    code = main([*argv, "--epochs", "1"])
    printed = capsys.readouterr()
    out, logs = printed.out, printed.out + printed.err
    assert code == 0, out
    assert '"epoch": 1' in out and "checkpoint:" in out
    # the worker's epoch line reaches the terminal once, and Ray Train's helpers that cannot
    # work on a local Ray say nothing (the cleaner had warned every second)
    assert logs.count("[rank 0] epoch 1/1 ") == 1, logs
    assert "Failed to query Ray Train Controller" not in logs
    assert "PreemptionWatcher" not in logs
    name = re.search(r"results in \S+/(train-mmdensenet-\d{8}-\d{6}-[0-9a-f]{6});", out)[1]
    code = main([*argv, "--epochs", "2", "--resume", name])  # continues at epoch 2
    ray.shutdown()
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"epoch": 2' in out
    assert not (tmp_path / "mlflow.db").exists()  # MLFLOW_TRACKING_URI wins over the default
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    assert len(runs) == 1 and runs[0].info.run_name == name  # the resumed run, not a new one
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "val/sdr")] == [1, 2]

"""The experiment config: validation with messages that name the field and what was expected,
YAML/JSON loading, deep merge."""

from __future__ import annotations

import json

import pytest

from avsep.config import ConfigError, ExperimentConfig, load, merge, read_file, validate


def test_defaults_and_model_options_pass_through():
    cfg = validate({"model": {"name": "cunet", "conditioning": "film_bottleneck"}})
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.model.build_dict() == {"name": "cunet", "preset": "tiny",
                                      "conditioning": "film_bottleneck"}
    assert cfg.train.lr == 1e-3 and cfg.eval.wiener_iterations == [0]


@pytest.mark.parametrize(("raw", "field", "expected"), [
    ({"model": {"name": "cunet"}, "train": {"lr": -1}}, "train.lr", "greater than 0"),
    ({"model": {"name": "cunet"}, "train": {"batch_size": 0}}, "train.batch_size",
     "greater than or equal to 1"),
    ({"model": {"name": "cunet", "preset": "huge"}}, "model.preset", "'tiny' or 'paper'"),
    ({"model": {"name": "cunet"}, "train": {"lrate": 1}}, "train.lrate", "Extra inputs"),
    ({"model": {"name": "cunet"}, "eval": {"wiener_iterations": [-1]}},
     "eval.wiener_iterations", "iteration counts >= 0"),
    ({"model": {"name": ""}}, "model.name", "at least 1 character"),
])
def test_bad_values_name_the_field(raw, field, expected):
    with pytest.raises(ConfigError) as err:
        validate(raw, "my.yaml")
    message = str(err.value)
    assert message.startswith("my.yaml: invalid experiment config")
    assert field in message and expected in message


def test_missing_model_section_says_so():
    with pytest.raises(ConfigError, match="missing section 'model'"):
        validate({"train": {}}, "x.json")
    with pytest.raises(ConfigError, match="expected a mapping"):
        validate([1, 2], "x.json")


def test_yaml_and_json_files_load_the_same(tmp_path):
    raw = {"model": {"name": "cunet"}, "train": {"lr": 0.01, "epochs": 3},
           "data": {"options": {"num_sources": [2, 4]}}}
    (tmp_path / "a.json").write_text(json.dumps(raw))
    (tmp_path / "a.yaml").write_text("model: {name: cunet}\ntrain: {lr: 0.01, epochs: 3}\n"
                                     "data: {options: {num_sources: [2, 4]}}\n")
    assert load(tmp_path / "a.json") == load(tmp_path / "a.yaml")
    cfg = load(tmp_path / "a.yaml", train={"epochs": 5})
    assert cfg.train.epochs == 5 and cfg.train.lr == 0.01


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        read_file(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: cannot parse"):
        read_file(tmp_path / "bad.yaml")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        read_file(tmp_path / "list.json")
    (tmp_path / "x.toml").write_text("")
    with pytest.raises(ConfigError, match="expected a .yaml, .yml or .json file"):
        read_file(tmp_path / "x.toml")


def test_merge_is_deep_and_does_not_touch_inputs():
    base = {"train": {"lr": 1, "epochs": 2}, "eval": {"wiener_iterations": [0]}}
    over = {"train": {"lr": 3}, "eval": {"wiener_iterations": [0, 1]}}
    merged = merge(base, over)
    assert merged == {"train": {"lr": 3, "epochs": 2}, "eval": {"wiener_iterations": [0, 1]}}
    assert base["train"]["lr"] == 1


def test_cache_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = validate({"model": {"name": "cunet"}, "data": {"cache": "rel/cache"}})
    assert cfg.data.cache == tmp_path / "rel" / "cache"

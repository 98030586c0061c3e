"""Registry: build errors list choices, ModelInfo for every model, meta-device counts, CLI."""

from __future__ import annotations

import argparse

import pytest
import torch

from avsep.commands import models as models_command
from avsep.models import available, build, registry

MINE = ("mmdensenet", "av_mmdensenet", "cunet", "mhunet")


def test_core_families_are_registered_with_info() -> None:
    names = available()
    for name in MINE:
        assert name in names
        info = registry.info(name)
        assert info is not None and info.paper and info.masks
        spec = info.spec()
        assert spec.stft.sample_rate > 0 and spec.clip_seconds > 0


@pytest.mark.parametrize(("config", "message"), [
    ({"name": "transformer9000"}, "unknown model 'transformer9000'; valid choices: .*cunet"),
    ({"preset": "tiny"}, "must be a mapping with a 'name' key"),
    ({"name": "cunet", "preset": "medium"}, "unknown preset 'medium'; valid choices: paper, tiny"),
])
def test_build_errors_list_valid_choices(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(config)


def test_parameter_count_on_meta_matches_a_real_build() -> None:
    config = {"name": "av_mmdensenet", "preset": "tiny"}
    real = sum(p.numel() for p in build(config).parameters())
    assert registry.parameter_count(config) == real
    frozen = {**config, "frontend_trainable": False}
    model = build(frozen)
    visual = sum(p.numel() for p in model.frontend.parameters())
    assert registry.parameter_count(frozen, trainable_only=True) == real - visual


def test_check_helpers() -> None:
    assert registry.check_choice("mask", "ratio", ("ratio", "binary")) == "ratio"
    with pytest.raises(ValueError, match="unknown mask 'x'; valid choices: ratio, binary"):
        registry.check_choice("mask", "x", ("ratio", "binary"))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['typo'\]"):
        registry.check_options("m", {"name": "m", "typo": 1}, ("depth",))


def test_registering_a_name_twice_fails() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("cunet")(lambda config: torch.nn.Identity())


def test_models_command_prints_every_model(capsys) -> None:
    assert models_command.run(argparse.Namespace(json=False, names=[])) == 0
    table = capsys.readouterr().out
    for name in available():
        assert f"\n{name} " in table
    assert "1.22 M" in table and "2.05 M" in table  # the papers' figures beside ours
    assert "11025 Hz, STFT 1022/256" in table


def test_models_command_json_and_unknown_names(capsys) -> None:
    assert models_command.run(argparse.Namespace(json=True, names=["cunet"])) == 0
    import json

    row = json.loads(capsys.readouterr().out)
    assert row["name"] == "cunet" and row["parameters"] == registry.parameter_count("cunet")
    assert "label_multiply" in row["conditioning"]
    assert models_command.run(argparse.Namespace(json=False, names=["nope"])) == 2
    assert "valid choices" in capsys.readouterr().out

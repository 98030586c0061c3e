"""Every search space yields valid, buildable experiment configs (200 random samples each),
its paper configurations are complete paths through the space, and conditional dimensions
appear exactly when their condition holds."""

from __future__ import annotations

import json

import optuna
import pytest
import torch

from avsep.config import merge, validate
from avsep.models import build
from avsep.search_spaces import EXPERIMENT_KEY, SPACES, get, names

optuna.logging.set_verbosity(optuna.logging.WARNING)
SAMPLES = 200


def _sample(space, count: int, seed: int = 0) -> list[tuple[dict, dict]]:
    """(params, experiment) for ``count`` RandomSampler trials of an in-memory study."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(count):
        trial = study.ask()
        experiment = space(trial)[EXPERIMENT_KEY]
        out.append((dict(trial.params), experiment))
        study.tell(trial, 0.0)
    return out


@pytest.fixture(scope="module")
def stage_base(tmp_path_factory):
    """What the driver adds to the base config of a space with upstream stages
    (avsep.platform.stages): here a tiny VocaLiST checkpoint for ``model.vocalist_checkpoint``."""
    from avsep.models.vocalist import save_checkpoint

    path = save_checkpoint(build({"name": "vocalist", "preset": "tiny"}),
                           tmp_path_factory.mktemp("stage") / "vocalist.pt")
    return {"model": {"vocalist_checkpoint": str(path)}}


@pytest.mark.parametrize("name", names())
def test_space_yields_buildable_configs(name, stage_base):
    from avsep.platform.stages import stages_of

    space = get(name)
    base = merge({"model": {"preset": "tiny"}}, stage_base if stages_of(space) else {})
    built_for_real: set[str] = set()
    models_seen = set()
    for i, (_, experiment) in enumerate(_sample(space, SAMPLES)):
        cfg = validate(merge(base, experiment), f"{name} sample {i}")
        model_cfg = cfg.model.build_dict()
        key = json.dumps(model_cfg, sort_keys=True)
        if key in built_for_real:
            continue
        # every distinct model config is really built once (tiny), and checked to separate
        model = build(model_cfg)
        built_for_real.add(key)
        models_seen.add(model_cfg["name"])
        assert model.task == space.task
        assert sum(p.numel() for p in model.parameters()) > 0
    if {d.name for d in space.dimensions} - {"lr", "batch_size", "wiener_iterations"}:
        assert len(built_for_real) >= 2  # the space really varies the model
    else:  # a training-only space (vad_cnn: lr and batch size) builds one model
        assert len(built_for_real) == 1


@pytest.mark.parametrize("name", names())
def test_paper_points_are_complete_paths(name):
    space = get(name)
    assert space.points_to_evaluate, f"{name} has no paper configuration"
    for point in space.points_to_evaluate:
        trial = optuna.trial.FixedTrial(point)  # raises when the space asks a missing param
        experiment = space(trial)[EXPERIMENT_KEY]
        assert set(trial.params) == set(point), f"{name}: unused keys in {point}"
        validate(merge({"model": {"preset": "tiny"}}, experiment))


def test_conditional_dimensions_follow_their_condition():
    for params, experiment in _sample(get("av_singing"), 60):
        assert ("frontend" in params) == (params["modality"] == "audio_visual")
        assert experiment["model"]["name"] == ("av_mmdensenet" if "frontend" in params
                                               else "mmdensenet")
    for params, experiment in _sample(get("conditioned_unet"), 100):
        film = params["conditioning"].startswith("film")
        assert ("context" in params) == film
        assert ("visual_context" in params) == (params["conditioning"] == "final_multiply")
        assert ("noise_snr_db" in params) == (params["noise"] == "on")
        if params["conditioning"] == "label_multiply":
            assert experiment["model"]["context"] == "labels"
    for params, _ in _sample(get("attribute_aware"), 60):
        assert ("vad_perturbation" in params) == (params["vad_source"] == "perturbed")


def test_every_dimension_is_sampled_somewhere():
    for name, space in SPACES.items():
        seen = set()
        for params, _ in _sample(space, SAMPLES, seed=1):
            seen |= set(params)
        declared = {d.name for d in space.dimensions if hasattr(d, "suggest")}
        assert declared == seen, f"{name}: declared {declared - seen} never sampled, " \
                                 f"undeclared {seen - declared}"


def test_unknown_space_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid choices: av_singing, conditioned_unet"):
        get("nope")


def test_spaces_import_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, avsep.search_spaces; "
            "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_meta_build_matches_real_parameter_count():
    experiment = _sample(get("av_singing"), 1, seed=3)[0][1]
    cfg = validate(merge({"model": {"preset": "tiny"}}, experiment))
    with torch.device("meta"):
        meta = build(cfg.model.build_dict())
    real = build(cfg.model.build_dict())
    assert sum(p.numel() for p in meta.parameters()) == sum(p.numel() for p in real.parameters())


@pytest.mark.parametrize("name", names())
def test_tiny_preset_paper_points_keep_their_choices_at_the_tiny_training_values(name):
    from avsep.search_spaces.dims import Categorical, Float

    space = get(name)
    dims = {d.name: d for d in space.dimensions}
    tiny, paper = space.enqueued("tiny"), space.enqueued("paper")
    assert paper == [p.params for p in space.paper_points]  # the paper preset: the papers' own
    assert len(tiny) == len(paper)  # no two rows collapse into one
    for row, point in zip(space.paper_points, tiny, strict=True):
        assert {k: v for k, v in point.items() if k not in space.tiny_train} == \
            {k: v for k, v in row.params.items() if k not in space.tiny_train}
        for key, value in space.tiny_train.items():
            assert point[key] == value
            dim = dims[key]  # the tiny value lies inside the space's own dimension
            if isinstance(dim, Float):
                assert dim.low <= value <= dim.high
            elif isinstance(dim, Categorical):
                assert value in dim.choices
        assert space.paper_point_of(point, "tiny") is row
        trial = optuna.trial.FixedTrial(point)  # still a complete path through the space
        space(trial)
        assert set(trial.params) == set(point)


def test_tiny_training_values_per_space():
    # the settings each tiny preset was measured to learn at (docs/search.md)
    assert {n: get(n).tiny_train for n in names()} == {
        "av_singing": {"lr": 1e-3, "batch_size": 8},
        "conditioned_unet": {"lr": 1e-3, "batch_size": 8},
        "sound_of_pixels": {"lr": 1e-3, "batch_size": 8},
        "attribute_aware": {"lr": 1e-3, "batch_size": 8},
        "vad_cnn": {"lr": 1e-2, "batch_size": 32},
        "vocalist": {"lr": 1e-3, "batch_size": 16},
        "vocalist_ynet": {"lr": 1e-3, "batch_size": 8},
        "zoo": {"lr": 1e-3, "batch_size": 8}}
    cunet = get("conditioned_unet")
    assert [p["lr"] for p in cunet.enqueued("paper")][:3] == [1e-5, 1e-5, 1e-5]
    assert cunet.enqueued("tiny", 2) == cunet.enqueued("tiny")[:2]
    assert cunet.enqueued("tiny", "none") == []

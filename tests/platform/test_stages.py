"""Multi-stage studies: the vocalist -> vocalist_ynet chain through a real sqlite MLflow registry.

A tiny VocaLiST model package is registered as ``avsep-vocalist@champion`` in a store under
tmp_path; resolving the stage downloads it and gives the base-config override whose pre-trained
Y-Net arm then carries exactly the registered encoder weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from avsep.platform.stages import (
    CHAMPION,
    Stage,
    StageError,
    apply_overrides,
    ensure_stages,
    link_downstream,
    link_tags,
    nested,
    resolve_stage,
    stages_of,
)


def register_tiny_vocalist(uri: str, root: Path, name: str = "avsep-vocalist",
                           model_name: str = "vocalist") -> torch.nn.Module:
    """Save a tiny model package, log it as a run's ``model`` artifact and register that
    folder as version 1.. of ``name`` with the alias ``champion`` (plain MLflow client calls:
    the stage reads any registered source that holds one model package)."""
    import mlflow

    from avsep.models import build
    from avsep.models.package import save_model_package
    from avsep.tracking.store import RunLogger

    torch.manual_seed(3)
    config = {"name": model_name, "preset": "tiny"}
    model = build(config).eval()
    package = save_model_package(model, config, root / "package" / "model")
    run = RunLogger(uri, "vocalist", "trial-0", {"avsep.space": "vocalist"},
                    artifact_root=root / "artifacts")
    run.log_artifacts(package, "model")
    run.finish()
    client = mlflow.MlflowClient(uri, uri)
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    source = f"{client.get_run(run.run_id).info.artifact_uri}/model"
    version = client.create_model_version(name, source=source, run_id=run.run_id)
    client.set_registered_model_alias(name, CHAMPION, version.version)
    return model


@pytest.fixture()
def store(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"


def test_vocalist_ynet_declares_the_pretraining_stage() -> None:
    from avsep.search_spaces import vocalist_ynet

    (stage,) = stages_of(vocalist_ynet.SPACE)
    assert (stage.space, stage.register_as, stage.provides, stage.model) == (
        "vocalist", "avsep-vocalist", "model.vocalist_checkpoint", "vocalist")
    assert stage.model_uri == "models:/avsep-vocalist@champion"
    assert dict(stage.needed_by) == {"encoder": "vocalist_pretrained"}
    from avsep.search_spaces import vocalist

    assert stages_of(vocalist.SPACE) == ()


def test_missing_champion_is_reported_with_the_command(store: str, tmp_path: Path) -> None:
    stage = Stage("vocalist", "avsep-vocalist", "model.vocalist_checkpoint")
    found = resolve_stage(stage, store, tmp_path / "stages")
    assert not found.found and found.overrides == {} and found.tags == {}
    assert "avsep tune --space vocalist --register-as avsep-vocalist" in found.message
    with pytest.raises(StageError, match="avsep tune --space vocalist"):
        ensure_stages((stage,), store, tmp_path / "stages")


def test_registered_champion_feeds_the_frozen_ynet_arm(store: str, tmp_path: Path) -> None:
    from avsep.config import validate
    from avsep.models import build
    from avsep.search_spaces import vocalist_ynet

    upstream = register_tiny_vocalist(store, tmp_path)
    stages = stages_of(vocalist_ynet.SPACE)
    resolved = ensure_stages(stages, store, tmp_path / "stages")
    (item,) = resolved
    assert item.found and item.version == "1"
    assert Path(item.path).is_absolute() and (Path(item.path) / "weights.safetensors").is_file()
    base = apply_overrides({"model": {"preset": "tiny"}, "train": {"epochs": 1}}, resolved)
    assert base["model"]["vocalist_checkpoint"] == item.path and base["train"]["epochs"] == 1
    # every arm of the study builds from that one base config
    weights = upstream.visual_encoder.state_dict()
    for arm, options in vocalist_ynet.ARMS.items():
        cfg = validate({**base, "model": {**base["model"], "name": "ynet", **options}})
        model = build(cfg.model.build_dict())
        if arm == "vocalist_pretrained":
            state = model.visual_encoder.state_dict()
            assert all(torch.equal(state[k], v) for k, v in weights.items())
            assert not any(p.requires_grad for p in model.visual_encoder.parameters())
        else:
            assert all(p.requires_grad for p in model.visual_encoder.parameters())
    # the link, from both sides
    tags = link_tags(resolved)
    assert tags["avsep.upstream.vocalist.model_uri"] == "models:/avsep-vocalist@champion"
    assert tags["avsep.upstream.vocalist.version"] == "1"
    link_downstream(store, resolved, "vocalist_ynet")
    import mlflow

    version = mlflow.MlflowClient(store).get_model_version("avsep-vocalist", "1")
    assert version.tags["avsep.downstream.vocalist_ynet"] == "used"
    assert tags["avsep.upstream.vocalist.run_id"] == version.run_id


def test_ensure_stages_runs_the_upstream_search_when_missing(store: str, tmp_path: Path) -> None:
    stage = Stage("vocalist", "avsep-vocalist", "model.vocalist_checkpoint", model="vocalist")
    ran = []

    def run_upstream(missing: Stage) -> None:
        ran.append(missing.space)
        register_tiny_vocalist(store, tmp_path)

    (item,) = ensure_stages((stage,), store, tmp_path / "stages", run_upstream)
    assert ran == ["vocalist"] and item.found and item.version == "1"
    again = ensure_stages((stage,), store, tmp_path / "stages", run_upstream)
    assert ran == ["vocalist"] and again[0].path == item.path  # found: not run twice


def test_wrong_model_in_the_registry_is_refused(store: str, tmp_path: Path) -> None:
    register_tiny_vocalist(store, tmp_path, model_name="mmdensenet")
    stage = Stage("vocalist", "avsep-vocalist", "model.vocalist_checkpoint", model="vocalist")
    with pytest.raises(StageError, match="holds a 'mmdensenet' model"):
        resolve_stage(stage, store, tmp_path / "stages")


def test_declarations_are_checked() -> None:
    assert nested("model.vocalist_checkpoint", "/x") == {"model": {"vocalist_checkpoint": "/x"}}
    with pytest.raises(ValueError, match="dotted config key"):
        Stage("vocalist", "avsep-vocalist", "model.")


def test_vocalist_space_samples_sync_models_and_paper_rows() -> None:
    """The pre-training space (registered by the lead; tested here through module.SPACE)."""
    import optuna

    from avsep.config import merge, validate
    from avsep.models import build
    from avsep.search_spaces import vocalist
    from avsep.search_spaces.base import EXPERIMENT_KEY

    space = vocalist.SPACE
    assert (space.name, space.task, space.objective) == ("vocalist", "sync", "val/score")
    windows = set()
    for point in space.paper_points:
        trial = optuna.trial.FixedTrial(point.params)
        cfg = validate(merge({"model": {"preset": "tiny"}}, space(trial)[EXPERIMENT_KEY]))
        assert set(trial.params) == set(point.params) and point.table == "Table 2"
        assert cfg.data.options == {"sync_share": 0.5, "min_offset": 1, "max_offset": 15}
        with torch.device("meta"):
            model = build(cfg.model.build_dict())
        assert model.task == "sync"
        assert model.spec.frames_per_clip == point.params["window_frames"]
        windows.add(point.params["window_frames"])
    assert windows == {5, 10, 25}
    var_n = space.paper_point_of({"window_frames": 5, "lr": 1e-4, "batch_size": 8})
    assert var_n.reported["acc_tol5@ctx25"] == 80.5 and var_n.reported["acc_tol5@ctx5"] == 58.8


def test_vocalist_ynet_paper_rows_are_table_3() -> None:
    from avsep.search_spaces import vocalist_ynet

    space = vocalist_ynet.SPACE
    rows = {p.experiment: (p.params["encoder"], p.reported) for p in space.paper_points}
    assert rows == {
        "Y-Net-mr E2E": ("end_to_end", {"SDR": 5.03, "SIR": 15.80}),
        "Y-Net-mr-V E2E": ("vocalist_e2e", {"SDR": 1.14, "SIR": 11.72}),
        "Y-Net-mr-V PT - VocaLiST": ("vocalist_pretrained", {"SDR": 6.32, "SIR": 17.08}),
    }
    assert [p["encoder"] for p in space.points_to_evaluate] == [
        "end_to_end", "vocalist_e2e", "vocalist_pretrained"]

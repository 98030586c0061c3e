"""A search whose trials train with DDP over 2 Ray Train workers (TorchTrainer inside Tune)."""

from __future__ import annotations

import pytest

from avsep.platform.tune import SearchOptions, local_cpus, prepare, run


def test_local_ray_leaves_room_for_the_trial_that_launches_ddp_workers():
    assert local_cpus(SearchOptions(space="zoo", num_cpus=2)) == 2
    assert local_cpus(SearchOptions(space="zoo", num_cpus=2, workers_per_trial=2)) == 3
    assert local_cpus(SearchOptions(space="zoo", num_cpus=8, workers_per_trial=2)) == 8


def test_concurrency_uses_the_autoscaling_maximum_when_known(monkeypatch):
    from types import SimpleNamespace

    import ray
    from ray._private.state import state

    from avsep.platform.ray_resources import concurrency

    plan = SimpleNamespace(options=SearchOptions(space="zoo", gpus_per_trial=1))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})  # no worker yet
    monkeypatch.setattr(state, "get_max_resources_from_cluster_config", lambda: None)
    assert concurrency(plan) == 1
    monkeypatch.setattr(state, "get_max_resources_from_cluster_config",
                        lambda: {"CPU": 34, "GPU": 4})  # head + up to 4 one-GPU workers
    assert concurrency(plan) == 4
    plan.options.max_concurrent = 2
    assert concurrency(plan) == 2


@pytest.mark.slow
def test_search_with_two_ddp_workers_per_trial(tmp_path, tiny_cache):
    import mlflow
    import ray

    ray.shutdown()  # this search starts its own local Ray with a spare logical CPU
    config = tmp_path / "base.yaml"
    config.write_text("data: {train_length: 8, val_length: 4}\neval: {examples: 1}\n")
    plan = prepare(SearchOptions(
        space="av_singing", data=str(tiny_cache), num_samples=1, max_epochs=1,
        workers_per_trial=2, max_concurrent=1, storage=str(tmp_path / "results"),
        mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", config=str(config), check_samples=1))
    try:
        outcome = run(plan)
    finally:
        ray.shutdown()
    assert outcome.trials == 1 and outcome.failed == 0
    client = mlflow.MlflowClient(plan.mlflow_uri)
    run_info = client.get_run(outcome.champion_run)
    assert run_info.data.metrics["workers"] == 2
    assert run_info.data.metrics["ddp/replica_spread"] == 0.0
    if outcome.verdict.register:  # the champion guard: only above the mixture baseline
        assert client.get_model_version_by_alias(plan.register_as, "champion").run_id == \
            outcome.champion_run
    else:
        assert run_info.data.metrics["val/sdri"] <= 0

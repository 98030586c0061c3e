"""A reproduce stage's arms × seeds train as concurrent trials of one Tune run, and each scored
table comes from its own trial's model.

Li et al.'s audio-only and AV arms, 2 seeds, 1 epoch of 8 mixtures each on the tests' tiny
singing cache, on the 2-core local Ray: 4 trials of 1 CPU, 2 at once. Asserted from the MLflow
runs the trials logged (not from a clock threshold): 4 runs, one per arm × seed, and two of
them were running at the same time (each one's start before the other's end); ``--resume`` of
the finished stage trains nothing again (same runs, no new one).
"""

from __future__ import annotations

from itertools import combinations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def ray_after(monkeypatch, tmp_path):
    """Tests here start their own local Ray (as ``avsep reproduce`` does); shut it down after."""
    import ray

    monkeypatch.setenv("AVSEP_HOME", str(tmp_path / "home"))
    yield
    ray.shutdown()


def test_arms_and_seeds_train_at_once_and_each_is_scored_with_its_model(tmp_path, ray_after):
    import mlflow

    from avsep.data.datasets.synthetic_cache import make_tiny_singing_cache
    from avsep.platform.reproduce import ReproduceOptions, base_config, training_key
    from avsep.platform.reproduce_trials import ScoreJob, score_all, start_ray, train_stage
    from avsep.studies import STUDIES

    study = STUDIES["li"]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    options = ReproduceOptions(paper="li", out=tmp_path / "li", epochs=1, seeds=2,
                               train_length=8, val_length=4, test_items=1, mlflow_uri=uri)
    arms = [study.arm("audio"), study.arm("av")]
    cache = make_tiny_singing_cache(tmp_path / "cache")  # 2 train, 1 val, 1 test singer
    start_ray(options)
    trained = train_stage(study, 0, arms, cache, options, base_config(options), {})
    assert sorted(trained) == sorted((s, training_key(a)) for s in (0, 1) for a in arms)

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("reproduce-li-stage0")
    runs = [r for r in client.search_runs([experiment.experiment_id])
            if "reproduce_seed" in r.data.tags]
    assert sorted((r.data.tags["reproduce_arms"], r.data.tags["reproduce_seed"]) for r in runs) \
        == [("audio", "0"), ("audio", "1"), ("av", "0"), ("av", "1")]
    assert {r.info.run_id for r in runs} == set(trained.values())
    assert all(r.info.status == "FINISHED" and r.data.metrics["epoch"] == 1 for r in runs)
    assert {r.data.params["seed"] for r in runs} == {"0", "1"}
    overlapping = [(a.data.tags["reproduce_arms"], b.data.tags["reproduce_arms"])
                   for a, b in combinations(runs, 2)
                   if a.info.start_time < b.info.end_time and b.info.start_time < a.info.end_time]
    assert overlapping, [(r.info.start_time, r.info.end_time) for r in runs]

    # --resume of the finished stage restores its Tune run: nothing trains again
    options.resume = True
    assert train_stage(study, 0, arms, cache, options, base_config(options), {}) == trained
    assert len([r for r in client.search_runs([experiment.experiment_id])
                if "reproduce_seed" in r.data.tags]) == 4

    jobs = [ScoreJob(arm, trained[(seed, training_key(arm))], seed, {})
            for seed in (0, 1) for arm in arms]
    frames = score_all(jobs, cache, options)
    for job, rows in zip(jobs, frames, strict=True):
        assert set(rows["run_id"]) == {job.run_id} and set(rows["arm"]) == {job.arm.key}
        assert set(rows["seed"]) == {job.seed} and len(rows) > 0
    # kept under <out>/scores: a second call (a resumed run) scores nothing again
    kept = sorted(p.name for p in (options.out / "scores").iterdir())
    assert len(kept) == 4
    again = score_all(jobs, cache, options)
    assert all(a.equals(b) for a, b in zip(frames, again, strict=True))

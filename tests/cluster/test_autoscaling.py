"""Autoscaling with Ray's fake multi-node provider and cluster.yaml's node types.

Fast tests: the fake config is derived from cluster.yaml (types, GPU counts, limits kept; CPUs
capped), and the figures are computed from node snapshots. Slow test: a 2-trial search asking
for 1 GPU per trial (2 at once) scales the GPU workers up from 0 and, after the (shortened) idle
timeout, back down to 0; node counts from ``ray.nodes()`` and the autoscaler's report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from avsep.cluster import fake_autoscaler as fa

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def _yaml_counts(spec: dict) -> tuple[int, int, dict]:
    """(CPUs, GPUs, other resources) of a cluster.yaml node type: its ``resources``, else its
    instance type's counts."""
    resources = dict(spec.get("resources") or {})
    custom = {k: v for k, v in resources.items() if k not in ("CPU", "GPU")}
    if {"CPU", "GPU"} & set(resources):
        return int(resources.get("CPU", 0)), int(resources.get("GPU", 0)), custom
    known = fa.INSTANCE_TYPES[spec["node_config"]["InstanceType"]]
    return known["CPU"], known.get("GPU", 0), custom


def test_fake_config_keeps_cluster_yaml_node_types_and_gpus():
    cluster = fa.load_cluster_yaml(CLUSTER_YAML)
    config = fa.fake_config(cluster, "10.0.0.10:6379", cpu_cap=1)
    types = config["available_node_types"]
    head = cluster["head_node_type"]
    workers = sorted(set(cluster["available_node_types"]) - {head})
    assert sorted(set(types) - {fa.HEAD_TYPE}) == workers
    # the head keeps cluster.yaml's counts (CPU 0 there: no trial lands on the head)
    # and its custom resources (avsep_driver: where DDP trials' drivers sit)
    cpus, gpus, custom = _yaml_counts(cluster["available_node_types"][head])
    assert types[fa.HEAD_TYPE]["resources"] == {"CPU": cpus, "GPU": gpus, **custom}
    for name in workers:
        spec, yaml_spec = types[name], cluster["available_node_types"][name]
        cpus, gpus, custom = _yaml_counts(yaml_spec)
        assert spec["resources"]["GPU"] == gpus
        assert spec["resources"]["CPU"] == min(1, cpus)
        assert {k: spec["resources"][k] for k in custom} == custom
        assert spec["min_workers"] == yaml_spec.get("min_workers", 0)
        assert spec["max_workers"] == yaml_spec.get("max_workers", cluster["max_workers"])
        assert spec["labels"] == {fa.TYPE_LABEL: name}
    assert config["max_workers"] == cluster["max_workers"]
    assert config["idle_timeout_minutes"] == cluster["idle_timeout_minutes"]
    assert config["provider"]["type"] == "fake_multinode"
    assert config["provider"]["gcs_address"] == "10.0.0.10:6379"
    # cluster.yaml has a worker type with GPUs (what the demo scales from 0)
    assert any(types[n]["resources"]["GPU"] >= 1 and types[n]["min_workers"] == 0
               for n in workers)


def test_fake_config_caps_cpus_workers_and_idle_timeout():
    cluster = {"max_workers": 8, "idle_timeout_minutes": 10, "head_node_type": "head",
               "available_node_types": {
                   "head": {"resources": {"CPU": 0, "avsep_driver": 10},
                            "node_config": {"InstanceType": "m6i.2xlarge"}},
                   "gpu": {"resources": {}, "node_config": {"InstanceType": "g5.12xlarge"},
                           "min_workers": 0, "max_workers": 8}}}
    config = fa.fake_config(cluster, "h:1", cpu_cap=2, max_workers=3, idle_timeout_s=12)
    assert config["max_workers"] == 3
    assert config["idle_timeout_minutes"] == pytest.approx(0.2)
    changed = fa.scaled_down(config, cluster)
    assert changed["gpu"] == {"instance_type": "g5.12xlarge", "cpus_real": 48, "cpus_fake": 2,
                              "gpus": 4, "max_workers_real": 8, "max_workers_fake": 3}
    assert config["available_node_types"][fa.HEAD_TYPE]["resources"] == \
        {"CPU": 0, "GPU": 0, "avsep_driver": 10}


def test_up_refuses_without_namespaces(monkeypatch, tmp_path):
    from avsep.cluster import netns

    monkeypatch.setattr(netns, "namespaces_permitted", lambda: (False, "run as root"))
    cluster = fa.FakeCluster(fa.load_cluster_yaml(CLUSTER_YAML), tmp_path, name="avh4u")
    with pytest.raises(fa.FakeClusterError, match="run as root"):
        cluster.up()
    assert not (tmp_path / "fake_autoscaling.json").exists()


def test_explicit_resources_win_and_unknown_instance_is_refused():
    cluster = {"max_workers": 2, "head_node_type": "h", "available_node_types": {
        "h": {"resources": {"CPU": 2}, "node_config": {}},
        "big": {"resources": {"CPU": 8, "GPU": 2}, "node_config": {"InstanceType": "x9.huge"},
                "max_workers": 2}}}
    config = fa.fake_config(cluster, "h:1", cpu_cap=4)
    assert config["available_node_types"]["big"]["resources"]["GPU"] == 2
    assert config["available_node_types"]["big"]["resources"]["CPU"] == 4
    del cluster["available_node_types"]["big"]["resources"]["GPU"]
    cluster["available_node_types"]["big"]["resources"] = {}
    with pytest.raises(fa.FakeClusterError, match="INSTANCE_TYPES"):
        fa.fake_config(cluster, "h:1")
    with pytest.raises(fa.FakeClusterError, match="cpu_cap"):
        fa.fake_config(cluster, "h:1", cpu_cap=0)


def test_summarize_counts_scale_up_and_down():
    def row(t, n, pending=0, seen=0):
        return {"t": t, "alive": {fa.HEAD_TYPE: 1, **({"gpu": n} if n else {})},
                "seen": {fa.HEAD_TYPE: 1, "gpu": seen},
                "autoscaler": {"pending": {"gpu": pending} if pending else {}}}

    rows = [row(0, 0), row(1, 0), row(3, 0, pending=2), row(4, 1, 1, 1), row(5, 2, 0, 2),
            row(9, 1, 0, 2), row(12, 0, 0, 2), row(13, 0, 0, 2)]
    got = fa.summarize(rows, "gpu", start=1.5, search_end=8.0, last_trial_end=7.0)
    assert got["gpu_workers_before"] == 0
    assert got["seconds_to_first_gpu_worker"] == pytest.approx(2.5)
    assert got["seconds_first_launch_to_first_gpu_worker"] == pytest.approx(1.0)
    assert got["peak_gpu_workers"] == 2
    assert got["gpu_workers_launched"] == 2
    assert got["gpu_workers_at_end"] == 0
    assert got["seconds_search_end_to_zero_gpu_workers"] == pytest.approx(4.0)
    assert got["seconds_last_trial_end_to_zero_gpu_workers"] == pytest.approx(5.0)
    # never scaled down within the snapshots: NaN, not a made-up figure
    still_up = fa.summarize(rows[:-2], "gpu", start=1.5, search_end=8.0)
    assert still_up["gpu_workers_at_end"] == 1
    assert still_up["seconds_search_end_to_zero_gpu_workers"] != \
        still_up["seconds_search_end_to_zero_gpu_workers"]


def test_peak_overlap_counts_trials_running_at_once():
    assert fa.peak_overlap([(0, 10), (2, 5), (4, 12), (11, 13)]) == 3
    assert fa.peak_overlap([(0, 1), (2, 3)]) == 1
    assert fa.peak_overlap([]) == 0


@pytest.mark.slow
def test_gpu_search_scales_gpu_workers_up_from_zero_and_back(tmp_path):
    from avsep.cluster import autoscaling_search, netns

    ok, reason = netns.namespaces_permitted()
    if not ok:
        pytest.skip(f"the fake autoscaling cluster runs in its own network namespace: {reason}")
    cluster = fa.FakeCluster(fa.load_cluster_yaml(CLUSTER_YAML), tmp_path / "fake",
                             name="avh4t", subnet="10.231.85", max_workers=2, idle_timeout_s=10)
    if cluster.head.namespace in netns.existing_namespaces():
        pytest.skip(f"{cluster.head.namespace} exists (another run of this test is active)")
    data = autoscaling_search.tiny_cache(tmp_path / "cache")
    out = autoscaling_search.run(cluster, data, num_samples=2, max_concurrent=2,
                                 name="autoscale")
    fig = out["figures"]
    assert fig["search_exit_code"] == 0, Path(out["search_log"]).read_text()[-3000:]
    rows = out["snapshots"]
    gpu = out["gpu_type"]
    assert gpu == "gpu_worker"
    # the search started with no GPU worker, the autoscaler added some, then removed them all
    assert fig["gpu_workers_before"] == 0
    # two trials pending at once: the autoscaler launched two GPU workers (max_workers 2); on a
    # loaded box it may reap a fresh worker as idle before the trial lands there, and relaunch
    assert fig["gpu_workers_launched"] >= 2
    assert 1 <= fig["peak_gpu_workers"] <= 2
    assert fig["gpu_workers_at_end"] == 0
    assert fig["scaled_down_within_wait"]
    # the autoscaler's own report agrees: it listed GPU workers active, then none
    active = [r["autoscaler"].get("active", {}).get(gpu, 0) for r in rows if r["autoscaler"]]
    assert max(active) >= 1 and active[-1] == 0
    # both trials ran on GPU workers (the head has CPU 0), and left the namespace empty
    assert fig["trials"] == 2
    assert fig["trials_per_node_type"] == {gpu: 2}
    assert not netns.namespace_pids(cluster.head.namespace)

"""The local cluster's layout (addresses, names) and its input checks; nothing is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from avsep.cluster.local import ClusterError, ClusterState, plan


def test_plan_addresses_and_names(tmp_path):
    state = plan("dev", 3, "10.231.77", tmp_path / "shared", tmp_path / "state")
    assert [n.address for n in state.nodes] == ["10.231.77.10", "10.231.77.11", "10.231.77.12",
                                                "10.231.77.13"]
    assert [n.namespace for n in state.nodes][:2] == ["avsep-dev-head", "avsep-dev-w1"]
    assert all(len(n.veth) + 1 <= 15 for n in state.nodes)  # the peer adds "p"
    assert len(state.bridge) <= 15
    env = state.driver_env()
    assert env["RAY_ADDRESS"] == "10.231.77.10:6379"
    assert env["MLFLOW_TRACKING_URI"] == "http://10.231.77.10:5000"
    assert env["RAY_AUTH_MODE"] == "token"
    assert Path(state.token_path).is_relative_to(Path(state.head.folder))


def test_state_round_trips(tmp_path):
    state = plan("dev", 1, "10.231.77", tmp_path / "shared", tmp_path)
    state.save()
    again = ClusterState.load(tmp_path)
    assert again == state


@pytest.mark.parametrize(("name", "workers", "subnet", "flag"), [
    ("much-too-long", 1, "10.231.77", "--name"), ("dev", 0, "10.231.77", "--workers"),
    ("dev", 1, "10.231.300", "--subnet"), ("dev", 1, "10.231", "--subnet")])
def test_bad_inputs_name_the_flag(tmp_path, name, workers, subnet, flag):
    with pytest.raises(ClusterError, match=flag):
        plan(name, workers, subnet, tmp_path / "s", tmp_path / "t")


def test_load_without_cluster_names_the_up_command(tmp_path):
    with pytest.raises(ClusterError, match="avsep cluster local up"):
        ClusterState.load(tmp_path)


def test_cluster_yaml_head_advertises_the_ddp_driver_resource():
    import yaml

    from avsep.platform.ray_resources import DRIVER_RESOURCE

    cluster = yaml.safe_load((Path(__file__).resolve().parents[2] / "cluster.yaml").read_text())
    types = cluster["available_node_types"]
    head = types[cluster["head_node_type"]]
    assert head["resources"]["CPU"] == 0 and head["resources"][DRIVER_RESOURCE] >= 1
    assert "InstanceMarketOptions" not in head["node_config"]  # on-demand
    for name, spec in types.items():  # the spot types never advertise it
        if spec["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot":
            assert DRIVER_RESOURCE not in spec.get("resources", {}), name


@pytest.mark.parametrize(("capacity", "bundle"), [
    ({"CPU": 2.0, "avsep_driver": 1000.0}, {"avsep_driver": 1.0}),  # pinned to that node
    ({"CPU": 2.0}, {"CPU": 0.01})])  # plain Ray: a sliver of a CPU anywhere
def test_ddp_trial_driver_is_pinned_where_the_cluster_has_the_resource(monkeypatch, capacity,
                                                                       bundle):
    from types import SimpleNamespace

    from avsep.platform import tune

    monkeypatch.setattr(tune, "cluster_capacity", lambda: capacity)
    plan = SimpleNamespace(options=tune.SearchOptions(space="zoo", workers_per_trial=2))
    assert tune.ray_trainable(plan, lambda config: None)._resources.bundles == [bundle]
    one = SimpleNamespace(options=tune.SearchOptions(space="zoo", gpus_per_trial=1))
    # a single-worker trial trains in its own process: it goes where the GPU is, never pinned
    assert tune.ray_trainable(one, lambda config: None)._resources.bundles == [{"CPU": 1.0,
                                                                             "GPU": 1.0}]


def test_kill_refuses_the_head_and_unknown_nodes(tmp_path):
    from avsep.cluster.local import kill_node

    state = plan("dev", 2, "10.231.77", tmp_path / "s", tmp_path / "t")
    with pytest.raises(ClusterError, match="kill a worker \\(w1, w2\\)"):
        kill_node(state, "head")
    with pytest.raises(ClusterError, match="use one of head, w1, w2"):
        kill_node(state, "w9")
    assert state.job_env()["RAY_ADDRESS"] == "http://10.231.77.10:8265"
    assert state.job_env()["RAY_AUTH_TOKEN_PATH"] == state.token_path


def test_up_refuses_a_subnet_a_link_already_uses(tmp_path):
    """Loopback's 127.0.0 stands for a bridge left by an earlier cluster: `up` names a free
    subnet instead of adding a second route to the same /24, and creates nothing."""
    from avsep.cluster import local, netns

    ok, reason = netns.namespaces_permitted()
    if not ok:
        pytest.skip(reason)
    assert "127.0.0" in netns.subnets_in_use()
    free = netns.free_subnet()
    assert free.startswith("10.231.") and int(free.rsplit(".", 1)[1]) >= 100
    assert free not in netns.subnets_in_use()
    state = plan("clash", 1, "127.0.0", tmp_path / "s", tmp_path / "t")
    with pytest.raises(ClusterError, match=rf"pick another --subnet, e.g. --subnet {free}"):
        local.up(state)
    assert not netns.link_exists(state.bridge)
    assert not {n.namespace for n in state.nodes} & netns.existing_namespaces()

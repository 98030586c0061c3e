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

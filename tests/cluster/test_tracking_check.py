"""The multi-node pre-flight check of the tracking URI (no cluster needed)."""

from __future__ import annotations

import pytest

from avsep.tracking.store import TrackingError, check_cluster_tracking_uri

UNREACHABLE = ["sqlite:////tmp/x/mlflow.db", "http://127.0.0.1:5000", "http://localhost:5000",
               "http://[::1]:5000"]


@pytest.mark.parametrize("uri", UNREACHABLE)
def test_refused_on_a_multi_node_cluster(uri):
    with pytest.raises(TrackingError, match=r"--mlflow-uri http://<head ip>:5000"):
        check_cluster_tracking_uri(uri, nodes=3)


@pytest.mark.parametrize("uri", UNREACHABLE + ["http://10.231.77.10:5000"])
def test_any_uri_passes_on_one_node(uri):
    assert check_cluster_tracking_uri(uri, nodes=1) == uri


def test_routable_server_passes_on_a_cluster():
    assert check_cluster_tracking_uri("http://10.231.77.10:5000", nodes=3) == \
        "http://10.231.77.10:5000"

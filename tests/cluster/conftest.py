"""A local 2-worker cluster (network namespaces, root only) shared by the module's tests.

Skips with the reason when namespaces are not permitted. Teardown runs ``down`` even when a
test fails, so no process, namespace or link is left behind.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    from avsep.cluster import local, netns

    ok, reason = netns.namespaces_permitted()
    if not ok:
        pytest.skip(f"local cluster needs network namespaces: {reason}")
    root = tmp_path_factory.mktemp("cluster")
    state = local.plan("avtest", 2, "10.231.78", root / "storage", root / "state")
    try:
        local.up(state, timeout_s=240.0)
        yield state
    finally:
        local.down(state)

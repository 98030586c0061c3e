"""One local 2-worker cluster (network namespaces, root only) shared by every test of this
package, and a tiny ``av_singing`` cache on its shared storage.

The cluster is package-scoped (``tests/cluster/__init__.py`` makes this folder a package): it
starts before the first test that asks for it and is stopped after the last test of the
package. Under ``scripts/test.sh`` (two pytest-xdist workers) the whole folder is one group,
run by one worker while the other runs the rest of the suite (``tests/conftest.py``), so there
is never a second cluster (or namespace probe) beside it. Tests run in module order, and the
node-kill test is the last test of the last module that uses the cluster
(``test_survival.py``), so no later test meets a dead node. Skips with the reason when
namespaces are not permitted. The cluster's name and subnet are this run's own (pid, first free
/24), so one left behind by a killed earlier run does not block it. Teardown runs ``down`` even
when a test fails, so no process, namespace or link is left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_CONFIG = ("data: {train_length: 8, val_length: 4}\ntrain: {batch_size: 4}\n"
               "eval: {examples: 1}\n")


@pytest.fixture(scope="package")
def local_cluster(tmp_path_factory):
    from avsep.cluster import local, netns

    ok, reason = netns.namespaces_permitted()
    if not ok:
        pytest.skip(f"local cluster needs network namespaces: {reason}")
    root = tmp_path_factory.mktemp("cluster")
    # A name and subnet of this run's own: a cluster left by a killed earlier run (its
    # namespaces and bridge outlive it) must not stop this one.
    name, subnet = f"t{os.getpid() % 100000:05d}", netns.free_subnet()
    state = local.plan(name, 2, subnet, root / "storage", root / "state")
    try:
        local.up(state, timeout_s=240.0)
        yield state
    finally:
        local.down(state)


@pytest.fixture(scope="package")
def cluster_data(local_cluster) -> tuple[Path, Path]:
    """(cache, base config) on the cluster's shared storage: the platform tests' tiny cache
    and a config with 8 training / 4 validation items."""
    from tests.platform.conftest import write_tiny_cache

    storage = Path(local_cluster.storage)
    config = storage / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    return write_tiny_cache(storage / "cache"), config

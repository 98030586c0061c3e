"""Shared test settings: deterministic seeds and one torch thread in the test process.

CI has 2 cores, and most slow tests run Ray workers beside the test process: a second
OpenMP thread there spins against them (30 tiny attr_dnn steps took 17 s with 2 threads
and 0.14 s with 1 at load 3.5, measured), while the tiny models gain little from it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(1)
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _no_tracking_uri_from_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without ``$MLFLOW_TRACKING_URI``/``$MLFLOW_REGISTRY_URI``: not the
    user's (tests never write to a real store), and not one an earlier test in this worker left
    behind (``mlflow.set_tracking_uri`` writes the variable; a stopped test server's URL left
    there made a later `avsep tune` fail with "MLflow server unreachable")."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    """The default ``avsep synth`` corpus (2 minutes, seed 0), written once per test run and
    read by the serving, end-to-end and reproduction tests (do not write into it).

    Under xdist the workers share it: the first to ask writes it (about 25 s on 2 busy cores)
    under a lock in the run's common temp folder while the others wait, then all read it."""
    from avsep.cli import main

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "synth-corpus"
    with open(shared / "synth-corpus.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.is_dir():
            partial = shared / "synth-corpus.partial"
            assert main(["synth", "--out", str(partial), "--minutes", "2", "--quiet",
                         "--overwrite"]) == 0
            partial.rename(out)
    return out



# --- Parallel runs (pytest-xdist; scripts/test.sh runs `-n 2 --dist loadgroup`) -------------
#
# A whole worker runs each group, in collection order. A group is a test module (so its
# module-scoped fixtures, e.g. one local Ray, start once), except the folders whose session- or
# package-scoped fixtures are costly or must exist once:
#   cluster/  one `avsep cluster local` for the package (network namespaces; its name and
#             subnet are the run's own, the fake autoscaler's fixed ones skip when taken): one
#             cluster at a time keeps the two cores for it;
#   serve/    the session's trained ``champion`` (a real search) and its Serve apps;
#   e2e/      the session's synthetic corpus and local Ray.
# xdist 3.8's own ``xdist_group`` marks do nothing under pytest 9 (it renames ``item._nodeid``,
# which pytest 9 no longer reads), so the grouping is this scheduler's, by node id. The groups
# that take longest come first in the collection (``HEAVY``, longest first by the --durations
# of two full runs of 2026-12-06), so that no worker is left with a long one at the end; the
# order inside a group is kept (cluster/ relies on it). Replaying those runs' durations through
# the scheduler's rule, this order ends the two workers within 2 s of each other (the six groups
# before: 90 s apart in one run).
FOLDER_GROUPS = ("cluster", "serve", "e2e")
HEAVY = ("cluster", "tests/studies/test_reproduce_smoke.py", "serve", "e2e",
         "tests/platform/test_tune.py", "tests/tracking/test_outage.py",
         "tests/platform/test_commands.py", "tests/platform/test_registry.py",
         "tests/studies/test_reproduce_concurrent.py", "tests/platform/test_fake_gpu_ddp.py",
         "tests/models/test_ynet.py", "tests/studies/test_reproduce_cross_dataset.py",
         "tests/platform/test_tune_ddp.py", "tests/platform/test_ddp.py")


def group_of(nodeid: str) -> str:
    """The group of the test ``nodeid`` (``tests/<folder>/<module>.py::<name>``)."""
    module = nodeid.split("::", 1)[0]
    parts = module.split("/")
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in FOLDER_GROUPS:
        return parts[1]
    return module


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {group: i for i, group in enumerate(HEAVY)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(HEAVY)))  # stable


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent without xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under ``--dist loadgroup``: xdist's scope scheduler with :func:`group_of` as the
    scope (each group goes to one worker)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)

"""Fixtures of the end-to-end tests: one synthetic corpus a session, one local Ray a module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def corpus(synth_corpus) -> Path:
    """The default `avsep synth` corpus (2 minutes), shared with the other groups."""
    return synth_corpus


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    """One $AVSEP_HOME (Ray results, MLflow store) for the session's searches."""
    path = tmp_path_factory.mktemp("e2e") / "home"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray per module: shut down when the module ends, so that under the test
    command's two xdist workers no later group on this worker finds it running."""
    import ray

    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    yield ray
    ray.shutdown()

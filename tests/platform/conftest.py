"""Fixtures of the platform tests: a tiny prepared cache and one shared local Ray session.

The cache is written in the exact contract format by the data package's
``make_demo_cache`` at the sample rate, fps and crop of the tiny AV MMDenseNet (read from the
model's spec, so preset changes follow), so the ``av_singing`` space trains on it.
Ray starts once per module that asks for it (``ray_session``): starting Ray costs several
seconds on 2 cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def write_tiny_cache(root: Path) -> Path:
    from avsep.data.datasets.synthetic_cache import make_tiny_singing_cache

    return make_tiny_singing_cache(root)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    return write_tiny_cache(tmp_path_factory.mktemp("cache") / "cache")


@pytest.fixture(scope="module")
def ray_session():
    import ray

    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    yield ray
    ray.shutdown()


TINY_TRAIN = {"data": {"train_length": 8, "val_length": 4},
              "train": {"batch_size": 4, "epochs": 2}, "eval": {"examples": 1}}

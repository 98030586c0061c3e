"""Shared test settings: deterministic seeds and one torch thread in the test process.

CI has 2 cores, and most slow tests run Ray workers beside the test process: a second
OpenMP thread there spins against them (30 tiny attr_dnn steps took 17 s with 2 threads
and 0.14 s with 1 at load 3.5, measured), while the tiny models gain little from it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)

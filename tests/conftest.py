"""Shared test settings: deterministic seeds and a bounded thread count (CI has 2 cores)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)

"""A 2-worker DDP run on Ray Train's TorchTrainer (gloo on CPU), as ``avsep train`` runs it."""

from __future__ import annotations

import math

import pytest
import torch

from avsep.config import merge, validate
from avsep.platform import checkpoint as ckpt
from avsep.platform.train_loop import RunContext
from avsep.platform.trainer import fit
from tests.platform.conftest import TINY_TRAIN


@pytest.mark.slow
def test_two_worker_ddp_run_reports_and_checkpoints(tiny_cache, tmp_path, ray_session):
    cfg = validate(merge(TINY_TRAIN, {"model": {"name": "mmdensenet", "preset": "tiny"},
                                      "data": {"cache": str(tiny_cache)},
                                      "eval": {"wiener_iterations": [0, 1]}}))
    result = fit(cfg, RunContext(), workers=2, storage=tmp_path / "results", name="ddp")
    assert result.error is None
    assert result.metrics["workers"] == 2 and result.metrics["epoch"] == 2
    assert math.isfinite(result.metrics["val/sdr@w1"])
    assert result.metrics["ddp/replica_spread"] == 0.0  # gradients were all-reduced
    with result.checkpoint.as_directory() as folder:
        state = torch.load(f"{folder}/{ckpt.STATE_FILE}", weights_only=True)
    assert state["state"]["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())

"""The paper protocols' training rules: optimiser choice, lr halved on plateau, early stopping."""

from __future__ import annotations

import pytest
import torch

from avsep.config import ConfigError, merge, validate
from avsep.platform import checkpoint as ckpt
from avsep.platform.optim import apply_schedule, make_optimizer, plateau_scale
from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker
from tests.platform.conftest import TINY_TRAIN


def test_plateau_scale_halves_after_patience_epochs_without_gain():
    assert plateau_scale([], 2) == 1.0
    assert plateau_scale([1.0, 0.9, 0.8], 2) == 1.0  # every epoch a gain
    assert plateau_scale([1.0, 0.9, 0.95], 2) == 1.0  # one epoch without: not yet
    assert plateau_scale([1.0, 0.9, 0.95, 0.95], 2) == 0.5
    assert plateau_scale([1.0, 0.9, 0.95, 0.95, 0.91, 0.92], 2) == 0.25  # counted anew
    assert plateau_scale([1.0, 0.9, 0.95, 0.95, 0.8, 0.85], 2) == 0.5  # a gain resets the count
    assert plateau_scale([1.0] * 7, 3) == 0.25
    with pytest.raises(ValueError, match="lr_patience"):
        plateau_scale([1.0], 0)


def test_optimizers_and_schedule_scale_every_group():
    layer = torch.nn.Linear(3, 2)
    groups = [{"params": [layer.weight], "lr": 1e-3}, {"params": [layer.bias], "lr": 1e-4}]
    cfg = validate({"model": {"name": "mmdensenet"},
                    "train": {"lr": 1e-3, "lr_schedule": "plateau_half", "lr_patience": 1}})
    adam = make_optimizer(groups, cfg.train)
    assert isinstance(adam, torch.optim.Adam)
    assert apply_schedule(adam, cfg.train, [1.0, 1.0, 1.0]) == pytest.approx(2.5e-4)
    assert [g["lr"] for g in adam.param_groups] == pytest.approx([2.5e-4, 2.5e-5])
    assert [g["initial_lr"] for g in adam.param_groups] == pytest.approx([1e-3, 1e-4])
    delta = validate({"model": {"name": "mmdensenet"},
                      "train": {"optimizer": "adadelta", "lr": 1.0}})
    adadelta = make_optimizer(layer.parameters(), delta.train)
    assert isinstance(adadelta, torch.optim.Adadelta) and adadelta.param_groups[0]["lr"] == 1.0
    assert apply_schedule(adadelta, delta.train, [1.0, 2.0, 3.0]) == 1.0  # schedule "none"
    with pytest.raises(ConfigError, match="lr_schedule"):
        validate({"model": {"name": "mmdensenet"}, "train": {"lr_schedule": "cosine"}})
    with pytest.raises(ConfigError, match="optimizer"):
        validate({"model": {"name": "mmdensenet"}, "train": {"optimizer": "sgd"}})


def test_training_halves_lr_on_plateau_and_stops_early(tiny_cache, tmp_path):
    """Each epoch's logged rate is lr x the plateau factor of the validation losses so far,
    and the run ends at the first epoch whose validation loss is ``patience`` epochs without a
    gain (or at ``epochs``)."""
    lr = 1e-3
    raw = merge(TINY_TRAIN, {"model": {"name": "mmdensenet", "preset": "tiny"},
                             "data": {"cache": str(tiny_cache)},
                             "train": {"epochs": 6, "lr": lr, "lr_schedule": "plateau_half",
                                       "lr_patience": 1, "patience": 2}})
    context = RunContext(local_root=str(tmp_path))
    train_loop_per_worker(make_config(validate(raw), context))
    state = torch.load(tmp_path / "checkpoint" / ckpt.STATE_FILE, weights_only=True)
    history = state["state"]["history"]
    losses = [h["val/loss"] for h in history]
    for epoch, report in enumerate(history, start=1):
        assert report["train/lr"] == pytest.approx(lr * plateau_scale(losses[:epoch], 1))
    best, waited, stop_at = float("inf"), 0, None
    for epoch, loss in enumerate(losses, start=1):
        best, waited = (loss, 0) if loss < best - 1e-9 else (best, waited + 1)
        if waited >= 2:
            stop_at = epoch
            break
    assert len(history) == (stop_at or 6)
    assert [h["early_stopped"] for h in history] == [0.0] * (len(history) - 1) + \
        [float(stop_at is not None)]
    saved = state["optimizer"]["param_groups"][0]
    assert saved["lr"] == pytest.approx(history[-1]["train/lr"])  # a resume continues from it

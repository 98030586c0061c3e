"""A run's optimiser and learning-rate schedule (the ``train`` section of the config).

* :func:`make_optimizer`: Adam (every model's default) or Adadelta (Swaminathan & Lerch's
  vocal-activity detector), over a model's parameters or its own parameter groups (Sound of
  Pixels trains its visual net at a tenth of the U-Net's rate). Each group keeps the rate it
  started with as ``initial_lr``, so the schedule scales every group alike and a resumed run
  (whose optimizer state holds ``initial_lr``) continues where it stopped.
* :func:`plateau_scale`: the ``plateau_half`` schedule as a pure function of the validation
  losses so far: the factor halves whenever ``patience`` epochs pass without a new best since
  the last best or the last halving. Computed from the run's history, it needs no state of its
  own in the checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adadelta": torch.optim.Adadelta}


def make_optimizer(params: Iterable[Any], train: Any) -> torch.optim.Optimizer:
    """``train.optimizer`` over ``params`` (tensors or parameter-group dicts) at ``train.lr``
    with ``train.weight_decay``; each group's ``initial_lr`` set to its starting rate."""
    if train.optimizer not in OPTIMIZERS:
        raise ValueError(f"train.optimizer must be one of {sorted(OPTIMIZERS)}, got "
                         f"{train.optimizer!r}")
    optimizer = OPTIMIZERS[train.optimizer](params, lr=train.lr, weight_decay=train.weight_decay)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    return optimizer


def plateau_scale(val_losses: Sequence[float], patience: int, factor: float = 0.5,
                  min_delta: float = 1e-9) -> float:
    """The learning-rate factor after epochs whose validation losses are ``val_losses``.

    A loss below the best so far by more than ``min_delta`` is a gain; after ``patience``
    epochs in a row without one (counted since the last gain or the last reduction) the factor
    is multiplied by ``factor``. E.g. losses 1, 0.9, 0.95, 0.95 at patience 2 give 0.5.
    """
    if patience < 1:
        raise ValueError(f"train.lr_patience must be >= 1, got {patience}")
    scale, best, waited = 1.0, math.inf, 0
    for loss in val_losses:
        if loss < best - min_delta:
            best, waited = loss, 0
            continue
        waited += 1
        if waited >= patience:
            scale *= factor
            waited = 0
    return scale


def lr_factor(train: Any, val_losses: Sequence[float]) -> float:
    """The factor ``train.lr_schedule`` gives after these validation losses (1 for none)."""
    if train.lr_schedule == "none":
        return 1.0
    if train.lr_schedule == "plateau_half":
        return plateau_scale(val_losses, train.lr_patience)
    raise ValueError(f"train.lr_schedule must be 'none' or 'plateau_half', got "
                     f"{train.lr_schedule!r}")


def apply_schedule(optimizer: torch.optim.Optimizer, train: Any,
                   val_losses: Sequence[float]) -> float:
    """Set every group's rate to its ``initial_lr`` times the schedule's factor; returns the
    first group's new rate (the one a run logs as ``train/lr``)."""
    factor = lr_factor(train, val_losses)
    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", group["lr"]) * factor
    return float(optimizer.param_groups[0]["lr"])


__all__ = ["OPTIMIZERS", "apply_schedule", "lr_factor", "make_optimizer", "plateau_scale"]

"""Training checkpoints: one ``state.pt`` per epoch, written atomically, and resumption.

A checkpoint folder holds ``state.pt`` with the model and optimiser state dicts, the epoch just
finished, the early-stopping state and the metric history. It is written to a temporary file
and moved into place with ``os.replace``, so a worker killed mid-write leaves either the
previous checkpoint or the new one, never a torn file. The weights are loaded with
``torch.load(weights_only=True)``: nothing pickled is executed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "state.pt"


@dataclass
class TrainState:
    """What survives a restart besides the weights."""

    epoch: int = 0  # epochs finished
    best_val_loss: float = float("inf")
    best_objective: float = float("-inf")  # larger-is-better score (objectives.score)
    epochs_without_gain: int = 0
    mlflow_run_id: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def save(directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
         state: TrainState) -> Path:
    """Write ``directory/state.pt`` atomically; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "state": asdict(state)}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".state-", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, directory / STATE_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return directory


def load(directory: Path, model: torch.nn.Module,
         optimizer: torch.optim.Optimizer | None = None) -> TrainState:
    """Load weights (and optimiser state) from ``directory``; returns the :class:`TrainState`."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training checkpoint here (expected {STATE_FILE})")
    payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload["model"])
    if optimizer is not None:
        optimizer.load_state_dict(payload["optimizer"])
    return TrainState(**payload["state"])

"""Where the training loop runs, and how it reports: Ray Train worker, Ray Tune trial or plain.

The per-worker loop is one function; :func:`current` picks the matching :class:`Session`:

* in a Ray Train (V2) worker: ``ray.train.report`` / ``ray.train.get_checkpoint`` and the
  worker's rank, world size and device;
* in a Ray Tune function trial (one worker per trial, the loop runs in the trial itself):
  ``ray.tune.report`` / ``ray.tune.get_checkpoint``;
* anywhere else (benchmarks, tests of the loop): a :class:`LocalSession` that keeps the
  reports in memory and the last checkpoint in a folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


class Session:
    """Reporting and resuming for one worker (the base class is the rank-0, single worker)."""

    kind = "local"
    rank = 0
    world_size = 1

    def device(self) -> torch.device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        raise NotImplementedError

    def resume_checkpoint(self) -> AbstractContextManager[Path | None]:
        """The checkpoint to resume from, as a local folder to read while the ``with`` block
        runs (a copy made for it is gone after), or ``None``."""
        raise NotImplementedError


@dataclass
class LocalSession(Session):
    """Outside Ray: reports are kept in ``reports``; checkpoints are copied to ``root``."""

    root: Path | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        self.reports.append(dict(metrics))
        if checkpoint_dir is not None and self.root is not None:
            target = self.root / "checkpoint"
            staging = self.root / ".checkpoint.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(checkpoint_dir, staging)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)

    @contextmanager
    def resume_checkpoint(self) -> Iterator[Path | None]:
        target = self.root / "checkpoint" if self.root is not None else None
        yield target if target is not None and target.is_dir() else None


class TuneSession(Session):
    """The loop runs inside a Ray Tune function trial (one worker)."""

    kind = "tune"

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.tune

        checkpoint = ray.tune.Checkpoint.from_directory(str(checkpoint_dir)) \
            if checkpoint_dir else None
        ray.tune.report(metrics, checkpoint=checkpoint)

    @contextmanager
    def resume_checkpoint(self) -> Iterator[Path | None]:
        import ray.tune

        with _as_local_folder(ray.tune.get_checkpoint()) as folder:
            yield folder


class TrainSession(Session):
    """The loop runs in a Ray Train worker (DDP over ``world_size`` workers)."""

    kind = "train"

    def __init__(self) -> None:
        import ray.train

        context = ray.train.get_context()
        self.rank = context.get_world_rank()
        self.world_size = context.get_world_size()

    def device(self) -> torch.device:
        """The worker's GPU when it has one; the CPU when CUDA is absent, even if Ray granted
        a GPU resource (fake-GPU nodes of ``fake_multinode`` clusters, docs/autoscaling.md)."""
        import ray.train.torch

        if not torch.cuda.is_available():
            return torch.device("cpu")
        return ray.train.torch.get_device()

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) \
            if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)

    @contextmanager
    def resume_checkpoint(self) -> Iterator[Path | None]:
        import ray.train

        with _as_local_folder(ray.train.get_checkpoint()) as folder:
            yield folder


@contextmanager
def _as_local_folder(checkpoint) -> Iterator[Path | None]:
    """A Ray checkpoint as a local folder: its own folder on a local filesystem, else a
    download that Ray removes after the block (``Checkpoint.to_directory()`` would leave a
    ``/tmp/checkpoint_tmp_*`` copy behind on every resume)."""
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        yield Path(folder)


def _in_train_worker() -> bool:
    try:
        # Ray Train V2 sets these utilities in every training worker; internal, but the only
        # check that does not log a warning outside a worker.
        from ray.train.v2._internal.execution.train_fn_utils import get_train_fn_utils

        get_train_fn_utils()
        return True
    except (ImportError, RuntimeError):
        return False


def _in_tune_trial() -> bool:
    try:
        from ray.tune.trainable.trainable_fn_utils import _in_tune_session

        return bool(_in_tune_session())
    except ImportError:
        return False


def current(local_root: Path | None = None) -> Session:
    """The session of the calling process (see the module docstring)."""
    if _in_train_worker():
        return TrainSession()
    if _in_tune_trial():
        return TuneSession()
    return LocalSession(root=local_root)

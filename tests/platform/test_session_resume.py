"""Resuming reads Ray's checkpoint in place, or from a download that is removed afterwards:
``Checkpoint.to_directory()`` left a whole checkpoint copy in ``/tmp`` on every resume."""

from __future__ import annotations

import tempfile

import pyarrow.fs
import pytest
import ray.train
import ray.tune
import torch

from avsep.platform import checkpoint as ckpt
from avsep.platform.session import TrainSession, TuneSession


@pytest.fixture
def saved(tmp_path):
    """A real checkpoint folder (weights, optimiser, state at epoch 3) and a temp dir to watch."""
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters())
    folder = tmp_path / "storage" / "checkpoint_000002"
    folder.mkdir(parents=True)
    ckpt.save(folder, model, optimizer, ckpt.TrainState(epoch=3))
    temp = tmp_path / "temp"
    temp.mkdir()
    return folder, model, temp


@pytest.mark.parametrize("kind, module", [("tune", ray.tune), ("train", ray.train)])
def test_a_checkpoint_on_local_storage_is_read_where_it_is(saved, monkeypatch, kind, module):
    folder, model, temp = saved
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(module, "get_checkpoint",
                        lambda: module.Checkpoint.from_directory(str(folder)))
    session = TuneSession() if kind == "tune" else object.__new__(TrainSession)
    with session.resume_checkpoint() as resume:
        assert resume == folder
        fresh = torch.nn.Linear(4, 2)
        assert ckpt.load(resume, fresh).epoch == 3
    assert torch.equal(fresh.weight, model.weight)
    assert list(temp.iterdir()) == []


def test_a_downloaded_checkpoint_is_removed_after_loading(saved, monkeypatch):
    folder, model, temp = saved
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    remote = pyarrow.fs.SubTreeFileSystem(str(folder.parent), pyarrow.fs.LocalFileSystem())
    monkeypatch.setattr(ray.tune, "get_checkpoint",
                        lambda: ray.tune.Checkpoint(folder.name, filesystem=remote))
    with TuneSession().resume_checkpoint() as resume:
        assert resume.parent == temp and resume != folder
        fresh = torch.nn.Linear(4, 2)
        assert ckpt.load(resume, fresh).epoch == 3
    assert torch.equal(fresh.weight, model.weight)
    assert list(temp.iterdir()) == []


def test_no_checkpoint_resumes_nothing(monkeypatch):
    monkeypatch.setattr(ray.tune, "get_checkpoint", lambda: None)
    with TuneSession().resume_checkpoint() as resume:
        assert resume is None

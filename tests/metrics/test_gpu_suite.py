"""benchmarks/gpu_suite.py exits cleanly, saying so, where no CUDA device is present."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_suite.py"


def _load_suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", SUITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_measures_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _load_suite()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ran: list[str] = []
    monkeypatch.setattr(suite, "_step", lambda name, *a, **k: ran.append(name) or {})
    monkeypatch.setattr(suite, "save", lambda name, figures: ran.append(name))
    assert suite.main([]) == 0
    assert capsys.readouterr().out.strip() == suite.NO_CUDA
    assert "no CUDA device" in suite.NO_CUDA
    assert ran == []

"""Fixtures shared by the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data import test_layouts as tl


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short synthetic corpus (0.3 minutes of 3-second tracks), written once per module."""
    out = tmp_path_factory.mktemp("synth") / "corpus"
    code, _ = tl.run_cli("synth", "--out", str(out), "--minutes", "0.3", "--track-seconds", "3",
                         "--quiet")
    assert code == 0
    return out

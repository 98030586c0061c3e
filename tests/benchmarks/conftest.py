"""Load ``benchmarks/search_efficiency.py`` (a script, not a package) as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def search_efficiency() -> ModuleType:
    spec = importlib.util.spec_from_file_location("search_efficiency",
                                                  BENCHMARKS / "search_efficiency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

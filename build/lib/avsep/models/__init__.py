"""The model zoo: ``build(config)`` and ``available()``; see :mod:`avsep.models.base` for the
batch/output contract and :mod:`avsep.models.registry` for how families register."""

from avsep.models.registry import (
    ModelInfo,
    available,
    build,
    info,
    parameter_count,
    register,
)

__all__ = ["ModelInfo", "available", "build", "info", "parameter_count", "register"]

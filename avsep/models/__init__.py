"""The model zoo: ``build(config)`` and ``available()``; see :mod:`avsep.models.base`."""

from avsep.models.registry import available, build, register

__all__ = ["available", "build", "register"]

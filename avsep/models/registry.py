"""Model registry: ``build(config)`` turns a config mapping into a model of the zoo.

Family modules register builders with :func:`register`; ``build`` imports them lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

FAMILY_MODULES = (
    "avsep.models.mmdensenet",
    "avsep.models.cunet",
    "avsep.models.sop",
    "avsep.models.attribute_aware",
    "avsep.models.vocalist",
    "avsep.models.ynet",
)

_BUILDERS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {}


def register(name: str) -> Callable:
    """Decorator: register ``builder(config) -> nn.Module`` under ``name``."""

    def wrap(builder: Callable[[Mapping[str, Any]], nn.Module]) -> Callable:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model {name!r} registered twice")
        _BUILDERS[name] = builder
        return builder

    return wrap


def _load_families() -> None:
    for module in FAMILY_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real import error inside the family module
                raise


def available() -> list[str]:
    """Sorted names of all registered models."""
    _load_families()
    return sorted(_BUILDERS)


def build(config: Mapping[str, Any]) -> nn.Module:
    """Build the model named ``config["name"]`` with the rest of ``config`` as its options."""
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError("model config must be a mapping with a 'name' key, e.g. {'name': 'cunet'}")
    _load_families()
    name = config["name"]
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; valid choices: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](config)

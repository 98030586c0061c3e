"""Model registry: ``build(config)`` turns a config mapping into a model of the zoo.

How a family registers a model (every family module listed in ``FAMILY_MODULES`` does this)::

    from avsep.models.registry import ModelInfo, register

    INFO = ModelInfo(
        paper="Li, Wang, Duan 2021",
        summary="multi-band MMDenseNet, audio only",
        inputs=("mixture",),
        presets=("paper", "tiny"),
        conditioning=(),                 # names a config may pick, () when not applicable
        masks=("ratio", "direct"),       # mask types / output kinds the model supports
        paper_parameters=1.22e6,         # the paper's own figure, None when it gives none
        spec=lambda: paper_spec(),       # the paper preset's ModelSpec (callable: no build)
    )

    @register("mmdensenet", info=INFO)
    def build_mmdensenet(config: Mapping[str, Any]) -> ZooModel: ...

``config`` is the full mapping handed to :func:`build` (``name``, ``preset`` = ``"paper"`` |
``"tiny"`` (default ``"paper"``), then model options). A builder must reject unknown options
and bad values with a ``ValueError`` that lists the valid choices (see
:func:`check_choice` / :func:`check_options`).

``avsep models`` prints one row per model from its :class:`ModelInfo` plus
:func:`parameter_count`, which builds the paper preset on PyTorch's ``meta`` device (no memory,
no forward pass) and sums the parameter sizes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from avsep.models.base import ModelSpec

FAMILY_MODULES = (
    "avsep.models.mmdensenet",
    "avsep.models.cunet",
    "avsep.models.sop",
    "avsep.models.attribute_aware",
    "avsep.models.vocalist",
    "avsep.models.ynet",
)

PRESETS = ("paper", "tiny")


@dataclass(frozen=True)
class ModelInfo:
    """What ``avsep models`` shows for one registered model.

    ``spec`` is a zero-argument callable returning the paper preset's :class:`ModelSpec`
    (sample rate, STFT, clip, video fps/crop), so listing models builds nothing.
    """

    paper: str
    summary: str
    inputs: tuple[str, ...]
    spec: Callable[[], ModelSpec] | None = None
    presets: tuple[str, ...] = PRESETS
    conditioning: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()
    frontends: tuple[str, ...] = ()
    paper_parameters: float | None = None
    notes: str = ""


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {}
_INFO: dict[str, ModelInfo] = {}


def register(name: str, info: ModelInfo | None = None) -> Callable:
    """Decorator: register ``builder(config) -> nn.Module`` under ``name`` (with its info)."""

    def wrap(builder: Callable[[Mapping[str, Any]], nn.Module]) -> Callable:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model {name!r} registered twice")
        _BUILDERS[name] = builder
        if info is not None:
            _INFO[name] = info
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


def info(name: str) -> ModelInfo | None:
    """The :class:`ModelInfo` registered for ``name`` (``None`` when the family gave none)."""
    _check_name(name)
    return _INFO.get(name)


def _check_name(name: str) -> None:
    _load_families()
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; valid choices: {', '.join(sorted(_BUILDERS))}")


def build(config: Mapping[str, Any]) -> nn.Module:
    """Build the model named ``config["name"]`` with the rest of ``config`` as its options."""
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError("model config must be a mapping with a 'name' key, e.g. {'name': 'cunet'}")
    name = config["name"]
    _check_name(name)
    check_choice("preset", config.get("preset", "paper"), PRESETS)
    return _BUILDERS[name](config)


def parameter_count(config: Mapping[str, Any] | str, trainable_only: bool = False) -> int:
    """Parameters of a model, built on the ``meta`` device: no weights allocated, no forward.

    ``config`` is a build config or a model name (then its ``paper`` preset).
    """
    if isinstance(config, str):
        config = {"name": config, "preset": "paper"}
    with torch.device("meta"):
        model = build(config)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def check_choice(option: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` when it is one of ``choices``; else a ``ValueError`` listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(
            f"unknown {option} {value!r}; valid choices: {', '.join(map(str, choices))}"
        )
    return value


def check_options(model: str, config: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Reject config keys a model does not understand (typos fail loudly at build time)."""
    allowed = {"name", "preset", *allowed}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(
            f"{model}: unknown option(s) {unknown}; valid options: {', '.join(sorted(allowed))}"
        )

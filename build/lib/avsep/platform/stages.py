"""Multi-stage studies: a search space that depends on another study's registered champion.

A space module declares its upstream stages as plain data (search spaces import nothing from
the platform), e.g. ``avsep.search_spaces.vocalist_ynet``::

    STAGES = ({"space": "vocalist", "register_as": "avsep-vocalist",
               "provides": "model.vocalist_checkpoint",
               "needed_by": {"encoder": "vocalist_pretrained"}},)

:func:`stages_of` turns that into :class:`Stage` records. Before a search starts, the driver
calls :func:`resolve_stage` for each: when ``models:/<register_as>@champion`` exists, its model
package is downloaded to a local folder and the result carries the base-config overrides that
point ``provides`` at it (``{"model": {"vocalist_checkpoint": "/abs/folder"}}``) and the MLflow
tags that link the downstream study to the upstream model version. When it does not exist, the
result says so and names the command that creates it; :func:`ensure_stages` then runs the
upstream search through a callback and resolves again. :func:`link_downstream` tags the upstream
model version with the downstream study, so the link is visible from both sides.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsep.tracking.registry import CHAMPION
from avsep.tracking.store import configure

TAG_PREFIX = "avsep.upstream"
DOWNSTREAM_TAG = "avsep.downstream"


class StageError(RuntimeError):
    """An upstream stage cannot provide what the downstream study needs; the message says why."""


@dataclass(frozen=True)
class Stage:
    """One upstream study: run ``space``, register its best model as ``register_as``, and feed
    the champion's local package folder into the downstream config key ``provides`` (dotted,
    e.g. ``"model.vocalist_checkpoint"``). ``needed_by`` holds the downstream parameters of the
    trials that use it (informational: the other trials ignore the key). ``model`` is the zoo
    name the champion must hold (None: any)."""

    space: str
    register_as: str
    provides: str
    needed_by: Mapping[str, Any] = field(default_factory=dict)
    model: str | None = None
    alias: str = CHAMPION

    def __post_init__(self) -> None:
        if not self.provides or any(not part for part in self.provides.split(".")):
            raise ValueError(f"stage {self.space!r}: provides must be a dotted config key such "
                             f"as 'model.vocalist_checkpoint', got {self.provides!r}")

    @property
    def model_uri(self) -> str:
        """``models:/<register_as>@<alias>``."""
        return f"models:/{self.register_as}@{self.alias}"

    def command(self) -> str:
        """The command that creates the champion this stage reads."""
        return f"avsep tune --space {self.space} --register-as {self.register_as}"


@dataclass(frozen=True)
class StageResolution:
    """What :func:`resolve_stage` found. ``overrides`` is a nested base-config fragment
    (empty when not ``found``); ``tags`` link downstream runs to the upstream model version."""

    stage: Stage
    found: bool
    message: str
    path: str | None = None
    version: str | None = None
    run_id: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def tags(self) -> dict[str, str]:
        """MLflow tags for every downstream run (empty when not found)."""
        if not self.found:
            return {}
        key = f"{TAG_PREFIX}.{self.stage.space}"
        return {f"{key}.model_uri": self.stage.model_uri,
                f"{key}.model": f"models:/{self.stage.register_as}/{self.version}",
                f"{key}.version": str(self.version), f"{key}.run_id": str(self.run_id)}


def stage_from_dict(raw: Mapping[str, Any]) -> Stage:
    """A :class:`Stage` from a space module's plain-data declaration."""
    unknown = set(raw) - {"space", "register_as", "provides", "needed_by", "model", "alias"}
    if unknown:
        raise ValueError(f"stage declaration {dict(raw)}: unknown keys {sorted(unknown)}")
    return Stage(**dict(raw))


def stages_of(space: Any) -> tuple[Stage, ...]:
    """The upstream stages a :class:`~avsep.search_spaces.base.SearchSpace` declares (the
    ``STAGES`` tuple of the module that defines its function); () when it has none."""
    import importlib

    module = importlib.import_module(space.function.__module__)
    return tuple(stage_from_dict(raw) for raw in getattr(module, "STAGES", ()))


def nested(key: str, value: Any) -> dict[str, Any]:
    """``("model.vocalist_checkpoint", v)`` -> ``{"model": {"vocalist_checkpoint": v}}``."""
    out: Any = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def _champion(stage: Stage) -> Any | None:
    """The model version behind ``stage.model_uri``, or None when it does not exist."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        return client.get_model_version_by_alias(stage.register_as, stage.alias)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in str(err.error_code) or "not found" in str(err).lower():
            return None
        raise


def _check_package(stage: Stage, folder: Path) -> Path:
    """The model package folder inside ``folder``; checks it holds ``stage.model``."""
    from avsep.models.package import CONFIG_FILE, find_package

    package = find_package(folder)
    name = json.loads((package / CONFIG_FILE).read_text()).get("model", {}).get("name")
    if stage.model is not None and name != stage.model:
        raise StageError(f"{stage.model_uri} holds a {name!r} model; stage {stage.space!r} "
                         f"needs a {stage.model!r} model (register one with `{stage.command()}`)")
    return package


def resolve_stage(stage: Stage, tracking_uri: str, dst_root: str | Path) -> StageResolution:
    """Look up ``stage``'s champion in the registry at ``tracking_uri``.

    Found: its model package is downloaded once under ``dst_root/<register_as>/v<version>``
    (an absolute folder every trial can read: on a cluster, shared storage), and the result
    carries ``overrides`` = ``{provides: <package folder>}`` as a nested config fragment.
    Not found: ``found=False`` and a message naming the command that creates it.
    """
    import mlflow

    configure(tracking_uri)
    version = _champion(stage)
    if version is None:
        return StageResolution(stage, False, f"{stage.model_uri} is not registered in "
                               f"{tracking_uri}; run the pre-training stage first: "
                               f"`{stage.command()}`")
    dst = Path(dst_root).expanduser().resolve() / stage.register_as / f"v{version.version}"
    if not dst.is_dir() or not any(dst.rglob("*")):
        dst.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(dst),
                                            tracking_uri=tracking_uri)
    package = _check_package(stage, dst)
    return StageResolution(
        stage, True, f"{stage.model_uri} = version {version.version} (run {version.run_id}), "
        f"at {package}", path=str(package), version=str(version.version),
        run_id=version.run_id, overrides=nested(stage.provides, str(package)))


def ensure_stages(stages: tuple[Stage, ...], tracking_uri: str, dst_root: str | Path,
                  run_upstream: Callable[[Stage], None] | None = None
                  ) -> list[StageResolution]:
    """Resolve every stage; a missing champion is created by ``run_upstream(stage)`` (the
    upstream search, which registers ``stage.register_as``) and resolved again. Without
    ``run_upstream`` a missing champion is a :class:`StageError` naming the command to run."""
    resolved = []
    for stage in stages:
        found = resolve_stage(stage, tracking_uri, dst_root)
        if not found.found and run_upstream is not None:
            run_upstream(stage)
            found = resolve_stage(stage, tracking_uri, dst_root)
        if not found.found:
            raise StageError(found.message)
        resolved.append(found)
    return resolved


def apply_overrides(base: Mapping[str, Any], resolved: list[StageResolution]) -> dict[str, Any]:
    """``base`` with every found stage's overrides merged in."""
    from avsep.config import merge

    out = dict(base)
    for item in resolved:
        out = merge(out, item.overrides)
    return out


def link_tags(resolved: list[StageResolution]) -> dict[str, str]:
    """The union of the found stages' tags (for every downstream run)."""
    tags: dict[str, str] = {}
    for item in resolved:
        tags.update(item.tags)
    return tags


def link_downstream(tracking_uri: str, resolved: list[StageResolution], study: str) -> None:
    """Tag each upstream model version with the downstream ``study`` that used it."""
    import mlflow

    configure(tracking_uri)
    client = mlflow.MlflowClient()
    for item in resolved:
        if item.found:
            client.set_model_version_tag(item.stage.register_as, str(item.version),
                                         f"{DOWNSTREAM_TAG}.{study}", "used")

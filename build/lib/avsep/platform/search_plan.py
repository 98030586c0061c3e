"""What a search is before it runs: the options of ``avsep tune`` and the checked :class:`Plan`
that :func:`avsep.platform.tune.prepare` makes of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsep.platform.objectives import Objective
from avsep.search_spaces import SearchSpace

CONTEXT_KEY = "avsep"


@dataclass
class SearchOptions:
    """Everything ``avsep tune`` can set (paths may be relative; :func:`prepare` resolves)."""

    space: str
    data: str | None = None
    num_samples: int = 8
    max_epochs: int = 2
    gpus_per_trial: float = 0.0
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    objective: str | None = None
    resume: bool = False
    storage: str | None = None
    mlflow_uri: str | None = None
    name: str | None = None
    config: str | None = None
    preset: str | None = None  # None: the base config's model.preset, else "tiny"
    seed: int = 0
    grace_period: int = 1  # ASHA: epochs before a trial can be stopped
    reduction_factor: int = 2  # ASHA: keep 1/reduction_factor of the trials at each rung
    sampler: str = "tpe"  # tpe | random (see avsep.platform.searcher; bohb is refused)
    time_budget: float | None = None  # seconds for the whole search (Tune's time_budget_s)
    finalists: int = 3  # top trials re-scored on fresh validation sets (avsep.platform.finalists)
    max_concurrent: int | None = None
    register_as: str | None = None
    force: bool = False  # move @champion even when the guard would keep the current one
    top_k: int = 10
    check_samples: int = 8
    num_cpus: int | None = None  # local Ray only
    address: str | None = None  # a Ray cluster (else $RAY_ADDRESS, else a new local Ray)
    max_failures: int = 2  # retries of a crashed trial, from its last checkpoint
    optuna_storage: str | None = None  # RDB URL; default sqlite beside the MLflow store
    warm_start: str | None = None  # a finished Optuna study (same storage) to learn from
    #: the space's paper points enqueued first: "all", "none" or the first N; on the tiny
    #: preset they take the space's tiny lr and batch size (SearchSpace.enqueued)
    paper_points: str | int = "all"
    #: seconds the MLflow server may be away before the search fails (avsep.tracking.spool)
    tracking_outage_limit: float = 600.0


@dataclass
class Plan:
    """A checked search: resolved paths, base config, objectives."""

    options: SearchOptions
    space: SearchSpace
    base: dict[str, Any]
    objectives: list[Objective]
    storage: str
    name: str
    mlflow_uri: str
    artifact_root: Path | None
    register_as: str
    fingerprint: str = ""
    optuna_storage: str = ""
    optuna_study: str = ""
    links: dict[str, str] = field(default_factory=dict)  # tags naming upstream stage models

    @property
    def experiment_path(self) -> str:
        return f"{self.storage.rstrip('/')}/{self.name}"

    @property
    def report_dir(self) -> Path:
        return report_dir(self.storage, self.name)

    @property
    def preset(self) -> str:
        """The model preset every trial builds (``tiny`` or ``paper``)."""
        return str(self.base.get("model", {}).get("preset", "tiny"))

    def paper_points(self) -> list[dict[str, Any]]:
        """The configurations enqueued first (``--paper-points`` of the space's paper points,
        at this plan's preset); a bad ``--paper-points`` raises :class:`SearchSetupError`."""
        try:
            return self.space.enqueued(self.preset, self.options.paper_points)
        except ValueError as err:
            raise SearchSetupError(str(err)) from None


def is_remote_storage(storage: str) -> bool:
    """Whether a search's storage is a remote URI (``s3://``, ``gs://``, ...); a plain path or
    ``file://`` is local."""
    return "://" in storage and not storage.startswith("file://")


def report_dir(storage: str, name: str) -> Path:
    """``<storage>/<name>/report`` for local storage; ``$AVSEP_HOME/reports/<name>`` when the
    search lives on remote storage (``s3://...``), never a local folder named ``s3:``."""
    from avsep import settings

    if is_remote_storage(storage):
        return settings.home() / "reports" / name
    return Path(storage.removeprefix("file://")) / name / "report"


class SearchSetupError(ValueError):
    """The search cannot start; raised by :func:`prepare` before any trial."""

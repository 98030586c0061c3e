"""The :class:`SearchSpace` record and the dimensions several spaces share.

A space's define-by-run function returns ``{"experiment": cfg}`` where ``cfg`` is the resolved
experiment config (see :mod:`avsep.config`) *without* the model preset, which the driver sets:

    {"model": {"name": ..., <model options>},
     "data": {"options": {<dataset options: extra_vocal_share, num_sources, curriculum, ...>}},
     "audio": {"noise_snr_db": ...},
     "train": {"lr": ..., "batch_size": ...},
     "eval": {"wiener_iterations": [0, 1, 2]}}

Ray's ``OptunaSearch`` merges the returned dict with the sampled parameters, so a trial's config
holds both the flat Optuna parameters (for tables and importances) and ``experiment``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from avsep.search_spaces.dims import Categorical, Dimension, Float, Scored, TrialLike

EXPERIMENT_KEY = "experiment"

LEARNING_RATE = Float("lr", 1e-5, 3e-3, "Adam learning rate", log=True)
BATCH_SIZE = Categorical("batch_size", (4, 8, 16, 32), "training batch size")
WIENER = Scored("wiener_iterations", (0, 1, 2), "multichannel Wiener EM iterations after the mask")


@dataclass(frozen=True)
class PaperPoint:
    """One configuration a paper reports: its table row and the flat Optuna parameters.

    ``paper`` names the source (e.g. ``"Slizovskaia et al. 2021"``), ``table`` and
    ``experiment`` the row (e.g. ``"Table 3"``, ``"exp 9"``), ``params`` the flat parameter dict
    that the space's define-by-run function samples for that configuration (only the parameters
    that configuration samples), ``reported`` the paper's own figures for that row (metric name
    -> value, e.g. ``{"SDR": 5.92}``), ``note`` anything the reader should know (e.g. a
    departure forced by CPU scale).
    """

    paper: str
    table: str
    experiment: str
    params: dict[str, Any]
    reported: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def label(self) -> str:
        """``"Table 3 exp 9"``: the row's name in reports."""
        return f"{self.table} {self.experiment}".strip()


@dataclass(frozen=True)
class SearchSpace:
    """One study: a define-by-run ``function`` plus what ``avsep spaces`` shows about it.

    ``points_to_evaluate`` are the papers' own configurations as flat Optuna parameter dicts
    (only the parameters that configuration samples); the driver enqueues them first.
    ``objective`` is the default metric to maximise. A space that declares ``paper_points``
    (:class:`PaperPoint`, each with its table and experiment id) gets ``points_to_evaluate``
    from them; reports use :meth:`paper_point_of` to show where each paper row landed.
    """

    name: str
    description: str
    task: str
    function: Callable[[TrialLike], dict[str, Any]]
    dimensions: tuple[Dimension, ...]
    points_to_evaluate: tuple[dict[str, Any], ...] = field(default=())
    objective: str = "val/sdr"
    paper_points: tuple[PaperPoint, ...] = field(default=())

    def __post_init__(self) -> None:
        # paper points are evaluated first: their parameters join points_to_evaluate once
        if self.paper_points and not self.points_to_evaluate:
            object.__setattr__(self, "points_to_evaluate",
                               tuple(dict(p.params) for p in self.paper_points))

    def paper_point_of(self, params: dict[str, Any]) -> PaperPoint | None:
        """The paper point whose parameters ``params`` holds (None for a sampled configuration)."""
        for point in self.paper_points:
            if all(params.get(k) == v for k, v in point.params.items()):
                return point
        return None

    def __call__(self, trial: TrialLike) -> dict[str, Any]:
        return self.function(trial)

    def sample(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        """The experiment dicts of the paper points, then ``count`` seeded random draws
        (Optuna's ``RandomSampler``; Optuna is imported only here)."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        for point in self.points_to_evaluate:
            study.enqueue_trial(point)
        configs = []
        for _ in range(len(self.points_to_evaluate) + count):
            trial = study.ask()
            configs.append(self(trial)[EXPERIMENT_KEY])
            study.tell(trial, 0.0)
        return configs


def train_options(trial: TrialLike, **extra: Any) -> dict[str, Any]:
    """Sample the shared training dimensions (learning rate, batch size)."""
    return {"lr": LEARNING_RATE.suggest(trial), "batch_size": BATCH_SIZE.suggest(trial), **extra}


def experiment(model: dict[str, Any], data: dict[str, Any], train: dict[str, Any],
               audio: dict[str, Any] | None = None,
               wiener: tuple[int, ...] = WIENER.values) -> dict[str, dict[str, Any]]:
    """Wrap the parts into the ``{"experiment": cfg}`` dict a space returns.

    ``data`` holds dataset options (``make_dataset(**options)``), ``audio`` the waveform
    handling (noise augmentation), ``train`` the optimiser settings.
    """
    cfg = {"model": model, "data": {"options": data}, "audio": audio or {}, "train": train,
           "eval": {"wiener_iterations": list(wiener)}}
    return {EXPERIMENT_KEY: cfg}

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

#: The training values a paper row takes on the tiny preset (its design choices stay the
#: paper's). Every separation model's tiny preset was measured at lr 1e-3, batch 8: +3.7 to
#: +11.2 dB test median SI-SDRi in 10 CPU-minutes (benchmarks/tiny_presets.py, README's zoo
#: table), while the conditioned U-Net's paper lr (1e-5) left a 2 x 2-epoch search at -0.0006 dB
#: over the mixture (issue 20). A space whose model was measured otherwise sets its own.
TINY_TRAIN: dict[str, Any] = {"lr": 1e-3, "batch_size": 8}
PAPER_POINT_CHOICES = "all, none or a count N (the first N paper points)"


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

    ``tiny_train`` (default :data:`TINY_TRAIN`) holds the training values (``lr``,
    ``batch_size``) the paper points take on the tiny preset: :meth:`enqueued` replaces a
    point's own values of those keys with them (the paper preset keeps the papers' values).
    """

    name: str
    description: str
    task: str
    function: Callable[[TrialLike], dict[str, Any]]
    dimensions: tuple[Dimension, ...]
    points_to_evaluate: tuple[dict[str, Any], ...] = field(default=())
    objective: str = "val/sdr"
    paper_points: tuple[PaperPoint, ...] = field(default=())
    tiny_train: dict[str, Any] = field(default_factory=lambda: dict(TINY_TRAIN))

    def __post_init__(self) -> None:
        # paper points are evaluated first: their parameters join points_to_evaluate once
        if self.paper_points and not self.points_to_evaluate:
            object.__setattr__(self, "points_to_evaluate",
                               tuple(dict(p.params) for p in self.paper_points))

    def at_preset(self, params: dict[str, Any], preset: str) -> dict[str, Any]:
        """``params`` of a paper point as enqueued at ``preset``: on ``"tiny"`` the keys of
        :attr:`tiny_train` that the point holds take the tiny values; other presets keep them."""
        if preset != "tiny":
            return dict(params)
        return {k: self.tiny_train.get(k, v) for k, v in params.items()}

    def paper_point_of(self, params: dict[str, Any], preset: str = "paper"
                       ) -> PaperPoint | None:
        """The paper point whose parameters (as enqueued at ``preset``) ``params`` holds (None
        for a sampled configuration)."""
        for point in self.paper_points:
            if all(params.get(k) == v for k, v in self.at_preset(point.params, preset).items()):
                return point
        return None

    def enqueued(self, preset: str, which: str | int = "all") -> list[dict[str, Any]]:
        """The configurations a search at ``preset`` evaluates first, in declared order.

        Paper points take :attr:`tiny_train` on the tiny preset (:meth:`at_preset`); two rows
        that then coincide are enqueued once. Points given as ``points_to_evaluate`` without
        paper points (e.g. ``avsep reproduce``'s arms) are enqueued as given. ``which``: "all",
        "none", or a count N (the first N); see :func:`parse_paper_points`.
        """
        which = parse_paper_points(which)
        if self.paper_points:
            points = [self.at_preset(p.params, preset) for p in self.paper_points]
        else:
            points = [dict(p) for p in self.points_to_evaluate]
        unique: list[dict[str, Any]] = []
        for point in points:
            if point not in unique:
                unique.append(point)
        if which == "all":
            return unique
        return unique[:0 if which == "none" else which]

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


def parse_paper_points(value: str | int) -> str | int:
    """``--paper-points``: "all", "none" or a count N >= 0 (``"3"`` -> 3); a ``ValueError``
    names the choices otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = str(value).strip().lower()
    if text in ("all", "none"):
        return text
    if text.isdigit():
        return int(text)
    raise ValueError(f"--paper-points {value!r}: expected {PAPER_POINT_CHOICES}")


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

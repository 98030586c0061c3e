"""The search algorithm and the scheduler of a search, built from its options.

:func:`build` returns a :class:`Search`: a :class:`BestEpochOptunaSearch` over the space's
define-by-run function (persisted in the plan's Optuna RDB storage) and an ``ASHAScheduler``.

Samplers (``--sampler``):

- ``tpe`` (default): Optuna's ``TPESampler(multivariate=True, group=True, constant_liar=True)``.
  ``multivariate`` models the dimensions jointly, ``group`` splits the trials by which
  conditional dimensions they sampled (our spaces are define-by-run: a visual front-end is only
  sampled for an AV model), ``constant_liar`` keeps concurrent trials apart. Its random start-up
  trials scale with the budget: ``max(2, min(10, num_samples // 4))`` (enqueued paper points
  and warm-start trials count towards them), so an 8-trial search leaves random sampling after
  2 trials instead of never.
- ``random``: ``RandomSampler`` (a baseline for the benchmark).
- ``bohb``: not built. Ray's ``TuneBOHB`` needs a fixed ``ConfigSpace`` space (``hpbandster`` and
  ``ConfigSpace`` packages); every avsep space is a define-by-run function of an Optuna trial
  with conditional dimensions, which ``TuneBOHB`` cannot take. The option is refused with that
  reason (see docs/search.md).

The searcher is told the value the ranking uses: avsep ranks a trial by its *best* epoch on the
primary objective (:func:`avsep.platform.search_results.results_frame`) while Ray hands a
searcher the trial's *last* result. :class:`BestEpochOptunaSearch` keeps each trial's best
result so far (by the primary objective) and hands that one to Optuna when the trial completes
(for several objectives: every objective's value at the primary objective's best epoch, as the
report does).

ASHA (``--grace-period``, ``--reduction-factor``, ``max_t = --max-epochs``) stops trials on the
*first* objective alone; with several objectives the others only shape the Optuna front.
``--time-budget`` (seconds) becomes Tune's ``time_budget_s``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from ray.tune.search.optuna import OptunaSearch

from avsep.platform.objectives import Objective, score

SAMPLERS = ("tpe", "random", "bohb")
BOHB_REFUSAL = ("--sampler bohb: Ray's TuneBOHB needs a fixed ConfigSpace search space, and avsep "
                "spaces are define-by-run Optuna functions with conditional dimensions, which it "
                "cannot take; use --sampler tpe (multivariate, grouped TPE) or --sampler random")


class SearcherOptionsError(ValueError):
    """A searcher option is out of range; the message names the flag to change."""


@dataclass
class Search:
    """What ``tune.build_tuner`` hands to ``TuneConfig``."""

    search_alg: Any
    scheduler: Any
    time_budget_s: float | None = None


def startup_trials(num_samples: int) -> int:
    """Random start-up trials of TPE for a budget of ``num_samples`` trials:
    ``max(2, min(10, num_samples // 4))``."""
    return max(2, min(10, num_samples // 4))


def check(sampler: str, grace_period: int, reduction_factor: int, time_budget: float | None,
          max_epochs: int) -> None:
    """Refuse bad searcher options with the flag to change (before any trial starts)."""
    if sampler == "bohb":
        raise SearcherOptionsError(BOHB_REFUSAL)
    if sampler not in SAMPLERS:
        raise SearcherOptionsError(f"--sampler {sampler!r}: expected tpe or random")
    if grace_period < 1:
        raise SearcherOptionsError(f"--grace-period {grace_period}: expected >= 1 epoch (it is "
                                   f"capped at --max-epochs, {max_epochs})")
    if reduction_factor < 2:
        raise SearcherOptionsError(f"--reduction-factor {reduction_factor}: expected >= 2")
    if time_budget is not None and not time_budget > 0:
        raise SearcherOptionsError(f"--time-budget {time_budget}: expected a number of seconds "
                                   "> 0 (or leave it out for no limit)")


def make_sampler(sampler: str, seed: int, num_samples: int) -> Any:
    """The Optuna sampler named by ``--sampler`` (see the module docstring)."""
    import optuna

    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if sampler != "tpe":
        check(sampler, 1, 2, None, 1)  # raises with the reason
    with warnings.catch_warnings():  # multivariate/group/constant_liar are "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                          constant_liar=True,
                                          n_startup_trials=startup_trials(num_samples))


class BestEpochOptunaSearch(OptunaSearch):
    """``OptunaSearch`` told each trial's best epoch (on ``objectives[0]``), not its last."""

    def __init__(self, *args: Any, objectives: list[Objective], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._primary = objectives[0]
        self._best: dict[str, tuple[float, dict[str, Any]]] = {}

    def _keep_best(self, trial_id: str, result: dict[str, Any] | None) -> None:
        if not result:
            return
        value = score(result, self._primary)
        kept = self._best.get(trial_id)
        if kept is None or value > kept[0]:
            self._best[trial_id] = (value, dict(result))

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._keep_best(trial_id, result)
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        self._keep_best(trial_id, result)
        kept = self._best.pop(trial_id, None)
        best = kept[1] if kept is not None and math.isfinite(kept[0]) else result
        super().on_trial_complete(trial_id, best, error)


def build(space_function: Any, objectives: list[Objective], points: list[dict[str, Any]],
          study_name: str, storage: Any, *, sampler: str = "tpe", seed: int = 0,
          num_samples: int = 8, max_epochs: int = 2, grace_period: int = 1,
          reduction_factor: int = 2, time_budget: float | None = None) -> Search:
    """The searcher (over ``space_function``, Optuna study ``study_name`` in ``storage``, an
    ``optuna.storages.BaseStorage``; ``points`` enqueued first) and the ASHA scheduler."""
    from ray.tune.schedulers import ASHAScheduler

    check(sampler, grace_period, reduction_factor, time_budget, max_epochs)
    multi = len(objectives) > 1
    metrics = [o.metric for o in objectives]
    modes = [o.mode for o in objectives]
    search_alg = BestEpochOptunaSearch(
        space=space_function, metric=metrics if multi else metrics[0],
        mode=modes if multi else modes[0], points_to_evaluate=points or None,
        sampler=make_sampler(sampler, seed, num_samples), study_name=study_name,
        storage=storage, objectives=objectives)
    scheduler = ASHAScheduler(time_attr="training_iteration", metric=metrics[0], mode=modes[0],
                              max_t=max_epochs, grace_period=min(grace_period, max_epochs),
                              reduction_factor=reduction_factor)
    return Search(search_alg, scheduler, time_budget)

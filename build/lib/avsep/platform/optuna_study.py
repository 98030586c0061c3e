"""The Optuna study behind a search: where it is stored, its name, and a warm start that copies
a finished study's trials into it. Only the driver writes to the storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avsep.platform.search_plan import Plan, SearchSetupError


def optuna_storage_url(explicit: str | None, mlflow_uri: str, local_root: Path | None) -> str:
    """``explicit``, else ``sqlite:///<dir>/optuna.db`` beside a sqlite MLflow store, else
    beside the local results, else under ``$AVSEP_HOME``. Only the driver writes to it."""
    from avsep import settings

    if explicit:
        if "://" not in explicit:
            raise SearchSetupError(f"--optuna-storage {explicit!r}: expected an RDB URL, e.g. "
                                   "sqlite:////abs/optuna.db or postgresql://user@host/db")
        return explicit
    if mlflow_uri.startswith("sqlite:///"):
        folder = Path(mlflow_uri[len("sqlite:///"):]).parent
    else:
        folder = local_root.parent if local_root else settings.home()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def _study_names(url: str) -> list[str]:
    import optuna

    try:
        return [s.study_name for s in optuna.get_all_study_summaries(storage=url)]
    except Exception as err:  # noqa: BLE001 - bad URL, missing driver, unreachable server
        raise SearchSetupError(f"optuna storage {url}: cannot be opened ({err}); pass another "
                               "--optuna-storage") from None


def optuna_study_name(url: str, name: str, resume: bool, warm_start: str | None) -> str:
    """The Optuna study of this search: ``name``, or ``name-2``, ``name-3``... when a study of
    that name already holds another search (a resumed search keeps its study). Checks that
    ``warm_start`` names a study of the storage."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    existing = set(_study_names(url))
    if warm_start and warm_start not in existing:
        raise SearchSetupError(f"--warm-start {warm_start!r}: no such study in {url}; studies "
                               f"there: {sorted(existing) or 'none'}")
    if resume:
        taken = sorted(n for n in existing if n == name or n.startswith(f"{name}-"))
        return taken[-1] if taken else name
    study, n = name, 1
    while study in existing:
        n += 1
        study = f"{name}-{n}"
    return study


def seed_study(plan: Plan) -> list[dict[str, Any]]:
    """Create the plan's Optuna study, copy the ``warm_start`` study's finished trials into it,
    and return the paper points still to evaluate (:meth:`Plan.paper_points`: ``--paper-points``
    at the plan's preset, less those the old study ran)."""
    import optuna

    points = plan.paper_points()
    if not plan.options.warm_start:
        return points
    old = optuna.load_study(study_name=plan.options.warm_start, storage=plan.optuna_storage)
    done = [t for t in old.trials if t.state == optuna.trial.TrialState.COMPLETE]
    directions = ["maximize" if o.mode == "max" else "minimize" for o in plan.objectives]
    if len(old.directions) != len(directions):
        raise SearchSetupError(f"--warm-start {plan.options.warm_start!r} has "
                               f"{len(old.directions)} objective(s); this search has "
                               f"{len(directions)}")
    new = optuna.create_study(storage=plan.optuna_storage, study_name=plan.optuna_study,
                              directions=directions, load_if_exists=True)
    new.add_trials(done)
    return [p for p in points if not any(all(t.params.get(k) == v for k, v in p.items())
                                         for t in done)]

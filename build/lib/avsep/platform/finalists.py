"""Noise-aware ranking: the search's top trials re-scored on fresh validation sets.

A search ranks trials by one validation pass per epoch, on one seeded validation set, and keeps
each trial's best epoch: with many trials the winner is partly the one whose noise was luckiest.
:func:`rescore_finalists` takes the ``k`` best trials of the search's results frame
(:func:`avsep.platform.search_results.results_frame`), loads each one's model package (the ``model``
artifact of its MLflow run: the weights of its best epoch) and its experiment config
(``config/experiment.json``), and scores it again on ``seeds`` validation sets drawn with
seeds the search did not use (``data.options.seed`` + 1, + 2, ...), each of
``data.val_length`` items unless ``length`` says otherwise. It returns one row per finalist,
best mean first: the search's value, and the mean, spread (std, min, max) and per-seed values
of the objective. The champion is the first row.

Only objectives that a validation pass measures (``val/...``) can be re-scored; ``model/params``
and ``model/latency_ms`` do not depend on the validation data.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avsep.platform.objectives import Objective

COLUMNS = ("rank", "trial_id", "run_id", "search", "mean", "std", "min", "max", "seeds",
           "values")


def top_trials(frame: Any, objective: Objective, k: int) -> Any:
    """The ``k`` best rows of ``frame`` on ``objective`` among trials that did not error, have a
    finite value and an MLflow run (``mlflow_run_id``)."""
    import pandas as pd

    if k < 1:
        raise ValueError(f"--finalists {k}: expected >= 1 (or 0 to skip re-scoring)")
    values = pd.to_numeric(frame.get(objective.metric), errors="coerce")
    run_ids = frame.get("mlflow_run_id", pd.Series([""] * len(frame), index=frame.index))
    errors = frame.get("error", pd.Series([False] * len(frame), index=frame.index))
    usable = values.map(lambda v: math.isfinite(v) if v == v else False) \
        & run_ids.fillna("").astype(str).ne("") & ~errors.fillna(False).astype(bool)
    ranked = frame[usable].assign(_value=values[usable])
    ranked = ranked.sort_values("_value", ascending=objective.mode == "min", kind="stable")
    return ranked.head(k).drop(columns="_value")


def rescore_run(mlflow_uri: str, run_id: str, objective: Objective,
                seeds: int | Sequence[int], length: int | None = None,
                device: str | None = None) -> list[float]:
    """``objective`` of run ``run_id``'s model package on the validation set drawn with each of
    ``seeds`` (a count: that many seeds after the run's own validation seed,
    ``data.options.seed``, default 0; ``length`` items, default the run's
    ``data.val_length``), one value per seed."""
    import mlflow
    import torch
    from torch.utils.data import DataLoader

    from avsep.config import validate as validate_config
    from avsep.models.package import load_model_package
    from avsep.platform.data import build_dataset
    from avsep.platform.validation import validate
    from avsep.tracking.store import MODEL_ARTIFACT, configure

    if not objective.metric.startswith("val/"):
        raise ValueError(f"objective {objective}: finalists are re-scored on validation "
                         "metrics only (val/...); pass --finalists 0 for this objective")
    configure(mlflow_uri)
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    with tempfile.TemporaryDirectory(prefix="avsep-finalist-") as tmp:
        config = Path(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="config/experiment.json", dst_path=tmp))
        cfg = validate_config(json.loads(config.read_text()), f"run {run_id} config")
        model, _ = load_model_package(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=MODEL_ARTIFACT, dst_path=tmp), target)
    if isinstance(seeds, int):
        seeds = fresh_seeds(int(cfg.data.options.get("seed", 0)), seeds)
    values = []
    for seed in seeds:
        dataset = build_dataset(cfg, model, "val", seed=seed,
                                length=length or cfg.data.val_length)
        loader = DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=False)
        metrics = validate(model, loader, target, cfg.eval.wiener_iterations)
        if objective.metric not in metrics:
            raise ValueError(f"objective {objective}: the validation pass of run {run_id} "
                             f"reports {sorted(metrics)}, not {objective.metric}")
        values.append(float(metrics[objective.metric]))
    return values


def fresh_seeds(base_seed: int, count: int) -> list[int]:
    """``count`` validation seeds the search did not use: ``base_seed + 1 ... + count``."""
    if count < 1:
        raise ValueError(f"finalist seeds {count}: expected >= 1")
    return [base_seed + i for i in range(1, count + 1)]


def rescore_finalists(mlflow_uri: str, frame: Any, objective: Objective, k: int = 3,
                      seeds: int | Sequence[int] = 3, length: int | None = None,
                      device: str | None = None) -> Any:
    """The ``k`` best trials of ``frame`` re-scored over validation ``seeds`` (a count of fresh
    seeds, see :func:`rescore_run`, or the seeds themselves); a DataFrame with
    :data:`COLUMNS`, best mean first (``rank`` 1 is the champion)."""
    import pandas as pd

    chosen = top_trials(frame, objective, k)
    rows = []
    for _, row in chosen.iterrows():
        values = rescore_run(mlflow_uri, str(row["mlflow_run_id"]), objective, seeds, length,
                             device)
        rows.append({"trial_id": row.get("trial_id"), "run_id": row["mlflow_run_id"],
                     "search": float(row[objective.metric]),
                     "mean": statistics.fmean(values),
                     "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "min": min(values), "max": max(values), "seeds": len(values),
                     "values": [round(v, 4) for v in values]})
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "rank"])
    table = table.sort_values("mean", ascending=objective.mode == "min", kind="stable")
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)

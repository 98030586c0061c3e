"""``make_dataset(kind, cache_dir, spec, split, **options)``: the platform's entry point.

``kind`` is the model's ``data_kind``; ``options`` are the knobs of that dataset class (see its
docstring), e.g. ``extra_vocal_share``, ``snr_db``, ``num_sources``, ``curriculum``,
``vad_perturbation``, ``length``, ``seed``. An unknown kind or option is a ``ValueError`` that
lists the valid ones.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from avsep.data.datasets.base import MixingDataset
from avsep.data.datasets.cache import CacheIndex
from avsep.data.datasets.instruments import InstrumentsDataset
from avsep.data.datasets.lipsync import LipSyncDataset
from avsep.data.datasets.singing import SingingDataset
from avsep.data.datasets.vad import VadDataset
from avsep.models.base import ModelSpec

DATASETS: dict[str, type[MixingDataset]] = {
    "singing": SingingDataset,
    "instruments": InstrumentsDataset,
    "vad": VadDataset,
    "lipsync": LipSyncDataset,
}
SPLITS = ("train", "val", "test")


def dataset_options(kind: str) -> list[str]:
    """The option names ``make_dataset`` accepts for ``kind``."""
    classes = [c for c in DATASETS[kind].__mro__ if c in DATASETS.values()]
    names: list[str] = []
    for cls in classes:
        params = list(inspect.signature(cls.__init__).parameters.values())[4:]
        names += [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in names]
    fixed = getattr(DATASETS[kind], "fixed_options", ())
    return sorted(n for n in names if n not in fixed)


def make_dataset(
    kind: str, cache_dir: str | Path | CacheIndex, spec: ModelSpec, split: str, **options: Any
) -> MixingDataset:
    """The mixing dataset of ``kind`` over the prepared cache ``cache_dir`` for ``split``.

    Raises:
        ValueError: unknown kind, split or option.
        DataError: the cache does not match the contract or the model spec.
    """
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {sorted(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    valid = dataset_options(kind)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for dataset {kind!r}; valid: {valid}")
    return DATASETS[kind](cache_dir, spec, split, **options)

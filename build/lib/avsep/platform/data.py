"""Data loaders of a run: the mixing datasets of a prepared cache, sharded under DDP.

``data.cache`` is one prepared cache (``avsep prepare --out CACHE``) or a folder of caches
(``DATA/<name>/index.json``): each model reads the cache whose sample rate, audio channels and
(for AV models) crop, fps and video channels match its ``spec``, so one search can span model
families with different sample rates (the ``zoo`` space). :func:`check_data` is the pre-flight
check the driver runs before any trial; :func:`resolve_cache` picks the cache of a model.

``make_dataset(kind, cache, spec, split, **options)`` (docs/contracts.md) builds the training
set (``length`` = ``data.train_length`` items per epoch) and the fixed validation set
(``length`` = ``data.val_length``). When a model reads ``vad``, the dataset's ``vad`` option is
switched on; when its outputs are URMP instruments, the instrument dataset puts each source
in that instrument's slot (``source_names``). Training mixes at random; the validation set is
made of windows of the split's real mixtures (a song's own accompaniment, a URMP ensemble's
parts) where the data has them, at seeded offsets (seed 0, or ``data.options.seed``). The
default ``data.val_length`` is sized so that a model's validation SI-SDR moves by less than
0.3 dB between two validation seeds (``benchmarks/val_spread.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from avsep.config import ExperimentConfig
from avsep.platform.caches import CacheInfo, DataPathError, find_caches, resolve_cache  # noqa: F401


def model_dataset_options(model: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` completed with what ``model``'s source layout needs from its dataset.

    Models that read ``vad`` get it; a model whose outputs are the URMP instruments (C-U-Net,
    MHU-Net) gets one slot per instrument (``source_names``) and Slizovskaia et al.'s mixing
    (``mixing="peak_mean"``: sources peak-normalised, summed, divided by their number); another
    instrument model (Sound of Pixels) gets mixtures of 2 up to its number of video streams
    (``num_sources``). Options already set (``data.options``) win. Used for training,
    validation and ``avsep eval`` alike.
    """
    from avsep.data.datasets import dataset_options
    from avsep.data.records import URMP_INSTRUMENTS

    valid = dataset_options(model.data_kind)
    if "vad" in model.inputs and "vad" in valid:
        options.setdefault("vad", True)
    names = tuple(getattr(model, "source_names", ()))
    if "source_names" in valid and names and set(names) <= set(URMP_INSTRUMENTS):
        options.setdefault("source_names", names)
        options.setdefault("mixing", "peak_mean")
    elif "num_sources" in valid:
        streams = int(model.spec.extra.get("video_streams", len(names) or 2))
        options.setdefault("num_sources", (2, max(2, streams)))
    return options


def build_dataset(cfg: ExperimentConfig, model: Any, split: str, **extra: Any) -> Dataset:
    """The mixing dataset of ``split`` for ``model`` (its ``data_kind`` and ``spec``)."""
    from avsep.data.datasets import make_dataset

    length = cfg.data.train_length if split == "train" else cfg.data.val_length
    options = model_dataset_options(model, {**cfg.data.options, "length": length, **extra})
    if split == "train":
        options.setdefault("seed", cfg.train.seed)
    cache = resolve_cache(cfg.data.cache, model.spec, (split,))
    return make_dataset(model.data_kind, cache, model.spec, split, **options)


def make_loaders(cfg: ExperimentConfig, model: Any, rank: int = 0, world_size: int = 1,
                 ) -> tuple[DataLoader, DataLoader, Dataset]:
    """(train loader, validation loader, train dataset); shards both under DDP."""
    train_set = build_dataset(cfg, model, "train")
    val_set = build_dataset(cfg, model, "val")
    train_sampler = val_sampler = None
    if world_size > 1:
        train_sampler = DistributedSampler(train_set, world_size, rank, shuffle=True,
                                           seed=cfg.train.seed)
        val_sampler = DistributedSampler(val_set, world_size, rank, shuffle=False)
    common = {"num_workers": cfg.data.num_workers, "pin_memory": torch.cuda.is_available(),
              "persistent_workers": cfg.data.num_workers > 0}
    # keep BatchNorm off 1-item batches, judged on what each DDP rank sees
    per_rank = math.ceil(len(train_set) / world_size)
    drop_last = per_rank >= 2 * cfg.train.batch_size
    train = DataLoader(train_set, batch_size=cfg.train.batch_size, sampler=train_sampler,
                       shuffle=train_sampler is None, drop_last=drop_last, **common)
    val = DataLoader(val_set, batch_size=cfg.train.batch_size, sampler=val_sampler,
                     shuffle=False, **common)
    return train, val, train_set

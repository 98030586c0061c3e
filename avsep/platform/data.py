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
in that instrument's slot (``source_names``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from avsep.config import ExperimentConfig


class DataPathError(FileNotFoundError):
    """The data folder is missing, is not a prepared cache, or fits no model."""


@dataclass(frozen=True)
class CacheInfo:
    """What a cache's index.json says about its contents."""

    path: Path
    sample_rate: int
    fps: float | None
    crop: tuple[int, ...] | None
    video_channels: int | None
    splits: set[str]

    def describe(self) -> str:
        return (f"{self.path} ({self.sample_rate} Hz, crop {self.crop}, fps {self.fps}, "
                f"splits {sorted(self.splits)})")


def _read_index(index: Path) -> CacheInfo:
    try:
        raw = json.loads(index.read_text())
        tracks = raw.get("tracks", [])
        return CacheInfo(path=index.parent, sample_rate=int(raw["sample_rate"]),
                         fps=raw.get("fps"), crop=tuple(raw["crop"]) if raw.get("crop") else None,
                         video_channels=raw.get("video_channels"),
                         splits={t.get("split") for t in tracks})
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as err:
        raise DataPathError(f"{index}: not a valid cache index ({type(err).__name__}: {err})"
                            ) from None


def find_caches(root: Path | str | None) -> list[CacheInfo]:
    """The caches at ``root`` (itself a cache, or a folder of caches); errors say what is wrong."""
    if root is None:
        raise DataPathError("no data folder given: pass --data CACHE (made by `avsep prepare "
                            "--out CACHE`) or set data.cache in the config")
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataPathError(f"{root}: data folder not found (expected a prepared cache made by "
                            "`avsep prepare --out DIR`, or a folder of such caches)")
    indexes = [root / "index.json"] if (root / "index.json").is_file() else \
        sorted(root.glob("*/index.json"))
    if not indexes:
        raise DataPathError(f"{root}: no index.json here or in its subfolders; it is not a "
                            "prepared cache (run `avsep prepare --out DIR` on a corpus first)")
    return [_read_index(i) for i in indexes]


def _fits(cache: CacheInfo, spec: Any, splits: tuple[str, ...]) -> str | None:
    """Why ``cache`` cannot feed a model of ``spec`` (None when it can)."""
    if cache.sample_rate != spec.stft.sample_rate:
        return f"sample rate {cache.sample_rate} Hz, model needs {spec.stft.sample_rate} Hz"
    if spec.fps is not None and spec.crop is not None:
        if cache.crop is None or tuple(cache.crop) != tuple(spec.crop):
            return f"crop {cache.crop}, model needs {list(spec.crop)}"
        if cache.video_channels is not None and cache.video_channels != spec.video_channels:
            return f"{cache.video_channels} video channels, model needs {spec.video_channels}"
    missing = [s for s in splits if s not in cache.splits]
    if missing:
        return f"no tracks in split(s) {missing}"
    return None


def resolve_cache(root: Path | str | None, spec: Any,
                  splits: tuple[str, ...] = ("train", "val")) -> Path:
    """The cache under ``root`` that fits a model of ``spec``; else a message per cache."""
    caches = find_caches(root)
    reasons = []
    for cache in caches:
        reason = _fits(cache, spec, splits)
        if reason is None:
            return cache.path
        reasons.append(f"  {cache.path}: {reason}")
    raise DataPathError(f"no prepared cache under {root} fits the model (sample rate "
                        f"{spec.stft.sample_rate} Hz, crop {spec.crop}, fps {spec.fps}):\n"
                        + "\n".join(reasons) + "\nprepare one with `avsep prepare --model NAME`")


def model_dataset_options(model: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` completed with what ``model``'s source layout needs from its dataset.

    Models that read ``vad`` get it; a model whose outputs are the URMP instruments (C-U-Net,
    MHU-Net) gets one slot per instrument (``source_names``); another instrument model (Sound
    of Pixels) gets mixtures of 2 up to its number of video streams (``num_sources``).
    Used for training, validation and ``avsep eval`` alike.
    """
    from avsep.data.datasets import dataset_options
    from avsep.data.records import URMP_INSTRUMENTS

    valid = dataset_options(model.data_kind)
    if "vad" in model.inputs and "vad" in valid:
        options.setdefault("vad", True)
    names = tuple(getattr(model, "source_names", ()))
    if "source_names" in valid and names and set(names) <= set(URMP_INSTRUMENTS):
        options.setdefault("source_names", names)
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

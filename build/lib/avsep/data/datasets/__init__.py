"""Mixing datasets over the prepared cache: singing voice, instruments, lip sync, vocal activity.

``make_dataset(kind, cache_dir, spec, split, **options)`` is the entry point (docs/contracts.md,
"Datasets -> platform"). Every item is a dict of tensors per the "Batches" contract; the
instrument items add ``num_sources`` int64 () (see :mod:`.instruments`). Training mixtures
depend on ``(seed, epoch, index)``: call ``dataset.set_epoch(epoch)`` every epoch.
"""

from avsep.data.datasets.cache import CacheIndex, load_cache
from avsep.data.datasets.factory import DATASETS, dataset_options, make_dataset
from avsep.data.datasets.instruments import InstrumentsDataset
from avsep.data.datasets.lipsync import LipSyncDataset
from avsep.data.datasets.selection import TestSelection, select_test_items
from avsep.data.datasets.singing import SingingDataset
from avsep.data.datasets.vad import VadDataset

__all__ = [
    "DATASETS",
    "CacheIndex",
    "InstrumentsDataset",
    "LipSyncDataset",
    "SingingDataset",
    "TestSelection",
    "VadDataset",
    "dataset_options",
    "load_cache",
    "make_dataset",
    "select_test_items",
]

"""Which test items are scored: every item by default, or every item of N sampled excerpts.

A test set's items are not independent: the plain and "v+" copies of a song, the consecutive
segments of a URMP piece and the source slots of one mixture share their recording. The unit
is the **excerpt** (:meth:`~avsep.data.datasets.base.MixingDataset.excerpt_of`: a track, a
piece). ``--test-items N`` therefore samples N excerpts, seeded, and keeps *every* item of each
(all its conditions, all its segments) — never the first N rows, which on a singing test set
are all plain (its items are condition-major: every plain item before any v+ item) and on URMP
are the first seconds of one piece.

:func:`select_test_items` gives the indices; :class:`TestSelection` is the dataset restricted to
them, in the dataset's own order (ascending indices, so the condition blocks stay blocks);
:func:`restrict_split` cuts a cache index to N tracks of a split, for scorers that read the
cache themselves (lip-sync)::

    selection = TestSelection.of(dataset, excerpts=8, seed=0)
    len(selection)                 # 16 on a singing test set of >= 8 songs (plain + v+ each)
    selection[i]                   # dataset[selection.indices[i]]
    selection.excerpt_of(i)        # "song_07"
    selection.condition_of(i)      # "plain" | "v+" | "all"
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

SELECTION_SALT = 4_271


def excerpt_groups(dataset: Any) -> dict[str, list[int]]:
    """excerpt id -> the indices of its items, excerpts in order of their first item."""
    groups: dict[str, list[int]] = {}
    for index in range(len(dataset)):
        groups.setdefault(dataset.excerpt_of(index), []).append(index)
    return groups


def select_test_items(dataset: Any, excerpts: int | None = None, seed: int = 0) -> list[int]:
    """Indices (ascending) of every item of ``excerpts`` excerpts drawn without replacement
    (seeded by ``seed``), or of every item when ``excerpts`` is None or covers the set.

    Raises:
        ValueError: ``excerpts`` < 1.
    """
    if excerpts is not None and int(excerpts) < 1:
        raise ValueError(f"the number of test excerpts must be >= 1 (or None for all), got "
                         f"{excerpts}")
    groups = excerpt_groups(dataset)
    if excerpts is None or int(excerpts) >= len(groups):
        return list(range(len(dataset)))
    rng = np.random.default_rng([int(seed), SELECTION_SALT])
    names = list(groups)
    chosen = rng.choice(len(names), size=int(excerpts), replace=False)
    return sorted(i for k in chosen for i in groups[names[int(k)]])


def restrict_split(index: Any, split: str, excerpts: int | None, role: str, seed: int = 0
                   ) -> Any:
    """``index`` (a :class:`~avsep.data.datasets.cache.CacheIndex`) with split ``split`` cut to
    ``excerpts`` of its tracks that hold a source of ``role``, drawn as
    :func:`select_test_items` draws (seeded, without replacement); other splits unchanged.
    For scorers that read a cache rather than a dataset (lip-sync: the unit is the singer's
    track). ``None`` or at least as many as there are: ``index`` itself."""
    import dataclasses

    if excerpts is not None and int(excerpts) < 1:
        raise ValueError(f"the number of test excerpts must be >= 1 (or None for all), got "
                         f"{excerpts}")
    names = [t.id for t in index.split(split) if t.by_role(role)]
    if excerpts is None or int(excerpts) >= len(names):
        return index
    rng = np.random.default_rng([int(seed), SELECTION_SALT])
    keep = {names[int(k)] for k in rng.choice(len(names), size=int(excerpts), replace=False)}
    tracks = tuple(t for t in index.tracks if t.split != split or t.id in keep)
    return dataclasses.replace(index, tracks=tracks)


class TestSelection(Dataset):
    """``dataset`` restricted to ``indices``: item ``i`` is ``dataset[indices[i]]``.

    Every other attribute (``spec``, ``kind``, ``conditions``, ``store``, ...) is the dataset's
    own, so the scoring code reads a selection as it reads the full test set.
    """

    __test__ = False  # not a pytest class

    def __init__(self, dataset: Any, indices: list[int]) -> None:
        bad = [i for i in indices if not 0 <= i < len(dataset)]
        if bad:
            raise IndexError(f"indices {bad[:5]} out of range for {len(dataset)} items")
        self.dataset = dataset
        self.indices = list(indices)

    @classmethod
    def of(cls, dataset: Any, excerpts: int | None = None, seed: int = 0) -> TestSelection:
        """The items of ``excerpts`` sampled excerpts (all with None): see
        :func:`select_test_items`."""
        return cls(dataset, select_test_items(dataset, excerpts, seed))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def recipe(self, index: int) -> Any:
        return self.dataset.recipe(self.indices[index])

    def excerpt_of(self, index: int) -> str:
        return self.dataset.excerpt_of(self.indices[index])

    def condition_of(self, index: int) -> str:
        return self.dataset.condition_of(self.indices[index])

    @property
    def excerpts(self) -> list[str]:
        """The distinct excerpt ids of the selection, in order."""
        return list(dict.fromkeys(self.excerpt_of(i) for i in range(len(self))))

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


__all__ = ["TestSelection", "excerpt_groups", "restrict_split", "select_test_items"]

"""What every mixing dataset shares: the cache, the split, the seed/epoch RNG and video windows.

Randomness: item ``i`` of a dataset is drawn from ``numpy.random.default_rng([seed, kind,
split, epoch, i])``. It therefore depends on nothing else — not the worker that renders it,
the number of workers or the order of access — so a run is reproducible and the validation and
test sets (``epoch`` pinned to 0) are fixed sets, identical across processes and runs. For the
training split, call :meth:`MixingDataset.set_epoch` at the start of every epoch to draw new
mixtures; the epoch lives in shared memory, so persistent DataLoader workers see it too.

``length`` is the number of items per epoch (default 1000 for train, 200 for val); test sets
have the length their plan gives (see :mod:`avsep.data.datasets.fixed`), capped by ``length``.
A :class:`~avsep.data.datasets.cache.CacheIndex` may be passed instead of a folder so that
several splits share one parsed index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from avsep.data.datasets.cache import (
    ArrayStore,
    CacheIndex,
    SourceEntry,
    TrackEntry,
    load_cache,
)
from avsep.data.datasets.frames import (
    cache_frame_index,
    max_first_frame,
    sample_of_frame,
    to_model_frames,
)
from avsep.data.records import DataError
from avsep.models.base import ModelSpec

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
KIND_CODES = {"singing": 11, "instruments": 12, "vad": 13, "lipsync": 14}
DEFAULT_LENGTH = {"train": 1000, "val": 200}


def as_range(value: float | tuple[float, float] | list[float], name: str) -> tuple[float, float]:
    """A number or a ``(low, high)`` pair as a ``(low, high)`` tuple; an error names ``name``."""
    if isinstance(value, int | float):
        return float(value), float(value)
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}") from err
    if low > high:
        raise ValueError(f"{name} must have low <= high, got {value!r}")
    return low, high


def check_fraction(value: float, name: str) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1] (0.1 for 10 %), got {value!r}")
    return float(value)


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return low if low == high else float(rng.uniform(low, high))


Pick = tuple[TrackEntry, SourceEntry]


@dataclass(frozen=True)
class Window:
    """Where a clip is read from: a source, its first sample and first model video frame."""

    source: SourceEntry
    start: int
    frame: int


class MixingDataset(Dataset):
    """Base of the mixing datasets: an item is rendered from ``(seed, kind, split, epoch, i)``.

    Subclasses implement :meth:`draw` ``(rng, index) -> recipe`` (the random choices, a small
    dataclass) and :meth:`render` ``(recipe) -> dict[str, Tensor]`` (reading and mixing).
    """

    kind: ClassVar[str] = ""

    def __init__(
        self,
        cache: str | Path | CacheIndex,
        spec: ModelSpec,
        split: str,
        *,
        seed: int = 0,
        length: int | None = None,
        video: bool | None = None,
    ) -> None:
        self.index = cache if isinstance(cache, CacheIndex) else load_cache(cache)
        self.spec = spec
        self.split = split
        self.seed = int(seed)
        self.sample_rate = spec.stft.sample_rate
        self.clip = spec.clip_samples
        if self.index.sample_rate != self.sample_rate:
            raise DataError(
                self.index.index_path,
                f"cache sample rate is {self.index.sample_rate} Hz but the model expects "
                f"{self.sample_rate} Hz; prepare the cache at the model's rate",
            )
        has_video = spec.fps is not None and spec.crop is not None
        self.video = has_video if video is None else bool(video)
        if self.video and not has_video:
            raise ValueError("video=True but the model spec has no fps/crop")
        if self.video and self.index.fps is None:
            raise DataError(self.index.index_path, "the model needs video but the cache has no fps")
        self.fps = float(spec.fps) if self.video else 0.0
        self.frames_per_clip = (
            int(spec.frames_per_clip or round(spec.clip_seconds * spec.fps)) if self.video else 0
        )
        self.tracks = self.index.split(split)
        if not self.tracks:
            raise DataError(
                self.index.index_path,
                f"no tracks in split {split!r}; splits present: {self.index.splits()}",
            )
        self._length = length
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self.store = ArrayStore(self.index)

    # -- epochs and randomness -------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Draw the training mixtures of ``epoch`` (no effect on the fixed val/test sets)."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def rng(self, index: int) -> np.random.Generator:
        epoch = self.epoch if self.split == "train" else 0
        key = [self.seed, KIND_CODES[self.kind], SPLIT_CODES.get(self.split, 3), epoch, index]
        return np.random.default_rng(key)

    def __len__(self) -> int:
        if self._length is not None:
            return int(self._length)
        return DEFAULT_LENGTH.get(self.split, DEFAULT_LENGTH["val"])

    def recipe(self, index: int) -> Any:
        """What item ``index`` is made of (sources, windows, gains): a subclass's dataclass."""
        self._check_index(index)
        return self.draw(self.rng(index), index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.render(self.recipe(index))

    def draw(self, rng: np.random.Generator, index: int) -> Any:
        raise NotImplementedError

    # -- the unit of a test set ------------------------------------------------------------
    def excerpt_of(self, index: int) -> str:
        """The id of the independent excerpt item ``index`` comes from (a track, a piece): items
        that share it (windows, conditions, slots of one recording) are not independent.
        Subclasses name it; this default treats every item as its own excerpt."""
        self._check_index(index)
        return str(index)

    def condition_of(self, index: int) -> str:
        """The test condition of item ``index`` (``"plain"`` / ``"v+"`` for singing; ``"all"``
        where a dataset has none)."""
        self._check_index(index)
        return "all"

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")

    def render(self, recipe: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # -- pools and windows -----------------------------------------------------------------
    def check_channels(self, source: SourceEntry) -> None:
        if source.channels != self.spec.channels:
            raise DataError(
                source.audio,
                f"audio has {source.channels} channel(s) but the model expects "
                f"{self.spec.channels} (mono/stereo mismatch); prepare the cache with "
                f"{self.spec.channels} channel(s)",
            )

    def last_start(
        self, source: SourceEntry, video: bool = True, clip: int | None = None,
        count: int | None = None,
    ) -> int:
        """Last position a clip can start at in ``source`` (-1: it does not fit).

        With video this is a model frame index (the clip starts on that frame's first sample
        and its ``count`` frames must exist in the cache); without video it is a sample index.
        ``clip`` and ``count`` default to the model's clip length and frames per clip.
        """
        clip = self.clip if clip is None else clip
        if not (video and self.video):
            return source.samples - clip
        if source.video is None:
            return -1
        return max_first_frame(
            source.samples, clip, source.frames, count or self.frames_per_clip,
            self.sample_rate, self.fps, float(self.index.fps),
        )

    def usable(self, picks: list[Pick], what: str, video: bool = True) -> list[Pick]:
        """The ``(track, source)`` picks long enough for a clip (and with video when needed).

        Raises:
            DataError: a source's channel count is not the model's, or no pick is usable (the
                message names the cache, the split and the longest candidate).
        """
        for _, source in picks:
            self.check_channels(source)
        ok = [p for p in picks if self.last_start(p[1], video) >= 0]
        if video and self.video and picks and all(s.video is None for _, s in picks):
            raise DataError(
                self.index.index_path,
                f"the model needs video but no {what} in split {self.split!r} has one",
            )
        if not ok:
            longest = max((s.samples for _, s in picks), default=0) / self.sample_rate
            raise DataError(
                self.index.index_path,
                f"no {what} in split {self.split!r} is long enough for a "
                f"{self.spec.clip_seconds:g} s clip"
                + (" with video" if video and self.video else "")
                + f" (longest: {longest:.2f} s of {len(picks)} candidates)",
            )
        return ok

    def picks(self, *roles: str) -> list[Pick]:
        """Every ``(track, source)`` of the split whose role is one of ``roles``."""
        return [(t, s) for t in self.tracks for s in t.by_role(*roles)]

    def draw_window(
        self, rng: np.random.Generator, source: SourceEntry, video: bool = True,
        clip: int | None = None, count: int | None = None,
    ) -> Window:
        """A random clip window of ``source``; with video it starts on a model frame boundary."""
        last = self.last_start(source, video, clip, count)
        position = int(rng.integers(0, last + 1))
        if video and self.video:
            return Window(source, sample_of_frame(position, self.sample_rate, self.fps), position)
        return Window(source, position, 0)

    def read_video(self, source: SourceEntry, frame: int, count: int) -> np.ndarray:
        """uint8 (count, Cv, H, W) model frames ``frame .. frame+count-1`` of ``source``."""
        index = cache_frame_index(frame, count, self.fps, float(self.index.fps))
        raw = self.store.frames(source, index)
        return to_model_frames(raw, self.spec.crop, self.spec.video_channels)

    def empty_video(self, count: int) -> np.ndarray:
        h, w = self.spec.crop
        return np.zeros((count, self.spec.video_channels, h, w), dtype=np.uint8)


def pick_id(pick: Pick) -> str:
    """``track id`` of a ``(track, source)`` pick, ``track id/source name`` where the track
    holds several sources of that role (two singers of one song are two excerpts)."""
    track, source = pick
    if len(track.by_role(source.role)) > 1:
        return f"{track.id}/{source.name}"
    return track.id


def tensors(item: dict[str, Any]) -> dict[str, torch.Tensor]:
    """numpy arrays / numbers -> tensors with the dtypes of the "Batches" contract."""
    out: dict[str, torch.Tensor] = {}
    for key, value in item.items():
        if isinstance(value, np.ndarray):
            out[key] = torch.from_numpy(value)
        elif isinstance(value, torch.Tensor):
            out[key] = value
        elif key == "offset" or key == "num_sources":
            out[key] = torch.tensor(int(value), dtype=torch.int64)
        else:
            out[key] = torch.tensor(float(value), dtype=torch.float32)
    return out

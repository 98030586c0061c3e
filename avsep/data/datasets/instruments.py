"""Multi-instrument mix-and-separate (Sound of Pixels / Solos / conditioned U-Net setup).

An item mixes ``n`` solo sources, ``n`` drawn uniformly from ``num_sources`` (default 2..7),
each a different URMP instrument taken preferably from different tracks, each from its own
random window, RMS-normalised to ``level_db`` dBFS (plus a random ``gain_db`` jitter). The
mixture is the sum clamped to [-1, 1] (Solos paper); the sources are not clamped.

Curriculum (``curriculum=E``): at epoch ``e`` (see :meth:`set_epoch`) the largest number of
sources is ``min(high, low + e // E)``; the count is drawn uniformly up to it.

Source layout, two options:

* ``source_names=None`` (default, "slots"): S = the largest ``num_sources``; the drawn sources
  fill slots 0..n-1 in draw order, the rest are zeros, and ``num_sources`` says how many are
  real (Sound of Pixels, one visual stream per source);
* ``source_names=URMP names`` (e.g. the 13 heads of MHU-Net / C-U-Net): S = len(source_names),
  the source of instrument k sits in slot ``source_names.index(k)``, absent ones are zeros.

Item (``L = spec.clip_samples``, ``T = spec.frames_per_clip`` or 1 with
``visual_context="frame"`` — the centre frame of the window)::

    mixture      float32 (C, L)               clamp(sum of sources, -1, 1)
    sources      float32 (S, C, L)            zeros in empty slots
    labels       float32 (13,)                presence, URMP_INSTRUMENTS order
    num_sources  int64   ()                   real sources in the item
    video        uint8   (S, T, Cv, H, W)     player frames per slot (zeros when empty); only
                                              when the spec has fps and crop

Test split: the real ensembles of the test tracks (2+ instruments), cut sequentially into
clip-length segments and summed at their recorded levels (URMP evaluation, Solos paper). In the
slots layout S stays ``num_sources``' high end: ensembles with more players are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avsep.data.datasets.base import MixingDataset, Pick, Window, as_range, tensors, uniform
from avsep.data.datasets.cache import CacheIndex, TrackEntry
from avsep.data.datasets.fixed import sequential_starts
from avsep.data.datasets.frames import sample_of_frame
from avsep.data.datasets.mixing import gain_to_rms, mix
from avsep.data.records import URMP_INSTRUMENTS, DataError
from avsep.models.base import ModelSpec

VISUAL_CONTEXTS = ("frames", "frame")


@dataclass(frozen=True)
class Part:
    """One source of an item: where it is read from, its slot and its level."""

    pick: Pick
    window: Window
    slot: int
    level_db: float | None  # None: keep the recorded level (test ensembles)

    @property
    def instrument(self) -> str:
        return str(self.pick[1].instrument)


@dataclass(frozen=True)
class InstrumentRecipe:
    parts: tuple[Part, ...]


class InstrumentsDataset(MixingDataset):
    """Mixtures of 2..7 instruments with labels and per-source visual context."""

    kind = "instruments"

    def __init__(
        self,
        cache: str | Path | CacheIndex,
        spec: ModelSpec,
        split: str,
        *,
        seed: int = 0,
        length: int | None = None,
        video: bool | None = None,
        num_sources: int | tuple[int, int] = (2, 7),
        curriculum: int | None = None,
        visual_context: str = "frames",
        level_db: float = -20.0,
        gain_db: float | tuple[float, float] = 0.0,
        clamp: bool = True,
        source_names: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        super().__init__(cache, spec, split, seed=seed, length=length, video=video)
        low, high = (int(v) for v in as_range(num_sources, "num_sources"))
        if low < 1 or high > len(URMP_INSTRUMENTS):
            raise ValueError(
                f"num_sources must lie in 1..{len(URMP_INSTRUMENTS)}, got {num_sources}"
            )
        self.num_sources = (low, high)
        if curriculum is not None and int(curriculum) < 1:
            raise ValueError(f"curriculum must be >= 1 epoch per added source, got {curriculum}")
        self.curriculum = int(curriculum) if curriculum else None
        if visual_context not in VISUAL_CONTEXTS:
            raise ValueError(
                f"visual_context must be one of {VISUAL_CONTEXTS}, got {visual_context!r}"
            )
        self.visual_frames = self.frames_per_clip if visual_context == "frames" else 1
        self.level_db = float(level_db)
        self.gain_db = as_range(gain_db, "gain_db")
        self.clamp = bool(clamp)
        self.source_names = tuple(source_names) if source_names else None
        if self.source_names:
            unknown = [n for n in self.source_names if n not in URMP_INSTRUMENTS]
            if unknown:
                raise ValueError(
                    f"source_names {unknown} are not URMP instruments {URMP_INSTRUMENTS}"
                )

        picks = self.picks("instrument")
        for track, source in picks:
            if source.instrument not in URMP_INSTRUMENTS:
                raise DataError(
                    source.audio,
                    f"unknown instrument {source.instrument!r} in track {track.id!r}; expected "
                    f"one of {URMP_INSTRUMENTS}",
                )
        picks = [p for p in picks if self._slot_known(p[1].instrument)]
        self.slots = len(self.source_names) if self.source_names else high
        if split == "test":
            self.segments = self._test_segments(picks)
            return
        usable = self.usable(picks, "instrument source")
        self.by_instrument: dict[str, list[Pick]] = {}
        for pick in usable:
            self.by_instrument.setdefault(str(pick[1].instrument), []).append(pick)
        self.instruments = sorted(self.by_instrument, key=URMP_INSTRUMENTS.index)
        if high > len(self.instruments):
            raise DataError(
                self.index.index_path,
                f"num_sources up to {high} needs {high} different instruments, split {split!r} "
                f"has {len(self.instruments)}: {self.instruments}",
            )

    def _slot_known(self, instrument: str | None) -> bool:
        return self.source_names is None or instrument in self.source_names

    # -- test ensembles ---------------------------------------------------------------------
    def _test_segments(self, picks: list[Pick]) -> list[tuple[TrackEntry, int, int]]:
        """(track, start sample, start frame) of every clip of every test ensemble."""
        by_track: dict[str, list[Pick]] = {}
        for pick in picks:
            by_track.setdefault(pick[0].id, []).append(pick)
        segments = []
        for track_id in sorted(by_track):
            members = by_track[track_id]
            if len(members) < 2:
                continue
            if not self.source_names and len(members) > self.slots:
                continue  # more players than the model has source slots
            for _, source in members:
                self.check_channels(source)
            if self.video:
                last = min(self.last_start(s) for _, s in members)
                for frame in range(0, last + 1, self.frames_per_clip):
                    start = sample_of_frame(frame, self.sample_rate, self.fps)
                    segments.append((members[0][0], start, frame))
            else:
                samples = min(s.samples for _, s in members)
                segments += [(members[0][0], s, 0) for s in sequential_starts(samples, self.clip)]
        if not segments:
            raise DataError(
                self.index.index_path,
                f"no test ensemble of 2..{self.slots} instruments at least "
                f"{self.spec.clip_seconds:g} s long",
            )
        return segments

    def __len__(self) -> int:
        if self.split == "test":
            full = len(self.segments)
            return min(full, self._length) if self._length is not None else full
        return super().__len__()

    # -- drawing ----------------------------------------------------------------------------
    def max_sources(self) -> int:
        """The largest number of sources at the current epoch (curriculum)."""
        low, high = self.num_sources
        if self.curriculum is None or self.split != "train":
            return high
        return min(high, low + self.epoch // self.curriculum)

    def _slot(self, instrument: str, order: int) -> int:
        return self.source_names.index(instrument) if self.source_names else order

    def draw(self, rng: np.random.Generator, index: int) -> InstrumentRecipe:
        if self.split == "test":
            track, start, frame = self.segments[index]
            members = [p for p in ((track, s) for s in track.by_role("instrument"))
                       if self._slot_known(p[1].instrument)]
            return InstrumentRecipe(tuple(
                Part(p, Window(p[1], start, frame), self._slot(str(p[1].instrument), i), None)
                for i, p in enumerate(members)
            ))
        count = int(rng.integers(self.num_sources[0], self.max_sources() + 1))
        chosen = rng.choice(len(self.instruments), size=count, replace=False)
        used: set[str] = set()
        parts = []
        for order, k in enumerate(chosen):
            instrument = self.instruments[int(k)]
            candidates = self.by_instrument[instrument]
            fresh = [p for p in candidates if p[0].id not in used] or candidates
            pick = fresh[int(rng.integers(len(fresh)))]
            used.add(pick[0].id)
            window = self.draw_window(rng, pick[1])
            level = self.level_db + uniform(rng, self.gain_db)
            parts.append(Part(pick, window, self._slot(instrument, order), level))
        return InstrumentRecipe(tuple(parts))

    # -- rendering --------------------------------------------------------------------------
    def render(self, recipe: InstrumentRecipe) -> dict[str, torch.Tensor]:
        channels = self.spec.channels
        sources = np.zeros((self.slots, channels, self.clip), dtype=np.float32)
        labels = np.zeros(len(URMP_INSTRUMENTS), dtype=np.float32)
        video = None
        if self.video:
            h, w = self.spec.crop
            shape = (self.slots, self.visual_frames, self.spec.video_channels, h, w)
            video = np.zeros(shape, dtype=np.uint8)
        for part in recipe.parts:
            audio = self.store.audio(part.pick[1], part.window.start, self.clip)
            if part.level_db is not None:
                audio *= np.float32(gain_to_rms(audio, part.level_db))
            sources[part.slot] += audio  # two players of one instrument share its slot
            labels[URMP_INSTRUMENTS.index(part.instrument)] = 1.0
            if video is not None:
                first = part.window.frame
                if self.visual_frames == 1:
                    first += self.frames_per_clip // 2
                video[part.slot] = self.read_video(part.pick[1], first, self.visual_frames)
        item = {
            "mixture": mix(sources, self.clamp),
            "sources": sources,
            "labels": labels,
            "num_sources": len(recipe.parts),
        }
        if video is not None:
            item["video"] = video
        return tensors(item)

"""Multi-instrument mix-and-separate (Sound of Pixels / Solos / conditioned U-Net setup).

Training items (and validation items of a split without ensembles) mix ``n`` solo sources, ``n``
drawn uniformly from ``num_sources`` (default 2..7), each a different URMP instrument taken
preferably from different tracks, each from its own random window. Their levels follow
``mixing``:

* ``"rms"`` (default; Solos paper): each source RMS-normalised to ``level_db`` dBFS (plus a
  random ``gain_db`` jitter); the mixture is the sum clamped to [-1, 1]; the sources are not
  clamped;
* ``"peak_mean"`` (Slizovskaia et al., sec. 3: "scale values in each segment to the [-1, 1]
  range ..., then sum the segments and normalize the sum by the number of instruments"): each
  source peak-normalised to 1 and divided by ``n`` (times the ``gain_db`` jitter, 0 dB by
  default), so each source peaks at 1/n and the sum never clips. ``avsep.platform.data`` selects
  it for the models whose outputs are the 13 URMP instruments (C-U-Net, MHU-Net).

Where the split holds fewer different instruments than ``num_sources`` asks for, the range is
capped to what the split holds, with a warning naming the cap and the config key
(``data.options.num_sources``); fewer than 2 instruments is an error naming that key. The number
of source slots (below) stays what was asked, so the batch shapes stay the model's.

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

    mixture      float32 (C, L)               sum of sources (clamped to [-1, 1] when drawn)
    sources      float32 (S, C, L)            zeros in empty slots
    labels       float32 (13,)                presence, URMP_INSTRUMENTS order
    num_sources  int64   ()                   real sources in the item
    video        uint8   (S, T, Cv, H, W)     player frames per slot (zeros when empty); only
                                              when the spec has fps and crop

Real mixtures (``real_mixtures=True``, default) for validation and test, where the split holds
ensembles (tracks with 2+ instrument parts, e.g. URMP pieces): an item is a window of one
ensemble with every part at its recorded level in its slot (two players of one instrument share
its slot), labels from the parts present, and the mixture is the sum of the parts: the piece's
own mix (URMP ``AuMix``) where the dataset's mix is the sum of its stems.

* validation: ``length`` windows at seeded offsets (item ``i`` from ``(seed, i)``; an ensemble
  is chosen in proportion to its number of window positions). In the slots layout, an ensemble
  with more players than slots gives seeded sub-ensembles of ``S`` of its parts (a warning says
  so); a split without ensembles falls back to drawn mixtures (fixed by the seed);
* test: every ensemble with 2+ instruments, cut sequentially into clip-length segments (URMP
  evaluation, Solos paper). In the slots layout ensembles with more players than slots are left
  out (listed in ``skipped``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avsep.data.datasets.base import MixingDataset, Pick, Window, as_range, tensors, uniform
from avsep.data.datasets.cache import CacheIndex, TrackEntry
from avsep.data.datasets.fixed import sequential_starts
from avsep.data.datasets.frames import sample_of_frame
from avsep.data.datasets.mixing import MIXING, db_to_gain, gain_to_peak, gain_to_rms, mix
from avsep.data.records import URMP_INSTRUMENTS, DataError
from avsep.models.base import ModelSpec

VISUAL_CONTEXTS = ("frames", "frame")
NUM_SOURCES_KEY = "data.options.num_sources"


@dataclass(frozen=True)
class Part:
    """One source of an item: where it is read from, its slot and its level.

    ``level_db``: None keeps the recorded level (real mixtures); with ``mixing="rms"`` the
    source's RMS in dBFS; with ``"peak_mean"`` a gain (dB) on top of the peak of 1/n.
    """

    pick: Pick
    window: Window
    slot: int
    level_db: float | None

    @property
    def instrument(self) -> str:
        return str(self.pick[1].instrument)


@dataclass(frozen=True)
class InstrumentRecipe:
    parts: tuple[Part, ...]
    mixing: str = "rms"  # "recorded" for real mixtures


@dataclass(frozen=True)
class Ensemble:
    """A track with 2+ instrument parts; ``last``: its last window start (frame or sample)."""

    track: TrackEntry
    members: tuple[Pick, ...]
    last: int


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
        mixing: str = "rms",
        real_mixtures: bool = True,
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
        if mixing not in MIXING:
            raise ValueError(f"mixing must be one of {MIXING} (data.options.mixing), "
                             f"got {mixing!r}")
        self.mixing = mixing
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
        self.skipped: list[str] = []  # test ensembles with more players than slots
        self.ensembles: list[Ensemble] = []
        if split == "test":
            self.segments = self._test_segments(picks)
            return
        if split != "train" and real_mixtures:
            self.ensembles = self._ensembles(picks, subsets=True)
            if self.ensembles:
                self.weights = np.array([e.last + 1 for e in self.ensembles], dtype=np.float64)
                self.weights /= self.weights.sum()
                return
        usable = self.usable(picks, "instrument source")
        self.by_instrument: dict[str, list[Pick]] = {}
        for pick in usable:
            self.by_instrument.setdefault(str(pick[1].instrument), []).append(pick)
        self.instruments = sorted(self.by_instrument, key=URMP_INSTRUMENTS.index)
        self._cap_sources()

    def _slot_known(self, instrument: str | None) -> bool:
        return self.source_names is None or instrument in self.source_names

    def _cap_sources(self) -> None:
        """Cap ``num_sources`` to the instruments the split holds (warn), or fail under 2."""
        low, high = self.num_sources
        held = len(self.instruments)
        if high <= held:
            return
        where = f"split {self.split!r} of {self.index.root} holds {held} different " \
                f"instrument(s) {self.instruments}"
        if held < 2:
            raise DataError(
                self.index.index_path,
                f"num_sources up to {high} needs {high} different instruments, {where}: a mix "
                f"needs 2 or more; add instruments to this split or set {NUM_SOURCES_KEY} to "
                f"[1, {max(held, 1)}]",
            )
        capped = (min(low, held), held)
        warnings.warn(
            f"num_sources {low}..{high} capped to {capped[0]}..{capped[1]}: {where}; set "
            f"{NUM_SOURCES_KEY}: [{capped[0]}, {capped[1]}] to choose the range yourself",
            stacklevel=3,
        )
        self.num_sources = capped

    # -- real ensembles ---------------------------------------------------------------------
    def _ensembles(self, picks: list[Pick], subsets: bool) -> list[Ensemble]:
        """The tracks of ``picks`` with 2+ parts whose parts all hold a clip-length window.

        With ``subsets`` (validation), an ensemble with more players than the slots layout has
        slots is kept (its items are seeded sub-ensembles); otherwise it goes to ``skipped``.
        """
        by_track: dict[str, list[Pick]] = {}
        for pick in picks:
            by_track.setdefault(pick[0].id, []).append(pick)
        out, larger = [], []
        for track_id in sorted(by_track):
            members = by_track[track_id]
            if len(members) < 2:
                continue
            for _, source in members:
                self.check_channels(source)
            if not self.source_names and len(members) > self.slots:
                larger.append(track_id)
                if not subsets:
                    continue  # more players than the model has source slots
            if self.video:
                last = min(self.last_start(s) for _, s in members)
            else:
                last = min(s.samples for _, s in members) - self.clip
            if last >= 0:
                out.append(Ensemble(members[0][0], tuple(members), last))
        if subsets and larger and out:
            warnings.warn(
                f"{len(larger)} {self.split} ensemble(s) of {self.index.root} have more players "
                f"than the model's {self.slots} source slots ({larger}): their items are seeded "
                f"sub-ensembles of {self.slots} parts (the model's streams; "
                f"{NUM_SOURCES_KEY} for Sound of Pixels)",
                stacklevel=4,
            )
        else:
            self.skipped = larger
        return out

    def _test_segments(self, picks: list[Pick]) -> list[tuple[TrackEntry, int, int]]:
        """(track, start sample, start frame) of every clip of every test ensemble."""
        segments = []
        for ensemble in self._ensembles(picks, subsets=False):
            if self.video:
                for frame in range(0, ensemble.last + 1, self.frames_per_clip):
                    start = sample_of_frame(frame, self.sample_rate, self.fps)
                    segments.append((ensemble.track, start, frame))
            else:
                samples = ensemble.last + self.clip
                segments += [(ensemble.track, s, 0) for s in sequential_starts(samples, self.clip)]
        if not segments:
            raise DataError(
                self.index.index_path,
                f"no test ensemble of 2..{self.slots} instruments at least "
                f"{self.spec.clip_seconds:g} s long"
                + (f" ({len(self.skipped)} with more players than the {self.slots} source "
                   f"slots: {self.skipped})" if self.skipped else ""),
            )
        return segments

    def __len__(self) -> int:
        if self.split == "test":
            full = len(self.segments)
            return min(full, self._length) if self._length is not None else full
        return super().__len__()

    # -- the unit of a test set -------------------------------------------------------------
    def excerpt_of(self, index: int) -> str:
        """The piece item ``index`` is cut from (``TrackEntry.piece``, else the track id): the
        test segments of one URMP piece share it. Drawn mixtures join their tracks' ids."""
        self._check_index(index)
        if self.split == "test":
            track = self.segments[index][0]
            return track.piece or track.id
        tracks = sorted({p.pick[0].piece or p.pick[0].id for p in self.recipe(index).parts})
        return "+".join(tracks)

    # -- drawing ----------------------------------------------------------------------------
    def max_sources(self) -> int:
        """The largest number of sources at the current epoch (curriculum)."""
        low, high = self.num_sources
        if self.curriculum is None or self.split != "train":
            return high
        return min(high, low + self.epoch // self.curriculum)

    def _slot(self, instrument: str, order: int) -> int:
        return self.source_names.index(instrument) if self.source_names else order

    def _real(self, members: list[Pick], start: int, frame: int) -> InstrumentRecipe:
        """Every part of ``members`` from ``start`` at its recorded level, in its slot."""
        members = [p for p in members if self._slot_known(p[1].instrument)]
        return InstrumentRecipe(tuple(
            Part(p, Window(p[1], start, frame), self._slot(str(p[1].instrument), i), None)
            for i, p in enumerate(members)
        ), "recorded")

    def draw(self, rng: np.random.Generator, index: int) -> InstrumentRecipe:
        if self.split == "test":
            track, start, frame = self.segments[index]
            return self._real([(track, s) for s in track.by_role("instrument")], start, frame)
        if self.ensembles:
            ensemble = self.ensembles[int(rng.choice(len(self.ensembles), p=self.weights))]
            position = int(rng.integers(0, ensemble.last + 1))
            members = list(ensemble.members)
            if not self.source_names and len(members) > self.slots:
                keep = np.sort(rng.choice(len(members), size=self.slots, replace=False))
                members = [members[int(k)] for k in keep]
            if self.video:
                start = sample_of_frame(position, self.sample_rate, self.fps)
                return self._real(members, start, position)
            return self._real(members, position, 0)
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
            jitter = uniform(rng, self.gain_db)
            level = jitter if self.mixing == "peak_mean" else self.level_db + jitter
            parts.append(Part(pick, window, self._slot(instrument, order), level))
        return InstrumentRecipe(tuple(parts), self.mixing)

    # -- rendering --------------------------------------------------------------------------
    def _level(self, audio: np.ndarray, part: Part, recipe: InstrumentRecipe) -> np.ndarray:
        """``audio`` of ``part`` at the level ``recipe.mixing`` gives it (in place)."""
        if recipe.mixing == "rms":
            audio *= np.float32(gain_to_rms(audio, float(part.level_db)))
        elif recipe.mixing == "peak_mean":
            target = db_to_gain(float(part.level_db)) / len(recipe.parts)
            audio *= np.float32(gain_to_peak(audio, target))
        return audio

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
            sources[part.slot] += self._level(audio, part, recipe)  # two players of one
            labels[URMP_INSTRUMENTS.index(part.instrument)] = 1.0  # instrument share its slot
            if video is not None:
                first = part.window.frame
                if self.visual_frames == 1:
                    first += self.frames_per_clip // 2
                video[part.slot] = self.read_video(part.pick[1], first, self.visual_frames)
        item = {
            "mixture": mix(sources, self.clamp and recipe.mixing != "recorded"),
            "sources": sources,
            "labels": labels,
            "num_sources": len(recipe.parts),
        }
        if video is not None:
            item["video"] = video
        return tensors(item)

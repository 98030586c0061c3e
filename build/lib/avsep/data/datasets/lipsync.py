"""Lip-voice synchronisation pairs for VocaLiST (Kadandale, Montesinos & Haro).

Each item is a singer's voice clip and a window of their mouth frames. With probability
``sync_share`` (the paper samples positives and negatives equally) the frames cover the same
instant as the audio (``sync = 1``, ``offset = 0``); otherwise they are shifted by a random
``offset`` of ``min_offset..max_offset`` video frames, either sign (``sync = 0``). A positive
offset means the video window starts ``offset`` frames *after* the audio window. Every clip
fits both shifts of ``max_offset``, so the audio window is not biased by the sign; windows
where the singer is silent are drawn again (up to 8 times).

Item (``L = spec.clip_samples``, ``T = spec.frames_per_clip``)::

    mixture  float32 (C, L)            the vocal alone, RMS-normalised to ``level_db`` dBFS
    video    uint8   (1, T, Cv, H, W)  mouth frames starting at audio frame + offset
    offset   int64   ()                shift in video frames (0 = in sync)
    sync     float32 ()                1 in sync, 0 shifted

The validation and test splits are fixed, seeded sets of pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avsep.data.datasets.base import MixingDataset, Pick, check_fraction, tensors
from avsep.data.datasets.cache import CacheIndex
from avsep.data.datasets.frames import max_audio_frame, max_video_frame, sample_of_frame
from avsep.data.datasets.mixing import ACTIVE_RMS, REDRAWS, normalize_rms, rms
from avsep.data.records import DataError
from avsep.models.base import ModelSpec


@dataclass(frozen=True)
class SyncRecipe:
    pick: Pick
    audio_frame: int
    offset: int


class LipSyncDataset(MixingDataset):
    """In-sync and shifted (voice, mouth frames) pairs; see the module docstring."""

    kind = "lipsync"

    def __init__(
        self,
        cache: str | Path | CacheIndex,
        spec: ModelSpec,
        split: str,
        *,
        seed: int = 0,
        length: int | None = None,
        sync_share: float = 0.5,
        min_offset: int = 1,
        max_offset: int = 15,
        level_db: float = -20.0,
    ) -> None:
        super().__init__(cache, spec, split, seed=seed, length=length, video=True)
        self.sync_share = check_fraction(sync_share, "sync_share")
        if not 1 <= int(min_offset) <= int(max_offset):
            raise ValueError(
                f"need 1 <= min_offset <= max_offset, got min_offset={min_offset}, "
                f"max_offset={max_offset}"
            )
        self.min_offset, self.max_offset = int(min_offset), int(max_offset)
        self.level_db = float(level_db)
        picks = [p for p in self.picks("vocals") if p[1].video is not None]
        for _, source in picks:
            self.check_channels(source)
        self.ranges = {}
        for pick in picks:
            low, high = self._audio_frames(pick)
            if low <= high:
                self.ranges[pick[1].audio] = (low, high)
        self.targets = [p for p in picks if p[1].audio in self.ranges]
        if not self.targets:
            raise DataError(
                self.index.index_path,
                f"no singer with video in split {split!r} is long enough for a "
                f"{spec.clip_seconds:g} s clip with frames shifted by up to +-{max_offset}",
            )

    def _audio_frames(self, pick: Pick) -> tuple[int, int]:
        """Audio start frames whose video windows fit at both shifts of ``max_offset``."""
        source = pick[1]
        last_audio = max_audio_frame(source.samples, self.clip, self.sample_rate, self.fps)
        last_video = max_video_frame(
            source.frames, self.frames_per_clip, self.fps, float(self.index.fps)
        )
        return self.max_offset, min(last_audio, last_video - self.max_offset)

    def draw(self, rng: np.random.Generator, index: int) -> SyncRecipe:
        pick = self.targets[int(rng.integers(len(self.targets)))]
        low, high = self.ranges[pick[1].audio]
        frame = int(rng.integers(low, high + 1))
        for _ in range(REDRAWS):  # a silent window says nothing about sync
            start = sample_of_frame(frame, self.sample_rate, self.fps)
            if rms(self.store.audio(pick[1], start, self.clip)) > ACTIVE_RMS:
                break
            frame = int(rng.integers(low, high + 1))
        offset = 0
        if rng.random() >= self.sync_share:
            offset = int(rng.integers(self.min_offset, self.max_offset + 1))
            offset *= 1 if rng.random() < 0.5 else -1
        return SyncRecipe(pick, frame, offset)

    def render(self, recipe: SyncRecipe) -> dict[str, torch.Tensor]:
        source = recipe.pick[1]
        start = sample_of_frame(recipe.audio_frame, self.sample_rate, self.fps)
        audio = normalize_rms(self.store.audio(source, start, self.clip), self.level_db)
        frames = self.read_video(source, recipe.audio_frame + recipe.offset, self.frames_per_clip)
        item = {
            "mixture": audio,
            "video": frames[None],
            "offset": recipe.offset,
            "sync": 1.0 if recipe.offset == 0 else 0.0,
        }
        return tensors(item)

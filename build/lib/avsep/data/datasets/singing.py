"""Audio-visual singing voice separation mixtures (Li, Wang & Duan; Y-Net / VocaLiST setup).

An item mixes a target vocal (a singer with a mouth video) with an accompaniment:

* the target vocal clip is RMS-normalised to ``level_db`` dBFS, the accompaniment is scaled to
  a random vocal-to-accompaniment SNR drawn uniformly from ``snr_db``;
* in a share ``extra_vocal_share`` of the items ("v+") an extra, irrelevant vocal — an
  ``extra_vocals`` source (a voice of nobody on screen, from any track) or the vocal of another
  singer (another track and performer) — is added
  at ``extra_vocal_db`` relative to the target vocal's RMS (0 dB: the same RMS, as in the paper);
* the accompaniment comes from a random track (``random_pairing=True``, "RandMix") or is the
  target track's own accompaniment at the same instant;
* the mouth frames cover exactly the audio window (the clip starts on a video frame).

Item (``L = spec.clip_samples``, ``T = spec.frames_per_clip``)::

    mixture  float32 (C, L)             vocals + accompaniment (optionally clamped to [-1, 1])
    sources  float32 (2, C, L)          (vocals, accompaniment); the extra vocal, when present,
                                        is part of the accompaniment, so mixture == sum(sources)
    video    uint8   (1, T, Cv, H, W)   only when the spec has fps and crop (or video=True)
    vad      float32 (N,)               only with ``vad=True``: activity of the target vocal at
                                        the STFT frame rate, N = spec.stft.num_frames(L)

Real mixtures (``real_mixtures=True``, default) for validation and test: where the split holds
tracks with their own accompaniment (the synthetic songs, MUSDB18, MIR-1K, URSing), each item
is a window of one such track, its vocal and its own accompaniment at the same instant and at
their recorded levels (no RMS normalisation, no SNR draw), so the plain mixture is the track's
own mix (its ``mixture.wav``, where the mix is the sum of the stems). "v+" still adds an extra
vocal at ``extra_vocal_db`` relative to the target (Li et al. evaluate both). A split whose
vocals have no accompaniment of their own (Acappella) keeps the random pairs of the RandMix
protocol, with a warning; ``real_mixtures=False`` asks for that protocol (Li et al.'s
"Audition-RandMix") everywhere. Random mixing (``random_pairing``) is for training.

* validation: ``length`` windows at seeded offsets (item ``i`` from ``(seed, i)``), "v+" in a
  share ``extra_vocal_share`` of them;
* test: one excerpt of up to ``test_seconds`` (30 s) per vocal track (a seeded bijection of
  vocals and accompaniments in the RandMix protocol), in the conditions ``condition`` ("plain",
  "v+" or "both": plain items first); a random pair is mixed at SNR 0 dB unless ``snr_db`` is
  given. Test items are as long as their excerpt (use batch size 1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avsep.data.datasets.activity import annotation_labels, energy_labels, perturb
from avsep.data.datasets.base import (
    MixingDataset,
    Pick,
    Window,
    as_range,
    check_fraction,
    pick_id,
    tensors,
    uniform,
)
from avsep.data.datasets.cache import CacheIndex, SourceEntry, TrackEntry
from avsep.data.datasets.fixed import fixed_rng, pairing, parse_condition
from avsep.data.datasets.frames import sample_of_frame
from avsep.data.datasets.mixing import (
    ACTIVE_RMS,
    REDRAWS,
    mix,
    normalize_rms,
    rms,
    scale_to_snr,
)
from avsep.data.records import DataError
from avsep.models.base import ModelSpec

ACCOMPANIMENT_ROLES = ("accompaniment", "drums", "bass", "other")
SOURCE_NAMES = ("vocals", "accompaniment")


@dataclass(frozen=True)
class Accompaniment:
    """The accompaniment of a track: the sum of its non-vocal sources."""

    track: TrackEntry
    sources: tuple[SourceEntry, ...]

    @property
    def samples(self) -> int:
        return min(s.samples for s in self.sources)


@dataclass(frozen=True)
class SingingRecipe:
    """The random choices behind one item."""

    target: Pick
    window: Window
    accompaniment: Accompaniment
    accompaniment_start: int
    extra: Pick | None
    extra_start: int
    snr_db: float
    extra_db: float
    length: int
    frames: int
    noise_seed: int
    recorded: bool = False  # a real mixture: the sources at their recorded levels


class SingingDataset(MixingDataset):
    """Target vocal + accompaniment (+ extra vocal) mixtures; see the module docstring."""

    kind = "singing"

    def __init__(
        self,
        cache: str | Path | CacheIndex,
        spec: ModelSpec,
        split: str,
        *,
        seed: int = 0,
        length: int | None = None,
        video: bool | None = None,
        extra_vocal_share: float = 0.5,
        snr_db: float | tuple[float, float] | None = None,
        extra_vocal_db: float | tuple[float, float] = 0.0,
        level_db: float = -20.0,
        random_pairing: bool = True,
        clamp: bool = False,
        vad: bool = False,
        vad_perturbation: float = 0.0,
        vad_segment: int = 1,
        vad_threshold_db: float = -20.0,
        condition: str = "both",
        test_seconds: float = 30.0,
        real_mixtures: bool = True,
    ) -> None:
        super().__init__(cache, spec, split, seed=seed, length=length, video=video)
        self.extra_share = check_fraction(extra_vocal_share, "extra_vocal_share")
        default_snr = 0.0 if split == "test" else (-5.0, 5.0)
        self.snr_db = as_range(default_snr if snr_db is None else snr_db, "snr_db")
        self.extra_db = as_range(extra_vocal_db, "extra_vocal_db")
        self.level_db = float(level_db)
        self.random_pairing = bool(random_pairing)
        self.clamp = bool(clamp)
        self.vad = bool(vad) or vad_perturbation > 0
        self.vad_perturbation = check_fraction(vad_perturbation, "vad_perturbation")
        self.vad_segment = int(vad_segment)
        self.vad_threshold_db = float(vad_threshold_db)

        self.targets = self.usable(self.picks("vocals"), "vocal source")
        accompaniments = []
        for track in self.tracks:
            sources = tuple(track.by_role(*ACCOMPANIMENT_ROLES))
            for source in sources:
                self.check_channels(source)
            if sources:
                accompaniments.append(Accompaniment(track, sources))
        self.accompaniments = [a for a in accompaniments if a.samples >= self.clip]
        if not self.accompaniments:
            raise DataError(
                self.index.index_path,
                f"no accompaniment (roles {ACCOMPANIMENT_ROLES}) in split {split!r} is long "
                f"enough for a {spec.clip_seconds:g} s clip ({len(accompaniments)} found)",
            )
        self.by_track = {a.track.id: a for a in self.accompaniments}
        own = [p for p in self.targets if p[0].id in self.by_track]
        self.real = split != "train" and bool(real_mixtures) and bool(own)
        if split != "train" and real_mixtures and not own:
            warnings.warn(
                f"split {split!r} of {self.index.root} has no vocal with its own accompaniment: "
                "its mixtures pair vocals with accompaniments of other tracks (RandMix)",
                stacklevel=3,
            )
        self.own_pairing = self.real or not self.random_pairing
        if self.own_pairing:
            self.targets = own
            if not self.targets:
                raise DataError(
                    self.index.index_path,
                    f"random_pairing=False but no vocal in split {split!r} has an accompaniment "
                    "in its own track",
                )
        self.conditions: tuple[str, ...] = ()
        if split == "test":
            self.conditions = parse_condition(condition)
            self.test_pairs = pairing(len(self.targets), len(self.accompaniments), self.seed)
            self.test_samples = int(round(test_seconds * self.sample_rate))
        self.need_extra = "v+" in self.conditions if split == "test" else self.extra_share > 0
        self.extras: list[Pick] = []
        if self.need_extra:
            self.extras = self.usable(
                self.picks("extra_vocals", "vocals"), "extra vocal", video=False
            )
            if not any(self._extra_allowed(self.targets[0], e) for e in self.extras):
                raise DataError(
                    self.index.index_path,
                    f"split {split!r} has no vocal from another track/performer to use as "
                    "the extra vocal (set extra_vocal_share=0 or condition='plain')",
                )

    # -- pools ------------------------------------------------------------------------------
    @staticmethod
    def _extra_allowed(target: Pick, extra: Pick) -> bool:
        """An ``extra_vocals`` source (nobody on screen) always; another singer's ``vocals``
        only from another track and, when known, another performer."""
        if extra[1].role == "extra_vocals":
            return True
        if extra[0].id == target[0].id:
            return False
        performer = target[0].performer
        return performer is None or extra[0].performer != performer

    def _draw_extra(self, rng: np.random.Generator, target: Pick) -> Pick:
        for _ in range(64):
            extra = self.extras[int(rng.integers(len(self.extras)))]
            if self._extra_allowed(target, extra):
                return extra
        allowed = [e for e in self.extras if self._extra_allowed(target, e)]
        if not allowed:
            raise DataError(target[1].audio, "no extra vocal from another track/performer")
        return allowed[int(rng.integers(len(allowed)))]

    def __len__(self) -> int:
        if self.split == "test":
            full = len(self.targets) * len(self.conditions)
            return min(full, self._length) if self._length is not None else full
        return super().__len__()

    # -- the unit of a test set -------------------------------------------------------------
    def excerpt_of(self, index: int) -> str:
        """The target vocal's track (``track/source`` where a track has several singers): on
        the test split its plain and v+ items share it (the same window of the same song)."""
        self._check_index(index)
        if self.split == "test":
            return pick_id(self.targets[index % len(self.targets)])
        return pick_id(self.recipe(index).target)

    def condition_of(self, index: int) -> str:
        """``"plain"`` or ``"v+"`` (an extra, off-screen vocal in the accompaniment)."""
        self._check_index(index)
        if self.split == "test":
            return self.conditions[index // len(self.targets)]
        return "plain" if self.recipe(index).extra is None else "v+"

    # -- drawing ----------------------------------------------------------------------------
    def _active_window(
        self, rng: np.random.Generator, target: Pick, clip: int, count: int
    ) -> Window:
        """A window of the target vocal with the singer active (redrawn up to 8 times)."""
        window = self.draw_window(rng, target[1], clip=clip, count=count)
        for _ in range(REDRAWS):
            if rms(self.store.audio(target[1], window.start, clip)) > ACTIVE_RMS:
                break
            window = self.draw_window(rng, target[1], clip=clip, count=count)
        return window

    def _test_length(self, target: Pick, accompaniment: Accompaniment) -> tuple[int, int]:
        """(samples, frames) of a test excerpt: up to ``test_seconds``, within both tracks."""
        samples = min(self.test_samples, target[1].samples, accompaniment.samples)
        if not self.video:
            return samples, 0
        frames = int(samples * self.fps / self.sample_rate)
        while frames > 0 and self.last_start(target[1], clip=sample_of_frame(
            frames, self.sample_rate, self.fps), count=frames) < 0:
            frames -= 1
        return sample_of_frame(frames, self.sample_rate, self.fps), frames

    def draw(self, rng: np.random.Generator, index: int) -> SingingRecipe:
        if self.split == "test":
            pair = index % len(self.targets)
            target = self.targets[pair]
            if self.own_pairing:
                accompaniment = self.by_track[target[0].id]
            else:
                accompaniment = self.accompaniments[int(self.test_pairs[pair])]
            with_extra = self.conditions[index // len(self.targets)] == "v+"
            rng = fixed_rng(self.seed, 1, pair)  # same excerpt for the plain and v+ items
            length, frames = self._test_length(target, accompaniment)
        else:
            target = self.targets[int(rng.integers(len(self.targets)))]
            if self.own_pairing:
                accompaniment = self.by_track[target[0].id]
            else:
                accompaniment = self.accompaniments[int(rng.integers(len(self.accompaniments)))]
            with_extra = bool(rng.random() < self.extra_share)
            length, frames = self.clip, self.frames_per_clip
        window = self._active_window(rng, target, length, frames)
        if self.own_pairing:
            acc_start = min(window.start, accompaniment.samples - length)
        else:
            acc_start = int(rng.integers(0, accompaniment.samples - length + 1))
        extra, extra_start = None, 0
        extra_pick = self._draw_extra(rng, target) if self.extras else None
        if with_extra and extra_pick is not None:
            extra = extra_pick
            extra_start = int(rng.integers(0, max(1, extra[1].samples - length + 1)))
        return SingingRecipe(
            target=target,
            window=window,
            accompaniment=accompaniment,
            accompaniment_start=acc_start,
            extra=extra,
            extra_start=extra_start,
            snr_db=uniform(rng, self.snr_db),
            extra_db=uniform(rng, self.extra_db),
            length=length,
            frames=frames,
            noise_seed=int(rng.integers(2**63 - 1)),
            recorded=self.real,
        )

    # -- rendering --------------------------------------------------------------------------
    def _read_padded(self, source: SourceEntry, start: int, length: int) -> np.ndarray:
        """(C, length) audio from ``start``; zero-padded where the source ends (extra vocals)."""
        available = max(0, min(length, source.samples - start))
        audio = self.store.audio(source, start, available)
        if available == length:
            return audio
        out = np.zeros((audio.shape[0], length), dtype=np.float32)
        out[:, :available] = audio
        return out

    def vocal_activity(self, recipe: SingingRecipe, vocal: np.ndarray) -> np.ndarray:
        """float32 (N,) target-vocal activity: the cached ``vad`` annotation, else energy."""
        track, source = recipe.target
        annotation = source.annotations.get("vad") or track.annotations.get("vad")
        if annotation is not None:
            values = self.store.get(annotation.path)
            labels = annotation_labels(
                values, annotation.rate, recipe.window.start, recipe.length, self.spec.stft
            )
        else:
            labels = energy_labels(vocal, self.spec.stft, self.vad_threshold_db)
        if self.vad_perturbation > 0:
            noise = np.random.default_rng(recipe.noise_seed)
            labels = perturb(labels, self.vad_perturbation, noise, self.vad_segment)
        return labels

    def render(self, recipe: SingingRecipe) -> dict[str, torch.Tensor]:
        length = recipe.length
        vocal = self.store.audio(recipe.target[1], recipe.window.start, length)
        if not recipe.recorded:
            vocal = normalize_rms(vocal, self.level_db)
        accompaniment = self.store.audio(
            recipe.accompaniment.sources[0], recipe.accompaniment_start, length
        )
        for source in recipe.accompaniment.sources[1:]:
            accompaniment += self.store.audio(source, recipe.accompaniment_start, length)
        if not recipe.recorded:
            accompaniment = scale_to_snr(vocal, accompaniment, recipe.snr_db)
        if recipe.extra is not None:
            extra = self._read_padded(recipe.extra[1], recipe.extra_start, length)
            if rms(vocal) > 0:
                extra = scale_to_snr(vocal, extra, -recipe.extra_db)
            accompaniment = accompaniment + extra
        sources = np.stack([vocal, accompaniment])
        item = {"mixture": mix(sources, self.clamp), "sources": sources}
        if self.video:
            frames = self.read_video(recipe.target[1], recipe.window.frame, recipe.frames)
            item["video"] = frames[None]
        if self.vad:
            item["vad"] = self.vocal_activity(recipe, vocal)
        return tensors(item)


__all__ = ["SOURCE_NAMES", "SingingDataset", "SingingRecipe"]

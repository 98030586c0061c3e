"""Write a prepared cache in the exact contract format from arrays (tests and benchmarks).

:func:`write_cache` turns :class:`TrackArrays` into ``CACHE/index.json`` plus the ``.npy`` files
of docs/contracts.md ("The prepared cache"). :func:`make_demo_cache` generates a small corpus
in one cache: singers (syllabic harmonic voices whose mouth frames open with their own voice),
extra voices without picture, accompaniments, and solo and ensemble instrument tracks (one
distinct harmonic timbre and player picture per URMP instrument). Songs and ensembles carry their
own mix file (the exact sum of their cached sources), as a real URMP or MUSDB18 copy does.

Every generated video frame carries its frame number in the first two pixels of its first row
(``frame % 256`` and ``frame // 256``, all channels), so tests can read which frame a dataset
returned; see :func:`frame_numbers`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avsep.data.audio_io import to_int16
from avsep.data.integrity import record_files
from avsep.data.records import URMP_INSTRUMENTS


@dataclass
class SourceArrays:
    """One source: float audio (C, L) in [-1, 1], optional uint8 video (T, H, W, Cv)."""

    name: str
    role: str
    audio: np.ndarray
    instrument: str | None = None
    video: np.ndarray | None = None


@dataclass
class TrackArrays:
    """One track; ``annotations`` maps a name to ``(values float32 (frames,), rate Hz)``;
    ``mixture`` (C, L) is the track's own mix file (URMP AuMix, a song's mixture.wav)."""

    id: str
    split: str
    sources: list[SourceArrays]
    performer: str | None = None
    piece: str | None = None
    annotations: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)
    mixture: np.ndarray | None = None


def write_cache(
    root: str | Path,
    tracks: list[TrackArrays],
    *,
    sample_rate: int,
    fps: float = 25.0,
    crop: tuple[int, int] = (64, 64),
    video_channels: int = 3,
    layout: str = "synthetic",
) -> Path:
    """Write ``tracks`` as a prepared cache under ``root``; returns ``root``. Each track entry
    records its files' sizes and sha256, as ``avsep prepare`` does (:mod:`avsep.data.integrity`)."""
    root = Path(root)
    entries: list[dict[str, Any]] = []
    for track in tracks:
        base = Path("tracks") / track.id
        (root / base / "audio").mkdir(parents=True, exist_ok=True)
        sources = []
        duration = 0.0
        for source in track.sources:
            audio_rel = base / "audio" / f"{source.name}.npy"
            np.save(root / audio_rel, to_int16(source.audio))
            video_rel = None
            if source.video is not None:
                (root / base / "video").mkdir(exist_ok=True)
                video_rel = base / "video" / f"{source.name}.npy"
                np.save(root / video_rel, source.video.astype(np.uint8))
            duration = max(duration, source.audio.shape[-1] / sample_rate)
            sources.append({
                "name": source.name, "role": source.role, "instrument": source.instrument,
                "audio": str(audio_rel), "video": str(video_rel) if video_rel else None,
            })
        annotations = {}
        for name, (values, rate) in track.annotations.items():
            (root / base / "annotations").mkdir(exist_ok=True)
            rel = base / "annotations" / f"{name}.npy"
            np.save(root / rel, values.astype(np.float32))
            annotations[name] = {"path": str(rel), "rate": rate}
        entry: dict[str, Any] = {
            "id": track.id, "split": track.split, "dir": str(base), "duration_s": duration,
            "sources": sources, "performer": track.performer, "piece": track.piece,
        }
        if track.mixture is not None:
            mixture_rel = base / "audio" / "mixture.npy"
            np.save(root / mixture_rel, to_int16(track.mixture))
            entry["mixture"] = str(mixture_rel)
        if annotations:
            entry["annotations"] = annotations
        entry["files"] = record_files(root / base, base.as_posix())
        entries.append(entry)
    index = {
        "version": 1, "layout": layout, "sample_rate": sample_rate, "fps": fps,
        "crop": list(crop), "video_channels": video_channels, "tracks": entries,
    }
    (root / "index.json").write_text(json.dumps(index, indent=1))
    return root


# -- generated signals ---------------------------------------------------------------------
def syllables(rng: np.random.Generator, samples: int, sample_rate: int) -> np.ndarray:
    """float32 (samples,) on/off envelope of sung syllables (0.15-0.5 s on, 0.05-0.3 s off)."""
    env = np.zeros(samples, dtype=np.float32)
    pos = int(rng.uniform(0.0, 0.2) * sample_rate)
    while pos < samples:
        on = int(rng.uniform(0.15, 0.5) * sample_rate)
        ramp = min(on // 4, int(0.02 * sample_rate)) or 1
        shape = np.ones(on, dtype=np.float32)
        shape[:ramp] = np.linspace(0, 1, ramp)
        shape[-ramp:] = np.linspace(1, 0, ramp)
        end = min(samples, pos + on)
        env[pos:end] = shape[: end - pos]
        pos = end + int(rng.uniform(0.05, 0.3) * sample_rate)
    return env


def harmonic(
    rng: np.random.Generator, samples: int, sample_rate: int, f0: float, partials: np.ndarray,
    vibrato: float = 0.0,
) -> np.ndarray:
    """float32 (samples,) harmonic tone with partial amplitudes ``partials`` and vibrato."""
    t = np.arange(samples) / sample_rate
    freq = f0 * (1.0 + vibrato * np.sin(2 * np.pi * rng.uniform(4.0, 6.0) * t))
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    tone = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(partials))
    return (tone / np.sum(np.abs(partials))).astype(np.float32)


def stamp_frames(video: np.ndarray) -> np.ndarray:
    """Write each frame's number into pixels (0, 0) and (0, 1) of ``video`` (T, H, W, Cv)."""
    t = np.arange(video.shape[0])
    video[:, 0, 0, :] = (t % 256)[:, None]
    video[:, 0, 1, :] = (t // 256)[:, None]
    return video


def frame_numbers(video: np.ndarray) -> np.ndarray:
    """int64 (..., T) frame numbers stamped in model-layout frames (..., T, Cv, H, W)."""
    return video[..., 0, 0, 0].astype(np.int64) + 256 * video[..., 0, 0, 1].astype(np.int64)


def mouth_video(
    envelope: np.ndarray, sample_rate: int, fps: float, crop: tuple[int, int], channels: int,
    shade: int,
) -> np.ndarray:
    """uint8 (T, H, W, Cv): a face of brightness ``shade`` whose mouth opens with ``envelope``."""
    h, w = crop
    count = int(len(envelope) * fps / sample_rate)
    starts = (np.arange(count) * sample_rate / fps).astype(np.int64)
    step = max(1, int(sample_rate / fps))
    opening = np.array([envelope[s : s + step].mean() for s in starts])
    video = np.full((count, h, w, channels), shade, dtype=np.uint8)
    rows = np.arange(h)[None, :]
    half = (opening[:, None] * h / 3).astype(np.int64)
    mouth = np.abs(rows - h // 2) <= half  # (T, H)
    cols = slice(w // 4, w - w // 4)
    video[:, :, cols, :] = np.where(mouth[:, :, None, None], 20, shade).astype(np.uint8)
    return stamp_frames(video)


def player_video(
    onsets: np.ndarray, sample_rate: int, fps: float, crop: tuple[int, int], channels: int,
    shade: int,
) -> np.ndarray:
    """uint8 (T, H, W, Cv): an instrument picture of brightness ``shade`` moving at onsets."""
    h, w = crop
    count = int(len(onsets) * fps / sample_rate)
    video = np.full((count, h, w, channels), shade, dtype=np.uint8)
    starts = (np.arange(count) * sample_rate / fps).astype(np.int64)
    step = max(1, int(sample_rate / fps))
    moving = np.array([onsets[s : s + step].any() for s in starts])
    video[moving, h // 2 :, : w // 2, :] = 255 - shade
    return stamp_frames(video)


def mix_of(sources: list[SourceArrays]) -> np.ndarray:
    """float32 (C, L): the exact sum of ``sources`` as stored (each rounded to int16 first), so
    that a cached mix file equals the sum of the cached sources sample for sample."""
    return sum(to_int16(s.audio).astype(np.float32) for s in sources) / np.float32(32768.0)


def _channels(mono: np.ndarray, channels: int) -> np.ndarray:
    return np.repeat(mono[None, :], channels, axis=0)


def make_demo_cache(
    root: str | Path,
    *,
    sample_rate: int = 8000,
    fps: float = 25.0,
    crop: tuple[int, int] = (16, 16),
    video_channels: int = 3,
    channels: int = 1,
    seconds: float = 4.0,
    singers: dict[str, int] | None = None,
    extra_vocals: int = 1,
    instruments: tuple[str, ...] = URMP_INSTRUMENTS,
    solos: int = 1,
    ensembles: int = 1,
    vad_annotation: bool = False,
    seed: int = 0,
) -> Path:
    """A small cache with every role, for ``splits`` train/val/test.

    Per split: ``singers[split]`` singing tracks (vocals with mouth video + accompaniment,
    performer ``<split>-singer<i>``), ``extra_vocals`` tracks holding one ``extra_vocals``
    source, ``solos`` solo tracks per instrument of ``instruments`` (player video), and
    ``ensembles`` ensemble tracks of 2..4 instruments playing together. With
    ``vad_annotation`` each singing track gets a ``vad`` annotation at 100 Hz from its
    syllable envelope.
    """
    rng = np.random.default_rng(seed)
    singers = {"train": 3, "val": 2, "test": 2} if singers is None else singers
    samples = int(round(seconds * sample_rate))
    tracks: list[TrackArrays] = []
    for split, count in singers.items():
        for i in range(count):
            env = syllables(rng, samples, sample_rate)
            f0 = rng.uniform(140.0, 420.0)
            voice = 0.3 * env * harmonic(rng, samples, sample_rate, f0, np.array([1, .6, .4, .2]),
                                         vibrato=0.01)
            accompaniment = 0.2 * harmonic(rng, samples, sample_rate, rng.uniform(60, 120),
                                           np.array([1, .5, .3, .2, .1]))
            accompaniment += 0.02 * rng.standard_normal(samples).astype(np.float32)
            video = mouth_video(env, sample_rate, fps, crop, video_channels, 90 + 20 * (i % 8))
            annotations = {}
            if vad_annotation:
                hop = sample_rate // 100
                annotations["vad"] = (
                    (env[: samples - samples % hop].reshape(-1, hop).mean(1) > 0.5)
                    .astype(np.float32), 100.0,
                )
            parts = [
                SourceArrays("vocals", "vocals", _channels(voice, channels), video=video),
                SourceArrays("accompaniment", "accompaniment", _channels(accompaniment, channels)),
            ]
            tracks.append(TrackArrays(
                id=f"{split}-song{i}", split=split, performer=f"{split}-singer{i}",
                piece=f"{split}-piece{i}", annotations=annotations, sources=parts,
                mixture=mix_of(parts),
            ))
        for i in range(extra_vocals):
            env = syllables(rng, samples, sample_rate)
            voice = 0.3 * env * harmonic(rng, samples, sample_rate, rng.uniform(140, 420),
                                         np.array([1, .5, .3]), vibrato=0.02)
            tracks.append(TrackArrays(
                id=f"{split}-extra{i}", split=split, performer=f"{split}-voice{i}",
                sources=[SourceArrays("extra", "extra_vocals", _channels(voice, channels))],
            ))
        tracks += _instrument_tracks(
            rng, split, instruments, solos, ensembles, samples, sample_rate, fps, crop,
            video_channels, channels,
        )
    return write_cache(
        root, tracks, sample_rate=sample_rate, fps=fps, crop=crop,
        video_channels=video_channels, layout="avsep_demo",
    )


def instrument_tone(
    rng: np.random.Generator, instrument: str, samples: int, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """(audio float32 (samples,), onsets bool (samples,)) of notes with the instrument's timbre.

    Instrument ``k`` of URMP_INSTRUMENTS plays around ``110 * 2 ** (k / 4)`` Hz with a timbre of
    its own (partial amplitudes ``1 / n ** (0.5 + k / 8)``).
    """
    k = URMP_INSTRUMENTS.index(instrument)
    partials = 1.0 / np.arange(1, 7) ** (0.5 + k / 8)
    base = 110.0 * 2 ** (k / 4)
    audio = np.zeros(samples, dtype=np.float32)
    onsets = np.zeros(samples, dtype=bool)
    pos = 0
    while pos < samples:
        length = min(samples - pos, int(rng.uniform(0.2, 0.6) * sample_rate))
        note = harmonic(rng, length, sample_rate, base * 2 ** (rng.integers(0, 5) / 12), partials)
        decay = np.exp(-np.arange(length) / (0.4 * sample_rate)).astype(np.float32)
        audio[pos : pos + length] = 0.3 * note * decay
        onsets[pos : pos + min(length, sample_rate // 25)] = True
        pos += length
    return audio, onsets


def _instrument_tracks(
    rng: np.random.Generator, split: str, instruments: tuple[str, ...], solos: int,
    ensembles: int, samples: int, sample_rate: int, fps: float, crop: tuple[int, int],
    video_channels: int, channels: int,
) -> list[TrackArrays]:
    def source(instrument: str, name: str) -> SourceArrays:
        audio, onsets = instrument_tone(rng, instrument, samples, sample_rate)
        shade = 30 + 15 * URMP_INSTRUMENTS.index(instrument)
        video = player_video(onsets, sample_rate, fps, crop, video_channels, shade)
        return SourceArrays(name, "instrument", _channels(audio, channels), instrument, video)

    tracks = []
    for instrument in instruments:
        for i in range(solos):
            tracks.append(TrackArrays(
                id=f"{split}-solo-{instrument}{i}", split=split,
                performer=f"{split}-{instrument}-player{i}",
                sources=[source(instrument, instrument)],
            ))
    for i in range(ensembles if len(instruments) >= 2 else 0):
        size = int(rng.integers(2, min(4, len(instruments)) + 1))
        chosen = rng.choice(len(instruments), size=size, replace=False)
        parts = [source(instruments[int(k)], f"{j + 1}_{instruments[int(k)]}")
                 for j, k in enumerate(chosen)]
        tracks.append(TrackArrays(
            id=f"{split}-ensemble{i}", split=split, piece=f"{split}-ensemble-piece{i}",
            sources=parts, mixture=mix_of(parts),
        ))
    return tracks


def make_tiny_singing_cache(root: Path) -> Path:
    """The smallest ``av_singing`` cache a search can run on: 2 train, 1 val and 1 test singer
    of 3 s, at the tiny AV MMDenseNet's rate, fps and crop (tests, the autoscaling demo)."""
    from avsep.models import build

    spec = build({"name": "av_mmdensenet", "preset": "tiny"}).spec
    return make_demo_cache(root, sample_rate=spec.stft.sample_rate, crop=tuple(spec.crop),
                           fps=spec.fps, video_channels=spec.video_channels, seconds=3.0,
                           singers={"train": 2, "val": 1, "test": 1},
                           instruments=("violin", "flute"), solos=1, ensembles=0)

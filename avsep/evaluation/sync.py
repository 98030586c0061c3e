"""Lip-sync accuracy against context length: the VocaLiST paper's protocol (Tables 1 and 2).

For each test clip of a singer (voice + mouth frames) the model predicts the audio-visual
offset: every 5-frame visual window inside a context of ``C`` frames (stride 1) is scored
against the audio at each offset in ``±max_offset`` (15) frames, the scores are averaged over
the windows, and the arg-max is the prediction (:func:`avsep.models.vocalist.score_offsets`).
The prediction is correct when it lies within ``±tolerance`` frames of the truth: ±1 frame in
the paper's speech table (contexts 5..15), ±5 frames in its singing table (contexts 5..25).

The paper scores synchronised pairs (truth 0). ``planted`` adds pairs whose video is shifted by
a known number of frames (truth = that shift; a positive shift starts the video later than the
audio, :mod:`avsep.data.datasets.lipsync`'s convention), which the tests use to check that the
offset search recovers what was planted.

Clips: ``items`` per singer of the split, seeded, each centred on a position where the voice is
active over the shortest context; every context length is cut around the same centres, so the
rows of the table compare the same material. Audio is RMS-normalised per clip (``level_db``), as
in training.

:func:`evaluate_sync` returns a ``pandas.DataFrame`` with one row per context length and
excerpt (the singer's track: its clips are not independent of each other)::

    context  excerpt  seconds  n  acc_tol1  acc_tol5      (accuracies in [0, 1])

:func:`avsep.evaluation.tables.sync_table` pools the excerpts into the paper's table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

PAPER_CONTEXTS = (5, 7, 9, 11, 13, 15, 20, 25)  # Table 1 (5..15) and Table 2 (5..25)
PAPER_TOLERANCES = (1, 5)  # Table 1: ±1 frame (speech); Table 2: ±5 frames (singing)

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SyncClip:
    """One evaluated position: a singer's ``source``, the centre (model video frame), and the
    excerpt it comes from (the singer's track, ``track/source`` where a track has several)."""

    source: Any
    centre: int
    excerpt: str = ""


def accuracy_column(tolerance: int) -> str:
    """``acc_tol1``: the table's column for a ±``tolerance`` frame tolerance."""
    return f"acc_tol{int(tolerance)}"


def _check(contexts: Sequence[int], tolerance: Sequence[int], window: int, max_offset: int,
           planted: Sequence[int]) -> tuple[list[int], list[int]]:
    contexts = sorted({int(c) for c in contexts})
    tolerance = sorted({int(t) for t in tolerance})
    if not contexts or contexts[0] < 1:
        raise ValueError(f"sync eval: contexts must be positive frame counts, got {contexts}")
    if not tolerance or tolerance[0] < 0:
        raise ValueError(f"sync eval: tolerances must be >= 0 frames, got {tolerance}")
    if window < 1 or max_offset < 1:
        raise ValueError(f"sync eval: need window >= 1 and max_offset >= 1, got {window}, "
                         f"{max_offset}")
    if any(abs(int(k)) > max_offset for k in planted):
        raise ValueError(f"sync eval: planted offsets {list(planted)} must lie within the "
                         f"search range ±{max_offset}")
    if all(c < window for c in contexts):
        raise ValueError(f"sync eval: every context {contexts} is shorter than the model's "
                         f"{window}-frame window; use contexts >= {window}")
    return contexts, tolerance


def _scorer_and_rates(model: Any, sample_rate: int | None, fps: float | None,
                      window: int | None) -> tuple[Any, int, float, int, Any]:
    """(scorer, sample rate, fps, window, spec) for a VocaLiST or a plain scorer callable."""
    from avsep.models.vocalist import VocaLiST, model_scorer, vocalist_spec

    if isinstance(model, VocaLiST):
        spec = model.spec
        return (model_scorer(model), spec.stft.sample_rate, float(spec.fps),
                int(window or model.config.window_frames), spec)
    if not callable(model):
        raise TypeError(f"sync eval: expected a VocaLiST model or a scorer callable "
                        f"(audio (N, C, L), video (N, 1, W, 3, H, W)) -> logits (N,); got "
                        f"{type(model).__name__}")
    spec = vocalist_spec(int(window or 5))
    return (model, int(sample_rate or spec.stft.sample_rate), float(fps or spec.fps),
            int(window or 5), spec)


def _dataset(cache: Any, spec: Any, split: str, max_offset: int) -> Any:
    from avsep.data.datasets.lipsync import LipSyncDataset

    return LipSyncDataset(cache, spec, split, max_offset=max_offset)


def _clip_range(dataset: Any, source: Any, span: int, reach: int) -> tuple[int, int]:
    """Centre frames whose span ``span`` (frames) plus ``reach`` on both sides fits the audio
    and the video of ``source``."""
    from avsep.data.datasets.frames import max_audio_frame, max_video_frame

    half = span // 2
    last_audio = max_audio_frame(source.samples, 0, dataset.sample_rate, dataset.fps)
    last_video = max_video_frame(source.frames, 1, dataset.fps, float(dataset.index.fps))
    low = half + reach
    high = min(last_audio, last_video + 1) - (span - half) - reach
    return low, high


def select_clips(dataset: Any, span: int, reach: int, items: int, seed: int,
                 active: int | None = None) -> list[SyncClip]:
    """``items`` seeded centres per singer where ``span + 2·reach`` frames of audio and video
    exist around them and the voice is active over the central ``active`` frames (default
    ``span``; redrawn up to a few times)."""
    from avsep.data.datasets.base import pick_id
    from avsep.data.datasets.frames import sample_of_frame
    from avsep.data.datasets.mixing import ACTIVE_RMS, REDRAWS, rms

    rng = np.random.default_rng([int(seed), 7])
    clips = []
    for pick in dataset.targets:
        source = pick[1]
        low, high = _clip_range(dataset, source, span, reach)
        if low > high:
            continue
        for _ in range(items):
            for _ in range(REDRAWS):
                centre = int(rng.integers(low, high + 1))
                start = sample_of_frame(centre - (active or span) // 2, dataset.sample_rate,
                                        dataset.fps)
                length = sample_of_frame(active or span, dataset.sample_rate, dataset.fps)
                if rms(dataset.store.audio(source, start, length)) > ACTIVE_RMS:
                    break
            clips.append(SyncClip(source, centre, pick_id(pick)))
    if not clips:
        raise ValueError(f"sync eval: no singer with video in split {dataset.split!r} is long "
                         f"enough for a {span}-frame context with a ±{reach}-frame search; "
                         "use shorter contexts or longer recordings")
    return clips


def _cut(dataset: Any, clip: SyncClip, context: int, max_offset: int, shift: int,
         level_db: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio (C, L) of ``context + 2·max_offset`` frames and the video of the same span
    starting ``shift`` frames later (the planted offset), both around ``clip.centre``."""
    from avsep.data.datasets.frames import sample_of_frame
    from avsep.data.datasets.mixing import normalize_rms

    first = clip.centre - context // 2 - max_offset
    frames = context + 2 * max_offset
    start = sample_of_frame(first, dataset.sample_rate, dataset.fps)
    length = sample_of_frame(frames, dataset.sample_rate, dataset.fps)
    audio = normalize_rms(dataset.store.audio(clip.source, start, length), level_db)
    video = dataset.read_video(clip.source, first + shift, frames)  # (T, Cv, H, W)
    return torch.from_numpy(np.ascontiguousarray(audio)), torch.from_numpy(video[None])


def evaluate_sync(model: Any, cache: str | Path | Any, split: str = "test",
                  contexts: Sequence[int] = PAPER_CONTEXTS,
                  tolerance: Sequence[int] = PAPER_TOLERANCES, *, planted: Sequence[int] = (0,),
                  max_offset: int = 15, window: int | None = None, items: int = 8,
                  seed: int = 0, level_db: float = -20.0, batch_size: int = 256,
                  sample_rate: int | None = None, fps: float | None = None) -> Any:
    """Sync accuracy per context length and excerpt (see the module docstring) ->
    ``pandas.DataFrame``.

    ``model``: a :class:`~avsep.models.vocalist.VocaLiST` (its spec gives the rates and its
    ``window_frames`` the scored window) or a scorer ``(audio (N, C, Lw), video (N, 1, W, 3, H,
    W)) -> logits (N,)``. ``cache``: a prepared cache (path or index) at the model's sample
    rate and crop. Contexts shorter than the window are skipped. Columns: ``context``,
    ``excerpt`` (the singer's track: the unit of the verdict statistics), ``seconds``, ``n``
    (the excerpt's clips × planted offsets) and one ``acc_tol<k>`` per tolerance
    (:func:`avsep.evaluation.tables.sync_table` pools the excerpts per context).
    """
    import pandas as pd

    from avsep.models.vocalist import score_offsets

    scorer, rate, frame_rate, window, spec = _scorer_and_rates(model, sample_rate, fps, window)
    contexts, tolerance = _check(contexts, tolerance, window, max_offset, planted)
    contexts = [c for c in contexts if c >= window]
    dataset = _dataset(cache, spec, split, max_offset)
    reach = max_offset + max(abs(int(k)) for k in planted)
    clips = select_clips(dataset, max(contexts), reach, items, seed, active=min(contexts))
    excerpts = np.array([clip.excerpt for clip in clips])
    rows = []
    for context in contexts:
        errors = []  # (planted offsets, clips): |predicted - planted| in frames
        for shift in planted:
            cut = [_cut(dataset, clip, context, max_offset, int(shift), level_db)
                   for clip in clips]
            audio = torch.stack([a for a, _ in cut])  # (B, C, L)
            video = torch.stack([v for _, v in cut])  # (B, 1, T, Cv, H, W)
            scores = score_offsets(scorer, audio, video, sample_rate=rate, fps=frame_rate,
                                   window=window, max_offset=max_offset, batch_size=batch_size)
            errors.append((scores.argmax(dim=1) - max_offset - int(shift)).abs().numpy())
        error = np.stack(errors)
        for excerpt in dict.fromkeys(excerpts):
            mine = error[:, excerpts == excerpt]
            row = {"context": context, "excerpt": str(excerpt), "seconds": context / frame_rate,
                   "n": int(mine.size)}
            row.update({accuracy_column(t): float((mine <= t).mean()) for t in tolerance})
            rows.append(row)
    return pd.DataFrame(rows)

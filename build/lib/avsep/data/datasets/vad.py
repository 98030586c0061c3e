"""Singing mixtures with frame-level vocal activity (Swaminathan & Lerch): the data of both
``vad_cnn`` (the CNN detector) and every arm of ``attr_dnn`` (the separator reads the labels
as its activity input, or trains on them in the detector arm).

The same mixtures as :class:`~avsep.data.datasets.singing.SingingDataset`, audio only, with the
target vocal's activity labels always on (the cached ``vad`` annotation when the track has one,
else the vocal's energy; see :mod:`avsep.data.datasets.activity`), and no extra vocal by
default: the paper's MIR-1K mixtures hold one voice and its accompaniment, and an extra voice
is not the target and would contradict energy-based labels. The accompaniment is drawn at
random for every mixture (``random_pairing``), the paper's data augmentation (Table II).

Item (``L = spec.clip_samples``, ``N = spec.stft.num_frames(L)``)::

    mixture  float32 (C, L)
    sources  float32 (2, C, L)   (vocals, accompaniment)
    vad      float32 (N,)        1 where the target vocal is active (with exactly
                                 ``round(vad_perturbation * N)`` frames flipped at uniform
                                 random positions, seeded per item, when > 0; ``attr_dnn``'s
                                 ``perturbed`` arm flips its own input instead)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avsep.data.datasets.cache import CacheIndex
from avsep.data.datasets.singing import SingingDataset
from avsep.models.base import ModelSpec


class VadDataset(SingingDataset):
    """Singing mixtures with frame-level activity labels and no video."""

    kind = "vad"
    fixed_options = ("video", "vad")  # always off / on here

    def __init__(
        self,
        cache: str | Path | CacheIndex,
        spec: ModelSpec,
        split: str,
        *,
        extra_vocal_share: float = 0.0,
        condition: str = "plain",
        **options: Any,
    ) -> None:
        fixed = sorted(set(options) & set(self.fixed_options))
        if fixed:
            raise ValueError(f"VadDataset fixes {fixed} (no video, labels always on)")
        super().__init__(
            cache, spec, split, video=False, vad=True, extra_vocal_share=extra_vocal_share,
            condition=condition, **options,
        )

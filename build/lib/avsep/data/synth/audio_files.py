"""WAV and annotation writing shared by the singing and ensemble writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

PEAK = 0.9  # mixtures are scaled so that no sample exceeds this


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono float ``audio`` ``(L,)`` as 16-bit PCM WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")


def rms_normalise(audio: np.ndarray, target: float) -> np.ndarray:
    """Scale ``audio`` to RMS ``target`` (silence stays silent)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return (audio * (target / rms) if rms > 0 else audio).astype(np.float32)


def headroom_gain(*signals: np.ndarray) -> float:
    """One gain for all ``signals`` so that none peaks above :data:`PEAK`."""
    top = max(float(np.max(np.abs(s))) for s in signals)
    return min(1.0, PEAK / top) if top > 0 else 1.0

"""Dataset annotation files -> float32 frame sequences at one rate (``RATE`` = 100 Hz).

Kinds (the annotation's name in a record decides how it is read):

``vad``    vocal activity. MIR-1K ``.vocal``: one 0/1 per line for 40 ms frames every 20 ms;
           ``.json``: ``{"rate": Hz, "values": [...]}``; ``.npy``: values at 100 Hz.
``pitch``  MIR-1K ``.pv``: semitones per 40 ms/20 ms frame, 0 = unvoiced.
``f0``     URMP ``F0s_*.txt``: ``time_s  f0_hz`` per line, 0 = unvoiced; linear between voiced
           neighbours.
``notes``  URMP ``Notes_*.txt``: ``onset_s  pitch  duration_s`` per line -> the pitch column
           while a note sounds, 0 elsewhere.

Any other kind stored as ``.npy`` is taken to be at 100 Hz already (the synthetic corpus's
``envelope``); other files (``boxes``, ``landmarks``) drive cropping and are not converted.
Output frame ``j`` describes time ``j / RATE``; its length is ``floor(duration_s * RATE)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from avsep.data.records import DataError

RATE = 100.0
CROP_KINDS = frozenset({"boxes", "landmarks"})  # used for cropping, not written as sequences
MIR1K_HOP_S, MIR1K_FRAME_S = 0.020, 0.040


def _table(path: Path, columns: int) -> np.ndarray:
    """Whitespace-separated numbers, at least ``columns`` per line -> float64 ``(n, >=columns)``."""
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as err:
        raise DataError(path, f"unreadable annotation table ({err})") from err
    if data.size == 0:
        return np.zeros((0, columns))
    if data.shape[1] < columns:
        raise DataError(path, f"expected {columns} columns per line, found {data.shape[1]}")
    return data


def _frames(times: np.ndarray, values: np.ndarray, out_times: np.ndarray) -> np.ndarray:
    """Nearest-time lookup of ``values`` (at sorted ``times``) for each of ``out_times``."""
    if len(times) == 0:
        return np.zeros(len(out_times), dtype=np.float32)
    after = np.clip(np.searchsorted(times, out_times), 0, len(times) - 1)
    before = np.clip(after - 1, 0, len(times) - 1)
    use_before = np.abs(out_times - times[before]) <= np.abs(times[after] - out_times)
    return values[np.where(use_before, before, after)].astype(np.float32)


def _hop_sequence(values: np.ndarray, duration_s: float) -> np.ndarray:
    """MIR-1K frame values (40 ms frames every 20 ms, centre ``i * hop + frame / 2``)."""
    centres = np.arange(len(values)) * MIR1K_HOP_S + MIR1K_FRAME_S / 2
    return _frames(centres, values, _out_times(duration_s))


def _out_times(duration_s: float) -> np.ndarray:
    return np.arange(int(math.floor(duration_s * RATE + 1e-6))) / RATE


def _npy_at_rate(path: Path, duration_s: float) -> np.ndarray:
    """A ``.npy`` sequence already at ``RATE``: cut or zero-padded to the track's length."""
    try:
        values = np.load(path).astype(np.float32).reshape(-1)
    except (OSError, ValueError) as err:
        raise DataError(path, f"unreadable annotation array ({err})") from err
    out = np.zeros(len(_out_times(duration_s)), dtype=np.float32)
    out[: min(len(out), len(values))] = values[: len(out)]
    return out


def _vad(path: Path, duration_s: float) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".vocal":
        return _hop_sequence(_table(path, 1)[:, 0], duration_s)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text())
            rate, values = float(data["rate"]), np.asarray(data["values"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(path, f'expected {{"rate": Hz, "values": [...]}} ({err})') from err
        return _frames(np.arange(len(values)) / rate, values, _out_times(duration_s))
    if suffix == ".npy":
        return _npy_at_rate(path, duration_s)
    raise DataError(path, "unknown vocal-activity format; expected .vocal, .json or .npy")


def _f0(path: Path, duration_s: float) -> np.ndarray:
    data = _table(path, 2)
    times, hz = data[:, 0], data[:, 1]
    out_t = _out_times(duration_s)
    voiced = _frames(times, (hz > 0).astype(np.float64), out_t) > 0.5
    keep = hz > 0
    if not keep.any():
        return np.zeros(len(out_t), dtype=np.float32)
    f0 = np.interp(out_t, times[keep], hz[keep]).astype(np.float32)
    return np.where(voiced, f0, 0.0).astype(np.float32)


def _notes(path: Path, duration_s: float) -> np.ndarray:
    data = _table(path, 3)
    out_t = _out_times(duration_s)
    out = np.zeros(len(out_t), dtype=np.float32)
    for onset, pitch, length in data[:, :3]:
        out[(out_t >= onset) & (out_t < onset + length)] = pitch
    return out


READERS = {
    "vad": _vad,
    "pitch": lambda path, d: _hop_sequence(_table(path, 1)[:, 0], d),
    "f0": _f0,
    "notes": _notes,
}


def read_annotation(name: str, path: Path, duration_s: float) -> np.ndarray | None:
    """float32 ``(floor(duration_s * RATE),)`` for a known kind, ``None`` for others."""
    if name in CROP_KINDS:
        return None
    reader = READERS.get(name)
    if reader is None and path.suffix.lower() == ".npy":
        reader = _npy_at_rate
    if reader is None:
        return None
    if not path.is_file():
        raise DataError(path, f"missing file (annotation {name!r})")
    return reader(path, duration_s)

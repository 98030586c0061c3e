"""The common record type every dataset layout reader returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# URMP's 13 instruments, in the order of the K=13 presence vector and the 13 decoder heads.
URMP_INSTRUMENTS: tuple[str, ...] = (
    "violin",
    "viola",
    "cello",
    "double_bass",
    "flute",
    "oboe",
    "clarinet",
    "bassoon",
    "saxophone",
    "trumpet",
    "horn",
    "trombone",
    "tuba",
)


@dataclass
class SourceRecord:
    """One isolated source of a track.

    ``role`` is one of "vocals", "accompaniment", "instrument", "extra_vocals", "drums", "bass",
    "other"; ``instrument`` is a URMP instrument name when the role is "instrument".
    """

    name: str
    role: str
    audio_path: Path
    instrument: str | None = None
    video_path: Path | None = None
    annotations: dict[str, Path] = field(default_factory=dict)


@dataclass
class TrackRecord:
    """One track (song, piece or clip) of a dataset, as found on disk."""

    layout: str
    track_id: str
    split: str  # "train", "val", "test" or "unknown"
    sources: list[SourceRecord]
    sample_rate: int | None = None
    duration_s: float | None = None
    channels: int | None = None
    mixture_path: Path | None = None
    video_path: Path | None = None
    performer: str | None = None
    piece: str | None = None
    annotations: dict[str, Path] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (paths as strings)."""

        def convert(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, list):
                return [convert(v) for v in value]
            return value

        return convert(asdict(self))


@dataclass
class Problem:
    """A problem a reader found: the file it concerns and what is wrong."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DataError(ValueError):
    """A bad input file; the message names the file and the problem."""

    def __init__(self, path: Path | str, message: str):
        self.path = Path(path)
        self.problem = message
        super().__init__(f"{path}: {message}")

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:
        # copy and pickle rebuild it from (path, message): Ray copies a trial's error
        return type(self), (self.path, self.problem)

"""Acappella (Montesinos, Kadandale, Haro, BMVC 2021): 46 h of solo a-cappella singing videos
in four language groups, used by Y-Net and VocaLiST.

Supported trees, as the authors' ``preproc/preprocess.py`` writes them::

    ROOT/<split>.csv                  train.csv, val_seen.csv, test_seen.csv, test_unseen.csv:
                                      ID,Repeat,Init,Fin,Length (s),Song Name,Link,Comments,
                                      Singer,Language,Gender
    ROOT/splits/<subset>/audio/<Language>/<Gender>/<sample>.wav       16384 Hz mono
    ROOT/splits/<subset>/frames/<Language>/<Gender>/<sample>.npy      uint8 (T, 128, 96, 3) faces
    ROOT/splits/<subset>/landmarks/<Language>/<Gender>/<sample>.npy   int16 (T, 68, 2) in-crop
    ROOT/samples/<sample>.mp4         the unprocessed 25 fps excerpts (used when splits/ is absent)

``<sample>`` is ``<ID>_<Init>_to_<Fin>`` with the CSV's ``m.ss`` times written ``m_ss``;
``<subset>`` is ``train``, ``val_seen``, ``test_seen`` or ``test_unseen_<language>_<gender>``.
Splits: train -> "train", val_seen -> "val", test_* -> "test" (the subset is kept in
``extra["subset"]``). Without ``splits/``, a sample's split is the CSV file that lists its ID.
Frame arrays are 25 fps; landmarks (annotation "landmarks", dlib's 68 points) give the mouth box.

Options: ``sample_rate`` (None; the preprocessed audio is 16384 Hz), ``min_seconds``,
``check_video``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from avsep.data.layouts._common import Collector, finish, require_root
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord

SAMPLE = re.compile(r"^(?P<id>.+)_(?P<init>\d+_\d+)_to_(?P<fin>\d+_\d+)$")
SUBSETS = {"train": "train", "val_seen": "val", "test_seen": "test", "test_unseen": "test"}
FPS = 25.0


def _split_of(subset: str, path: Path) -> str:
    for prefix, split in SUBSETS.items():
        if subset == prefix or subset.startswith(prefix + "_"):
            return split
    raise DataError(path, f"unknown Acappella subset {subset!r}; expected one of "
                          f"{list(SUBSETS)} (test_unseen_<language>_<gender> allowed)")


def _csv_rows(root: Path) -> dict[str, dict[str, str]]:
    """``{ID: row}`` over ROOT/*.csv; each row gains ``"_subset"``, the CSV's stem."""
    rows: dict[str, dict[str, str]] = {}
    for path in sorted(root.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "ID" not in reader.fieldnames:
                raise DataError(path, "expected an Acappella CSV with an ID column")
            for row in reader:
                rows[row["ID"]] = {**row, "_subset": path.stem}
    return rows


def _sample_id(path: Path) -> str:
    match = SAMPLE.match(path.stem)
    if match is None:
        raise DataError(path, "file name is not an Acappella sample <ID>_<m_ss>_to_<m_ss>")
    return match["id"]


def _preprocessed(audio: Path, root: Path, rows: dict[str, dict[str, str]]) -> TrackRecord:
    subset, _, language, gender = audio.relative_to(root / "splits").parts[:4]
    base = root / "splits" / subset
    frames = base / "frames" / language / gender / f"{audio.stem}.npy"
    if not frames.is_file():
        raise DataError(frames, "missing file (face frames for this sample's audio)")
    landmarks = base / "landmarks" / language / gender / f"{audio.stem}.npy"
    source = SourceRecord(name="vocals", role="vocals", audio_path=audio, video_path=frames,
                          annotations={"landmarks": landmarks} if landmarks.is_file() else {})
    row = rows.get(_sample_id(audio), {})
    return TrackRecord(layout="acappella", track_id=audio.stem, split=_split_of(subset, audio),
                       sources=[source], video_path=frames, performer=row.get("Singer") or None,
                       piece=row.get("Song Name") or None,
                       extra={"subset": subset, "language": language, "gender": gender,
                              "video_fps": FPS})


def _raw(video: Path, rows: dict[str, dict[str, str]]) -> TrackRecord:
    ytid = _sample_id(video)
    if ytid not in rows:
        raise DataError(video, f"ID {ytid!r} is in no Acappella CSV split file")
    row = rows[ytid]
    source = SourceRecord(name="vocals", role="vocals", audio_path=video, video_path=video)
    return TrackRecord(layout="acappella", track_id=video.stem,
                       split=_split_of(row["_subset"], video), sources=[source], video_path=video,
                       performer=row.get("Singer") or None, piece=row.get("Song Name") or None,
                       extra={"subset": row["_subset"], "language": row.get("Language"),
                              "gender": row.get("Gender")})


def read(root: Path, *, skip_bad: bool = False, sample_rate: int | None = None,
         min_seconds: float | None = None,
         check_video: bool = True) -> tuple[list[TrackRecord], list[Problem]]:
    root = require_root(root, "Acappella")
    rows = _csv_rows(root)
    files: list[Path] = []
    channels = None  # the excerpts' sound tracks keep their channels
    if (root / "splits").is_dir():
        files = sorted((root / "splits").glob("*/audio/*/*/*.wav"))
        builders = [lambda f=f: _preprocessed(f, root, rows) for f in files]
        channels = 1  # preprocess.py writes mono
    elif (root / "samples").is_dir():
        files = sorted((root / "samples").glob("*.mp4"))
        builders = [lambda f=f: _raw(f, rows) for f in files]
    if not files:
        raise DataError(root, "no Acappella samples: expected splits/<subset>/audio/<Language>/"
                              "<Gender>/*.wav or samples/*.mp4 with <split>.csv files")
    return finish(Collector(skip_bad), builders, sample_rate=sample_rate, channels=channels,
                  min_seconds=min_seconds, check_video=check_video)

"""URMP (University of Rochester Multi-Modal Music Performance dataset).

Supported tree (the released naming, e.g. piece 01 "Jupiter" for violin and cello)::

    ROOT/01_Jupiter_vn_vc/
        AuMix_01_Jupiter_vn_vc.wav           mixture
        AuSep_1_vn_01_Jupiter.wav            source k=1 (violin), AuSep_2_vc_01_Jupiter.wav ...
        Vid_01_Jupiter_vn_vc.mp4             ensemble video
        F0s_1_vn_01_Jupiter.txt              optional pitch track per source  (annotation "f0")
        Notes_1_vn_01_Jupiter.txt            optional note list per source    (annotation "notes")
        Vid_01_Jupiter_vn_vc.boxes.json      optional player boxes (synthetic corpus sidecar)
    ROOT/avsep_splits.json                   optional {"01_Jupiter_vn_vc": "train"|"val"|"test"}
    ROOT/avsep_meta.json                     optional {"01_Jupiter_vn_vc": {"sources": [{"player":
                                             "P01", ...}, ...]}} (the synthetic corpus writes it)

Source names are ``<k>_<abbr>`` (``1_vn``), instruments the URMP names of
:data:`avsep.data.records.URMP_INSTRUMENTS`. Split: from ``avsep_splits.json``, else "unknown"
(:mod:`avsep.data.splits` then assigns one). The players of ``avsep_meta.json``, when present,
are kept in ``extra["performers"]`` so that splits can keep each player on one side.

Options: ``sample_rate`` (None: any rate shared by the track; the real dataset is 48 kHz),
``channels``, ``min_seconds``, ``check_video`` (decode first/last video frame; default True).
"""

from __future__ import annotations

import re
from pathlib import Path

from avsep.data.layouts._common import (
    Collector,
    check_instrument,
    finish,
    load_json,
    load_splits,
    require_file,
    require_root,
)
from avsep.data.records import DataError, Problem, SourceRecord, TrackRecord

ABBREVIATIONS: dict[str, str] = {
    "vn": "violin", "va": "viola", "vc": "cello", "db": "double_bass", "fl": "flute",
    "ob": "oboe", "cl": "clarinet", "bn": "bassoon", "sax": "saxophone", "tpt": "trumpet",
    "hn": "horn", "tbn": "trombone", "tba": "tuba",
}
FOLDER = re.compile(r"^(?P<num>\d{2})_(?P<piece>[^_]+)_(?P<codes>[a-z]+(?:_[a-z]+)*)$")


def boxes_sidecar(video: Path | None) -> Path | None:
    """``<video stem>.boxes.json`` beside ``video`` when it exists (docs/contracts.md)."""
    if video is None:
        return None
    sidecar = video.with_name(video.stem + ".boxes.json")
    return sidecar if sidecar.is_file() else None


def _players(root: Path) -> dict[str, list[str]]:
    """``{piece folder: [player, ...]}`` from ``ROOT/avsep_meta.json`` (empty when absent)."""
    path = root / "avsep_meta.json"
    data = load_json(path) if path.is_file() else {}
    if not isinstance(data, dict):
        raise DataError(path, "expected {\"<piece folder>\": {\"sources\": [...]}}")
    return {name: [str(s["player"]) for s in meta.get("sources", []) if s.get("player")]
            for name, meta in data.items() if isinstance(meta, dict)}


def _track(folder: Path, split: str, players: list[str] | None = None) -> TrackRecord:
    match = FOLDER.match(folder.name)
    if match is None:
        raise DataError(folder, "folder name does not follow URMP naming NN_Piece_ab_cd "
                                "(e.g. 01_Jupiter_vn_vc)")
    num, piece, codes = match["num"], match["piece"], match["codes"].split("_")
    mixture = require_file(folder / f"AuMix_{folder.name}.wav", "URMP mixture AuMix_*.wav")
    video = folder / f"Vid_{folder.name}.mp4"
    if not video.is_file():
        raise DataError(video, "missing file (URMP ensemble video Vid_*.mp4)")
    sources = []
    for k, code in enumerate(codes, start=1):
        stem = f"{k}_{code}_{num}_{piece}"
        audio = folder / f"AuSep_{stem}.wav"
        instrument = check_instrument(ABBREVIATIONS.get(code, code), audio)
        require_file(audio, f"URMP source {k} ({instrument}) AuSep_{stem}.wav")
        notes = {name: path for name, path in
                 (("f0", folder / f"F0s_{stem}.txt"), ("notes", folder / f"Notes_{stem}.txt"))
                 if path.is_file()}
        sources.append(SourceRecord(name=f"{k}_{code}", role="instrument", audio_path=audio,
                                    instrument=instrument, video_path=video, annotations=notes))
    extra = [p.name for p in folder.glob("AuSep_*.wav")
             if p.name not in {s.audio_path.name for s in sources}]
    if extra:
        raise DataError(folder / extra[0], f"source file not named by the folder's instruments "
                                           f"{codes}")
    annotations = {}
    sidecar = boxes_sidecar(video)
    if sidecar is not None:
        annotations["boxes"] = sidecar
    return TrackRecord(layout="urmp", track_id=folder.name, split=split, sources=sources,
                       mixture_path=mixture, video_path=video, piece=f"{num}_{piece}",
                       annotations=annotations,
                       extra={"performers": list(players)} if players else {})


def read(root: Path, *, skip_bad: bool = False, sample_rate: int | None = None,
         channels: int | None = None, min_seconds: float | None = None,
         check_video: bool = True) -> tuple[list[TrackRecord], list[Problem]]:
    root = require_root(root, "URMP")
    splits = load_splits(root / "avsep_splits.json")
    players = _players(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and re.match(r"^\d{2}_", p.name))
    if not folders:
        raise DataError(root, "no URMP piece folders (NN_Piece_ab_cd) found")
    builders = [lambda f=f: _track(f, splits.get(f.name, "unknown"), players.get(f.name))
                for f in folders]
    return finish(Collector(skip_bad), builders, sample_rate=sample_rate, channels=channels,
                  min_seconds=min_seconds, check_video=check_video)

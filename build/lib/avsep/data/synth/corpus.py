"""Orchestrate the corpus: plan the tracks, write them with a progress bar, write metadata.

``DIR/corpus.json`` (seed, minutes, versions, counts per split, performers and pieces per
split), ``DIR/singing/`` (layout ``avsep_synth``) and ``DIR/urmp/`` (URMP layout plus
``avsep_splits.json`` and ``avsep_meta.json``: split, piece and player of every source).
Half of ``minutes`` goes to singing tracks, half to ensemble pieces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from avsep.data.synth import (
    DEFAULT_MINUTES,
    DEFAULT_TRACK_SECONDS,
    FPS,
    SAMPLE_RATE,
    dsp,
    identities,
)
from avsep.data.synth.ensembles import write_piece
from avsep.data.synth.naming import urmp_folder
from avsep.data.synth.singing import write_song

MAX_PIECES = 99  # URMP folder names start with a two-digit piece number


@dataclass(frozen=True)
class CorpusPlan:
    """What will be written: one assignment per singing track and per ensemble piece."""

    seed: int
    minutes: float
    track_seconds: float
    songs: list[identities.Assignment]
    pieces: list[identities.Assignment]


def plan(seed: int, minutes: float, track_seconds: float) -> CorpusPlan:
    """Split ``minutes`` of audio into singing tracks and ensemble pieces (≥ 3 of each)."""
    if minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {minutes}")
    if track_seconds < 2:
        raise ValueError(f"track length must be at least 2 s, got {track_seconds}")
    half = minutes * 60 / 2
    count = max(3, int(round(half / track_seconds)))
    if count > MAX_PIECES:
        raise ValueError(
            f"{minutes} minutes of {track_seconds:g}-s tracks needs {count} ensemble pieces, but "
            f"URMP numbers pieces with two digits (at most {MAX_PIECES}); use --track-seconds "
            f"{half / MAX_PIECES:.0f} or more")
    titles = identities.piece_titles(dsp.child_rng(seed, "titles"), 2 * count)
    songs = identities.assign_songs(dsp.child_rng(seed, "songs"), titles[:count])
    pieces = identities.assign_pieces(dsp.child_rng(seed, "pieces"), titles[count:])
    return CorpusPlan(seed, minutes, track_seconds, songs, pieces)


def _versions() -> dict[str, str]:
    import av
    import numpy
    import scipy
    import soundfile

    from avsep import __version__

    return {"avsep": __version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
            "soundfile": soundfile.__version__, "av": av.__version__}


def _summary(jobs: list[identities.Assignment]) -> dict:
    out: dict = {}
    for split in identities.SPLITS:
        chosen = [j for j in jobs if j.split == split]
        out[split] = {
            "count": len(chosen),
            "performers": sorted({p for j in chosen for p in j.performers}),
            "pieces": sorted(j.piece for j in chosen),
        }
        extras = sorted({j.extra_singer for j in chosen if j.extra_singer})
        if extras:
            out[split]["extra_singers"] = extras
    return out


def generate(
    out: Path,
    minutes: float = DEFAULT_MINUTES,
    seed: int = 0,
    track_seconds: float = DEFAULT_TRACK_SECONDS,
    soundfont: Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Write the corpus into ``out``; returns the content of ``corpus.json``."""
    from tqdm import tqdm

    out = Path(out)
    if (out / "corpus.json").exists() and not overwrite:
        raise FileExistsError(f"{out}: a corpus is already there (corpus.json); "
                              "pass overwrite=True / --overwrite to replace it")
    renderer = None
    if soundfont is not None:
        from avsep.data.synth.soundfont import SoundFontRenderer

        renderer = SoundFontRenderer(Path(soundfont), SAMPLE_RATE)
    corpus = plan(seed, minutes, track_seconds)
    singing_root, urmp_root = out / "singing", out / "urmp"
    singing_root.mkdir(parents=True, exist_ok=True)
    urmp_root.mkdir(parents=True, exist_ok=True)
    total = len(corpus.songs) + len(corpus.pieces)
    splits: dict[str, str] = {}
    pieces_meta: dict[str, dict] = {}
    with tqdm(total=total, desc="avsep synth", unit="track", disable=not progress) as bar:
        for index, job in enumerate(corpus.songs, start=1):
            track_id = f"{index:03d}_{job.piece}"
            bar.set_postfix_str(f"singing {track_id}")
            write_song(singing_root, track_id, job, seed, track_seconds, SAMPLE_RATE, FPS)
            bar.update()
        for number, job in enumerate(corpus.pieces, start=1):
            bar.set_postfix_str(f"urmp {job.piece}")
            meta = write_piece(urmp_root, number, job, seed, track_seconds, SAMPLE_RATE, FPS,
                               renderer)
            name = urmp_folder(number, job.piece, job.instruments)
            splits[name] = job.split
            pieces_meta[name] = meta
            bar.update()
    (urmp_root / "avsep_splits.json").write_text(json.dumps(splits, indent=1, sort_keys=True))
    (urmp_root / "avsep_meta.json").write_text(json.dumps(pieces_meta, indent=1, sort_keys=True))
    summary = {
        "seed": seed,
        "minutes": minutes,
        "track_seconds": track_seconds,
        "sample_rate": SAMPLE_RATE,
        "fps": FPS,
        "instrument_renderer": "soundfont" if renderer else "additive",
        "soundfont": Path(soundfont).name if soundfont else None,
        "versions": _versions(),
        "layouts": {"singing": "avsep_synth", "urmp": "urmp"},
        "singing": _summary(corpus.songs),
        "urmp": _summary(corpus.pieces),
        "counts": {split: {"singing": sum(j.split == split for j in corpus.songs),
                           "urmp": sum(j.split == split for j in corpus.pieces)}
                   for split in identities.SPLITS},
    }
    (out / "corpus.json").write_text(json.dumps(summary, indent=1))
    return summary

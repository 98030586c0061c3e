"""File names of the two layouts the corpus writes (shared by the writer and the reader).

URMP (Li et al., 2018), exactly::

    NN_Piece_ab_cd/                     e.g. 01_Jupiter_vn_vc
      AuMix_NN_Piece_ab_cd.wav          the mixture
      AuSep_k_ab_NN_Piece.wav           source k (1-based, folder order)
      Vid_NN_Piece_ab_cd.mp4            the video (here: a grid of the players)
      Notes_k_ab_NN_Piece.txt           note annotation: onset (s), MIDI pitch, duration (s)
      F0s_k_ab_NN_Piece.txt             pitch track: time (s), f0 (Hz), 0 when silent

The singing layout ``avsep_synth``::

    <split>/<track id>/track.json  mixture.wav  vocals.wav  accompaniment.wav
                       extra_vocals.wav  video.mp4  video.boxes.json  vad.npy  envelope.npy
"""

from __future__ import annotations

import re

URMP_ABBREVIATIONS: dict[str, str] = {
    "violin": "vn", "viola": "va", "cello": "vc", "double_bass": "db", "flute": "fl",
    "oboe": "ob", "clarinet": "cl", "bassoon": "bn", "saxophone": "sax", "trumpet": "tpt",
    "horn": "hn", "trombone": "tbn", "tuba": "tba",
}
URMP_INSTRUMENT_BY_ABBREVIATION = {v: k for k, v in URMP_ABBREVIATIONS.items()}
URMP_FOLDER = re.compile(r"^(\d{2})_([A-Za-z0-9]+)((?:_[a-z]+)+)$")

# singing layout
TRACK_JSON = "track.json"
MIXTURE = "mixture.wav"
VIDEO = "video.mp4"
SOURCE_FILES = {"vocals": "vocals.wav", "accompaniment": "accompaniment.wav",
                "extra_vocals": "extra_vocals.wav"}
ANNOTATION_FILES = {"vad": "vad.npy", "envelope": "envelope.npy"}
ANNOTATION_RATE = 100  # Hz, frame rate of vad.npy and envelope.npy


def urmp_folder(number: int, piece: str, instruments: list[str]) -> str:
    """``NN_Piece_ab_cd`` for URMP instrument names in part order."""
    return "_".join([f"{number:02d}", piece] + [URMP_ABBREVIATIONS[i] for i in instruments])


def urmp_mix(folder: str) -> str:
    return f"AuMix_{folder}.wav"


def urmp_video(folder: str) -> str:
    return f"Vid_{folder}.mp4"


def urmp_part(kind: str, k: int, instrument: str, number: int, piece: str, ext: str) -> str:
    """``<kind>_k_ab_NN_Piece.<ext>`` for ``kind`` in AuSep / Notes / F0s (k is 1-based)."""
    return f"{kind}_{k}_{URMP_ABBREVIATIONS[instrument]}_{number:02d}_{piece}.{ext}"


def urmp_source_name(k: int, instrument: str) -> str:
    """The source key of part ``k`` in the boxes sidecar and metadata: ``k_ab`` (e.g. 1_vn)."""
    return f"{k}_{URMP_ABBREVIATIONS[instrument]}"

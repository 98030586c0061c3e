"""`avsep synth --soundfont`: SoundFont rendering on a tiny SF2 written by the test."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avsep.data.synth import dsp, score
from avsep.data.synth.soundfont import SoundFontRenderer, SoundFontUnavailable

SR = 22050


def _chunk(tag: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    return tag + struct.pack("<I", len(data)) + data + pad


def _list(kind: bytes, chunks: list[bytes]) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _name(text: str) -> bytes:
    return text.encode()[:19].ljust(20, b"\0")


def tiny_sf2(path: Path) -> Path:
    """One preset (bank 0, program 0), one instrument, one looped 440 Hz sample at 44 kHz:
    a sawtooth of 100-sample periods, root key 69."""
    period, periods = 100, 40
    t = np.arange(period * periods)
    wave = sum(np.sin(2 * np.pi * k * t / period) / k for k in range(1, 8))
    samples = (0.4 * wave / np.abs(wave).max() * 32767).astype("<i2")
    smpl = samples.tobytes() + b"\0" * 92  # 46 zero samples after the sample (SF2 spec)
    info = _list(b"INFO", [_chunk(b"ifil", struct.pack("<HH", 2, 1)),
                           _chunk(b"isng", b"EMU8000\0"), _chunk(b"INAM", b"tiny\0\0")])
    sdta = _list(b"sdta", [_chunk(b"smpl", smpl)])
    phdr = (_name("Tiny") + struct.pack("<HHHIII", 0, 0, 0, 0, 0, 0)
            + _name("EOP") + struct.pack("<HHHIII", 0, 0, 1, 0, 0, 0))
    pbag = struct.pack("<HHHH", 0, 0, 1, 0)
    pmod = b"\0" * 10
    pgen = struct.pack("<HH", 41, 0) + struct.pack("<HH", 0, 0)  # instrument 0
    inst = _name("TinyInst") + struct.pack("<H", 0) + _name("EOI") + struct.pack("<H", 1)
    ibag = struct.pack("<HHHH", 0, 0, 2, 0)
    imod = b"\0" * 10
    igen = (struct.pack("<HH", 54, 1)  # sampleModes: loop continuously
            + struct.pack("<HH", 53, 0)  # sampleID 0 (last generator of the zone)
            + struct.pack("<HH", 0, 0))
    n = len(samples)
    shdr = (_name("saw") + struct.pack("<IIIIIBbHH", 0, n, period, n - period, 44000, 69, 0, 0, 1)
            + _name("EOS") + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    pdta = _list(b"pdta", [_chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", pmod),
                           _chunk(b"pgen", pgen), _chunk(b"inst", inst), _chunk(b"ibag", ibag),
                           _chunk(b"imod", imod), _chunk(b"igen", igen), _chunk(b"shdr", shdr)])
    path.write_bytes(_chunk(b"RIFF", b"sfbk" + info + sdta + pdta))
    return path


def test_missing_soundfont_file_is_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="tiny.sf2: SoundFont file not found"):
        SoundFontRenderer(tmp_path / "tiny.sf2", SR)


def test_renders_notes_at_their_pitch_and_time(tmp_path: Path):
    pytest.importorskip("tinysoundfont")
    renderer = SoundFontRenderer(tiny_sf2(tmp_path / "tiny.sf2"), SR)
    notes = [score.Note(0.2, 0.5, 57, 0.9), score.Note(1.0, 0.5, 64, 0.9)]
    with pytest.warns(UserWarning, match="using preset 0"):
        audio = renderer.render("violin", notes, int(1.8 * SR))
    assert audio.shape == (int(1.8 * SR),) and audio.dtype == np.float32
    assert np.abs(audio[: int(0.19 * SR)]).max() < 1e-4  # silent before the first onset
    for note in notes:
        seg = audio[int((note.onset + 0.1) * SR) : int((note.onset + 0.4) * SR)]
        spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 8 * len(seg)))
        peak = np.fft.rfftfreq(8 * len(seg), 1 / SR)[np.argmax(spec)]
        assert peak == pytest.approx(float(dsp.midi_to_hz(note.pitch)), rel=0.02)


def test_bad_soundfont_file_is_refused(tmp_path: Path):
    pytest.importorskip("tinysoundfont")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF0000not a soundfont")
    with pytest.raises(ValueError, match="bad.sf2: not a readable SoundFont"):
        SoundFontRenderer(bad, SR)


def test_corpus_with_soundfont(tmp_path: Path):
    pytest.importorskip("tinysoundfont")
    from avsep.data.synth.corpus import generate

    font = tiny_sf2(tmp_path / "tiny.sf2")
    with pytest.warns(UserWarning):
        summary = generate(tmp_path / "c", minutes=0.15, seed=0, track_seconds=3,
                           soundfont=font, progress=False)
    assert summary["instrument_renderer"] == "soundfont" and summary["soundfont"] == "tiny.sf2"
    parts = sorted((tmp_path / "c" / "urmp").glob("*/AuSep_*.wav"))
    assert parts
    for part in parts:
        audio, rate = sf.read(part)
        assert rate == SR and np.sqrt(np.mean(audio**2)) > 0.01
    assert json.loads((tmp_path / "c" / "corpus.json").read_text())["soundfont"] == "tiny.sf2"


def test_without_tinysoundfont_the_flag_says_not_available(tmp_path: Path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tinysoundfont(name, *args, **kwargs):
        if name == "tinysoundfont":
            raise ImportError("No module named 'tinysoundfont'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tinysoundfont)
    with pytest.raises(SoundFontUnavailable, match="not available"):
        SoundFontRenderer(tiny_sf2(tmp_path / "tiny.sf2"), SR)

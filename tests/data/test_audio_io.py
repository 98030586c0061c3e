"""Validated audio reading: headers, resampling, int16 round trip, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avsep.data.audio_io import audio_info, check_audio, read_audio, resample, to_int16
from avsep.data.records import DataError


def sine(freq: float, seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * freq * t + c) for c in range(channels)])


def write(path: Path, audio: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.T, rate, subtype=subtype)
    return path


def test_read_wav_and_flac_channels_first(tmp_path: Path) -> None:
    audio = sine(440, 0.5, 8000, channels=2)
    for name in ("a.wav", "a.flac"):
        path = write(tmp_path / name, audio, 8000)
        info = audio_info(path)
        assert (info.sample_rate, info.channels, info.frames) == (8000, 2, 4000)
        data, rate = read_audio(path)
        assert rate == 8000 and data.shape == (2, 4000) and data.dtype == np.float32
        assert np.max(np.abs(data - audio)) <= 1 / 32768 + 1e-7


def test_int16_round_trip_within_16_bit_precision(tmp_path: Path) -> None:
    audio = sine(300, 0.25, 8000)
    data, _ = read_audio(write(tmp_path / "a.wav", audio, 8000, subtype="FLOAT"))
    stored = to_int16(data)
    assert stored.dtype == np.int16
    assert np.max(np.abs(stored / 32768.0 - audio)) <= 0.5 / 32768 + 1e-7
    assert to_int16(np.array([[1.5, -1.5]])).tolist() == [[32767, -32768]]


def test_resampling_keeps_the_tone(tmp_path: Path) -> None:
    audio = sine(440, 1.0, 8000)
    data, rate = read_audio(write(tmp_path / "a.wav", audio, 8000, subtype="FLOAT"),
                            sample_rate=16000)
    assert rate == 16000 and data.shape == (1, 16000)
    reference = sine(440, 1.0, 16000)[:, 400:-400]
    error = data[:, 400:-400] - reference
    snr = 10 * np.log10(np.sum(reference**2) / np.sum(error**2))
    assert snr > 40
    assert resample(audio, 8000, 8000) is audio


def test_bad_inputs_name_the_file_and_the_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "stereo.wav", sine(440, 0.5, 8000, channels=2), 8000)
    cases = [
        (dict(sample_rate=16000), "wrong sample rate: 8000 Hz, expected 16000 Hz"),
        (dict(channels=1), "mono/stereo mismatch: 2 channel"),
        (dict(min_seconds=1.0), "audio shorter than the clip: 0.500 s"),
    ]
    for kwargs, message in cases:
        with pytest.raises(DataError, match=message) as err:
            check_audio(path, **kwargs)
        assert err.value.path == path and "stereo.wav" in str(err.value)
    with pytest.raises(DataError, match="missing file") as err:
        read_audio(tmp_path / "absent.wav")
    assert err.value.path.name == "absent.wav"
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF" + b"\x01" * 64)
    with pytest.raises(DataError, match="unreadable audio file") as err:
        audio_info(junk)
    assert err.value.path == junk


def test_sound_track_of_a_video(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("tv", Path(__file__).with_name("test_video.py"))
    tv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tv)
    tone = sine(440, 2.0, 16000)
    video = tv.write_mp4(tmp_path / "v.mp4", audio=tone, sample_rate=16000)
    info = audio_info(video)
    assert info.sample_rate == 16000 and info.channels == 1
    data, rate = read_audio(video)
    assert rate == 16000 and data.shape[0] == 1 and abs(data.shape[1] - 32000) < 2048
    # AAC is lossy and delayed: compare energy and dominant frequency, not samples
    spectrum = np.abs(np.fft.rfft(data[0, 4000:20000]))
    assert np.argmax(spectrum) * 16000 / 16000 == pytest.approx(440, abs=2)


def test_pcm_sound_track_is_scaled_like_a_wav(tmp_path: Path) -> None:
    """A 16-bit PCM sound track in a Matroska file reads as [-1, 1] floats, like soundfile."""
    import av

    tone = sine(440, 0.5, 8000, channels=2)
    path = tmp_path / "pcm.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="stereo")
        pcm = np.rint(tone.T * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    data, rate = read_audio(path)
    assert rate == 8000 and data.shape == (2, 4000)
    assert np.max(np.abs(data - tone)) < 2 / 32768

"""Upload decoding: each kind of bad file gets its own 4xx and message; good files decode."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf

from avsep.serve.errors import BadRequest
from avsep.serve.upload import decode_audio, decode_video

RATE = 16000


def wav_bytes(audio: np.ndarray, rate: int = RATE, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio.T, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def tone(seconds: float = 1.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * (c + 1) * t) for c in range(channels)])


def mp4_bytes(seconds: float = 1.0, fps: int = 25, with_audio: bool = True) -> bytes:
    """A real H.264 MP4 (moving gradient) with an AAC sound track, written with PyAV."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio_stream = (container.add_stream("aac", rate=RATE, layout="mono")
                        if with_audio else None)
        for i in range(int(seconds * fps)):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[..., 0] = (np.arange(64) * 4 + i * 5) % 256
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio_stream is not None:
            samples = tone(seconds, 1).astype(np.float32)
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                piece = np.ascontiguousarray(samples[:, start:start + chunk])
                frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
                frame.sample_rate = RATE
                frame.pts = start
                for packet in audio_stream.encode(frame):
                    container.mux(packet)
            for packet in audio_stream.encode():
                container.mux(packet)
    return buffer.getvalue()


def test_wav_and_flac_decode_to_channels_first():
    audio = tone(0.5)
    decoded, rate = decode_audio(wav_bytes(audio), max_duration_s=10)
    assert rate == RATE and decoded.shape == audio.shape and decoded.dtype == np.float32
    assert np.abs(decoded - audio).max() < 1 / 32768 * 1.01
    flac = io.BytesIO()
    sf.write(flac, audio.T, RATE, format="FLAC")
    decoded, _ = decode_audio(flac.getvalue(), max_duration_s=10)
    assert decoded.shape == audio.shape


def test_mp4_sound_track_and_video_decode():
    data = mp4_bytes(1.0)
    audio, rate = decode_audio(data, max_duration_s=10)
    assert rate == RATE and audio.shape[0] == 1 and abs(audio.shape[1] - RATE) < 2048
    frames = decode_video(data, fps=25)
    assert frames.shape == (25, 48, 64, 3) and frames.dtype == np.uint8


@pytest.mark.parametrize(
    "data, status, message",
    [
        (b"", 400, "empty"),
        (b"this is not audio at all" * 10, 415, "not an audio or video file"),
        (wav_bytes(tone(1.0))[:5000], 400, "truncated WAV"),
        (wav_bytes(np.full((1, 100), np.nan, np.float32), subtype="FLOAT"), 422, "NaN or infinite"),
        (wav_bytes(tone(3.0)), 413, "the limit is 2 s"),
    ],
    ids=["empty", "not-audio", "truncated", "nan", "too-long"],
)
def test_bad_audio_gets_a_status_and_message(data, status, message):
    with pytest.raises(BadRequest, match=message) as err:
        decode_audio(data, max_duration_s=2)
    assert err.value.status == status


def test_video_without_sound_track_and_bad_video():
    with pytest.raises(BadRequest, match="no sound track"):
        decode_audio(mp4_bytes(0.4, with_audio=False), max_duration_s=10)
    with pytest.raises(BadRequest, match="could not be decoded") as err:
        decode_video(b"garbage" * 100, fps=25)
    assert err.value.status == 415

"""Decode uploaded files into checked inputs: audio (C, L) float32, videos to crop.

soundfile (libsndfile) reads WAV, FLAC, OGG and MP3; PyAV reads the sound track of MP4 / MKV /
other containers; decord reads video tracks (:func:`video_input`: opened, checked, and cropped
later by the engine with the model's recorded preprocessing, beside its optional boxes
sidecar). Every failure becomes a :class:`BadRequest` with a message for the client: nothing
here lets an exception through as a server error.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np

from avsep.data.preprocess import parse_sidecar
from avsep.data.records import DataError
from avsep.serve.errors import BadRequest

UNKNOWN_SIZE = 0xFFFFFFFF  # streaming WAV writers leave the data size open


def check_wav_not_truncated(data: bytes) -> None:
    """Raise BadRequest when a RIFF/WAVE file's data chunk is shorter than its header says."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk_id == b"data":
            available = len(data) - (pos + 8)
            if size != UNKNOWN_SIZE and size > available:
                raise BadRequest(
                    400,
                    f"truncated WAV: the header declares {size} bytes of samples, "
                    f"the file holds {available}",
                )
            return
        pos += 8 + size + (size & 1)
    raise BadRequest(400, "truncated WAV: no complete 'data' chunk")


MAX_CHANNELS = 8
MIN_DECODE_SIDE = 32
MAX_SAMPLE_RATE = 192_000


def _check_samples(audio: np.ndarray, sample_rate: int, max_duration_s: float) -> np.ndarray:
    if audio.size == 0 or audio.shape[-1] == 0:
        raise BadRequest(400, "the audio track holds no samples")
    if audio.shape[0] > MAX_CHANNELS:
        raise BadRequest(400, f"the audio has {audio.shape[0]} channels; at most {MAX_CHANNELS}")
    if not 0 < sample_rate <= MAX_SAMPLE_RATE:
        raise BadRequest(400, f"sample rate {sample_rate} Hz is outside 1..{MAX_SAMPLE_RATE}")
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise BadRequest(422, f"the audio holds {bad} NaN or infinite samples")
    duration = audio.shape[-1] / sample_rate
    if duration > max_duration_s:
        raise BadRequest(413, f"audio is {duration:.1f} s long; the limit is {max_duration_s:g} s")
    return audio


def _decode_soundfile(data: bytes, max_duration_s: float) -> tuple[np.ndarray, int] | None:
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - not a format libsndfile knows: let PyAV try
        return None
    seconds = info.frames / info.samplerate
    if info.frames > 0 and seconds > max_duration_s:
        raise BadRequest(413, f"audio is {seconds:.1f} s long; the limit is {max_duration_s:g} s")
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as err:  # noqa: BLE001
        raise BadRequest(400, f"the audio file could not be decoded: {err}") from err
    return audio.T.copy(), int(rate)


def _decode_pyav(data: bytes, max_duration_s: float) -> tuple[np.ndarray, int]:
    import av

    try:
        container = av.open(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001
        raise BadRequest(415, "not an audio or video file that can be decoded "
                              "(expected wav, flac, ogg, mp3, mp4 or mkv)") from err
    with container:
        if not container.streams.audio:
            raise BadRequest(400, "the uploaded file has no sound track")
        stream = container.streams.audio[0]
        if container.duration and container.duration / 1e6 > max_duration_s:
            raise BadRequest(413, f"audio is {container.duration / 1e6:.1f} s long; "
                                  f"the limit is {max_duration_s:g} s")
        rate = stream.codec_context.sample_rate or stream.rate
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
        pieces = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray())
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray())
        except Exception as err:  # noqa: BLE001
            raise BadRequest(400, f"the sound track could not be decoded: {err}") from err
    if not pieces:
        raise BadRequest(400, "the sound track holds no samples")
    return np.concatenate(pieces, axis=-1).astype(np.float32), int(rate)


def decode_audio(data: bytes, max_duration_s: float) -> tuple[np.ndarray, int]:
    """Decode an uploaded audio (or video-with-sound) file -> (audio (C, L) float32, rate)."""
    if not data:
        raise BadRequest(400, "the uploaded file is empty")
    check_wav_not_truncated(data)
    decoded = _decode_soundfile(data, max_duration_s)
    audio, rate = decoded if decoded is not None else _decode_pyav(data, max_duration_s)
    return _check_samples(audio, rate, max_duration_s), rate


def decode_video(data: bytes, fps: float, size: tuple[int, int] | None = None,
                 max_duration_s: float | None = None) -> np.ndarray:
    """Decode a video upload at ``fps`` -> whole frames (T, H, W, 3) uint8 (torch imported
    first). The service itself does not use it (it crops with the model's recorded
    preprocessing, :func:`open_upload_video`); benchmarks feed the engine these frames.

    With ``size`` (H, W) decord scales the frames while decoding (to a multiple of it at least
    32 pixels on a side), so memory stays bounded by the model's crop, not the upload's
    resolution; the engine resizes to the crop exactly. Videos longer than ``max_duration_s`` get
    a 413 before any frame is decoded.
    """
    import decord
    import torch  # noqa: F401 - decord must be imported after torch

    from avsep.data.video import frame_indices

    if not data:
        raise BadRequest(400, "the uploaded video is empty")
    height, width = size if size else (-1, -1)
    if size and min(size) < MIN_DECODE_SIDE:  # decord's scaler fails below this (seen: 16 px)
        factor = -(-MIN_DECODE_SIDE // min(size))
        height, width = height * factor, width * factor
    try:
        reader = decord.VideoReader(io.BytesIO(data), ctx=decord.cpu(0), width=width,
                                    height=height)
    except Exception as err:  # noqa: BLE001
        raise BadRequest(415, "the video could not be decoded (expected mp4 or mkv)") from err
    native_fps = reader.get_avg_fps() or fps
    count = len(reader)
    if count == 0:
        raise BadRequest(400, "the video holds no frames")
    if max_duration_s is not None and count / native_fps > max_duration_s:
        raise BadRequest(413, f"the video is {count / native_fps:.1f} s long; the limit is "
                              f"{max_duration_s:g} s")
    indices = frame_indices(native_fps, count, fps)
    if len(indices) == 0:
        indices = np.zeros(1, np.int64)
    try:
        return reader.get_batch(indices.tolist()).asnumpy()
    except Exception as err:  # noqa: BLE001
        raise BadRequest(400, f"the video could not be decoded: {err}") from err


def open_upload_video(data: bytes, name: str = "video",
                      max_duration_s: float | None = None) -> Any:
    """An uploaded video file's bytes -> an opened video source (decord; frames decoded later,
    in chunks, at the model's recorded fps). 415 when it is not a video, 413 when too long."""
    from avsep.data.video import open_video

    if not data:
        raise BadRequest(400, f"the uploaded `{name}` is empty")
    try:
        video = open_video(data, name=name)
    except DataError as err:
        raise BadRequest(415, f"`{name}` could not be decoded as a video (expected mp4 or mkv): "
                              f"{err.problem}") from err
    seconds = video.frames / video.fps
    if max_duration_s is not None and seconds > max_duration_s:
        raise BadRequest(413, f"the video is {seconds:.1f} s long; the limit is "
                              f"{max_duration_s:g} s")
    return video


def own_video_track(data: bytes, max_duration_s: float | None = None) -> Any | None:
    """The video track of an audio upload (a video with its sound track), or None when the file
    holds no decodable video (a plain audio file)."""
    try:
        return open_upload_video(data, "audio", max_duration_s)
    except BadRequest as err:
        if err.status == 413:
            raise
        return None


def boxes_sidecar(data: bytes | None, name: str = "boxes") -> dict[str, Any] | None:
    """A boxes sidecar upload (``<video>.boxes.json``, docs/contracts.md) -> parsed, or None."""
    if data is None:
        return None
    try:
        return parse_sidecar(data, name)
    except DataError as err:
        raise BadRequest(400, f"`{name}`: {err.problem}") from err


"""Write one singing track of the ``avsep_synth`` layout (see :mod:`naming`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avsep.data.synth import accompaniment, audio_files, dsp, faces, naming, score, voices
from avsep.data.synth.identities import Assignment
from avsep.data.synth.video_writer import write_boxes, write_mp4


def singer_voice(seed: int, singer: str) -> voices.VoiceProfile:
    """The voice of ``singer`` (the same in every track they sing)."""
    return voices.random_voice(dsp.child_rng(seed, "voice", singer))


def singer_face(seed: int, singer: str) -> faces.FaceLook:
    """The face of ``singer``."""
    return faces.random_face(dsp.child_rng(seed, "face", singer))


def write_song(
    root: Path, track_id: str, job: Assignment, seed: int, seconds: float, sample_rate: int,
    fps: int,
) -> dict:
    """Synthesise and write the track into ``root/<split>/<track_id>/``; returns track.json."""
    rng = dsp.child_rng(seed, "song", track_id)
    length = int(seconds * sample_rate)
    frames = int(seconds * fps)
    song = score.random_song(rng, seconds)
    singer = job.performers[0]
    voice = singer_voice(seed, singer)
    lead = voices.sing(voice, score.melody(song, rng, seconds, voice.low, voice.high), length,
                       sample_rate, rng)
    # the off-screen voice sings another song (own tempo and key), as in the "v+" condition
    extra_voice = singer_voice(seed, job.extra_singer)
    other_song = score.random_song(rng, seconds)
    extra = voices.sing(extra_voice,
                        score.melody(other_song, rng, seconds, extra_voice.low, extra_voice.high),
                        length, sample_rate, rng)
    stems = accompaniment.accompaniment(song, length, sample_rate, rng)
    vocals = audio_files.rms_normalise(lead.audio, 0.1)
    backing = sum(stems.values())
    gain = audio_files.headroom_gain(vocals + backing)
    vocals, backing = vocals * gain, backing * gain
    mixture = vocals + backing
    extra_audio = audio_files.rms_normalise(extra.audio, 0.1 * gain)
    extra_audio *= audio_files.headroom_gain(extra_audio)

    folder = root / job.split / track_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, audio in (("vocals", vocals), ("accompaniment", backing),
                        ("extra_vocals", extra_audio)):
        audio_files.write_wav(folder / naming.SOURCE_FILES[name], audio, sample_rate)
    audio_files.write_wav(folder / naming.MIXTURE, mixture, sample_rate)

    openness = dsp.frame_means(lead.envelope, sample_rate, fps, frames)
    video, boxes = faces.render_singer(singer_face(seed, singer), openness,
                                       dsp.child_rng(seed, "head", track_id), fps)
    write_mp4(folder / naming.VIDEO, video, fps, mixture, sample_rate)
    write_boxes(folder / naming.VIDEO, fps, (faces.SIZE, faces.SIZE), {"vocals": boxes})

    rate = naming.ANNOTATION_RATE
    annotation_frames = int(seconds * rate)
    envelope = dsp.frame_means(lead.envelope, sample_rate, rate, annotation_frames)
    np.save(folder / naming.ANNOTATION_FILES["envelope"], envelope.astype(np.float32))
    np.save(folder / naming.ANNOTATION_FILES["vad"], (envelope > 0.05).astype(np.float32))

    meta = {
        "track_id": track_id,
        "split": job.split,
        "piece": job.piece,
        "singer": singer,
        "extra_singer": job.extra_singer,
        "sample_rate": sample_rate,
        "duration_s": length / sample_rate,
        "num_samples": length,
        "channels": 1,
        "fps": fps,
        "num_frames": frames,
        "annotation_rate": rate,
        "song": {"bpm": round(song.bpm, 3), "tonic": song.tonic, "minor": song.minor,
                 "chords": list(song.chords)},
        "voice": voice.to_json(),
        "extra_voice": extra_voice.to_json(),
        "face": singer_face(seed, singer).to_json(),
        "files": {"mixture": naming.MIXTURE, "video": naming.VIDEO,
                  **naming.SOURCE_FILES, **naming.ANNOTATION_FILES},
    }
    (folder / naming.TRACK_JSON).write_text(json.dumps(meta, indent=1))
    return meta

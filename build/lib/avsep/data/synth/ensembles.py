"""Write one ensemble piece in the exact URMP layout (see :mod:`naming`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avsep.data.synth import audio_files, dsp, instruments, naming, players, score
from avsep.data.synth.identities import Assignment
from avsep.data.synth.video_writer import write_boxes, write_mp4

F0_HOP = 0.01  # s, time step of the F0s_* files


def player_look(seed: int, player: str) -> players.PlayerLook:
    """The look of ``player`` (the same in every piece they play)."""
    return players.random_player(dsp.child_rng(seed, "player", player))


def _write_notes(path: Path, notes: list[score.Note]) -> None:
    lines = [f"{n.onset:.4f}\t{n.pitch:d}\t{n.duration:.4f}" for n in notes]
    path.write_text("\n".join(lines) + "\n")


def _write_f0s(path: Path, notes: list[score.Note], seconds: float) -> None:
    times = np.arange(0, seconds, F0_HOP)
    f0 = np.zeros_like(times)
    for note in notes:
        f0[(times >= note.onset) & (times < note.end)] = dsp.midi_to_hz(note.pitch)
    path.write_text("".join(f"{t:.3f}\t{f:.3f}\n" for t, f in zip(times, f0, strict=True)))


def write_piece(
    root: Path, number: int, job: Assignment, seed: int, seconds: float, sample_rate: int,
    fps: int, soundfont=None,
) -> dict:
    """Synthesise and write piece ``number`` into ``root/NN_Piece_ab_cd/``.

    ``soundfont`` (optional, :class:`avsep.data.synth.soundfont.SoundFontRenderer`) renders
    the parts instead of the additive models. Returns the piece's metadata entry.
    """
    rng = dsp.child_rng(seed, "piece", number)
    length, frames = int(seconds * sample_rate), int(seconds * fps)
    song = score.random_song(rng, seconds)
    ranges = [(instruments.TIMBRES[i].low, instruments.TIMBRES[i].high) for i in job.instruments]
    parts = score.ensemble_parts(song, rng, seconds, ranges)
    audios = []
    for instrument, notes in zip(job.instruments, parts, strict=True):
        if soundfont is not None:
            audio = soundfont.render(instrument, notes, length)
        else:
            audio = instruments.render_line(instrument, notes, length, sample_rate, rng)
        audios.append(audio_files.rms_normalise(audio, 0.1 * float(rng.uniform(0.7, 1.0))))
    gain = audio_files.headroom_gain(sum(audios))
    audios = [a * gain for a in audios]
    mixture = sum(audios)

    folder_name = naming.urmp_folder(number, job.piece, job.instruments)
    folder = root / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    audio_files.write_wav(folder / naming.urmp_mix(folder_name), mixture, sample_rate)
    videos = []
    for k, (instrument, player, notes, audio) in enumerate(
        zip(job.instruments, job.performers, parts, audios, strict=True), start=1
    ):
        def part_file(kind: str, ext: str, k=k, instrument=instrument) -> Path:
            return folder / naming.urmp_part(kind, k, instrument, number, job.piece, ext)

        audio_files.write_wav(part_file("AuSep", "wav"), audio, sample_rate)
        _write_notes(part_file("Notes", "txt"), notes)
        _write_f0s(part_file("F0s", "txt"), notes, seconds)
        motion_rng = dsp.child_rng(seed, "motion", number, k)
        videos.append(players.render_player(player_look(seed, player), instrument, notes,
                                            frames, motion_rng, fps))
    video, cells = players.grid(videos)
    video_path = folder / naming.urmp_video(folder_name)
    write_mp4(video_path, video, fps, mixture, sample_rate)
    names = [naming.urmp_source_name(k, i) for k, i in enumerate(job.instruments, start=1)]
    write_boxes(video_path, fps, (video.shape[2], video.shape[1]),
                {name: [cell] * frames for name, cell in zip(names, cells, strict=True)})
    return {
        "split": job.split,
        "piece": job.piece,
        "number": number,
        "sources": [
            {"name": name, "instrument": instrument, "player": player,
             "notes": len(notes)}
            for name, instrument, player, notes in zip(names, job.instruments, job.performers,
                                                        parts, strict=True)
        ],
        "song": {"bpm": round(song.bpm, 3), "tonic": song.tonic, "minor": song.minor},
        "duration_s": length / sample_rate,
        "sample_rate": sample_rate,
    }

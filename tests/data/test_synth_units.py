"""Unit behaviour of the synthetic corpus parts: timbres, harmony, faces, players, MP4 I/O."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch  # noqa: F401 - torch is imported before decord (decord hangs otherwise)

from avsep.data.records import URMP_INSTRUMENTS
from avsep.data.synth import dsp, faces, instruments, players, score, video_writer, voices

SR = 22050
FPS = 25


def spectrum_features(audio: np.ndarray) -> np.ndarray:
    """Log spectral centroid, spectral flatness and 10-90 % attack time of ``audio``."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    centroid = np.sum(freqs * spec) / np.sum(spec)
    flatness = np.exp(np.mean(np.log(spec + 1e-9))) / np.mean(spec + 1e-9)
    env = np.convolve(np.abs(audio), np.ones(64) / 64, "same")
    attack = (np.argmax(env > 0.9 * env.max()) - np.argmax(env > 0.1 * env.max())) / SR
    return np.array([np.log(centroid), 10 * flatness, 20 * attack])


def harmonic_energies(audio: np.ndarray, f0: float, count: int) -> np.ndarray:
    """Energy at harmonics 1..count of ``f0`` (peak magnitude within ±3 % of each)."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    return np.array([spec[(freqs > k * f0 * 0.97) & (freqs < k * f0 * 1.03)].max() ** 2
                     for k in range(1, count + 1)])


def test_the_13_instruments_have_distinct_timbres():
    features = {}
    for name in URMP_INSTRUMENTS:
        timbre = instruments.TIMBRES[name]
        pitch = (timbre.low + timbre.high) // 2
        note = [score.Note(0.05, 0.8, pitch, 0.9)]
        audio = instruments.render_line(name, note, SR, SR, dsp.child_rng(0, name))
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0.01
        features[name] = spectrum_features(audio[: int(0.9 * SR)])
    names = list(features)
    distances = [np.linalg.norm(features[a] - features[b])
                 for i, a in enumerate(names) for b in names[i + 1:]]
    assert min(distances) > 0.05, "two instruments sound alike"


def test_clarinet_lacks_even_harmonics_and_violin_has_them():
    note = [score.Note(0.0, 1.0, 57, 0.9)]  # A3, 220 Hz
    f0 = float(dsp.midi_to_hz(57))
    clarinet = instruments.render_line("clarinet", note, SR, SR, dsp.child_rng(0, "c"))
    violin = instruments.render_line("violin", [score.Note(0.0, 1.0, 64, 0.9)], SR, SR,
                                     dsp.child_rng(0, "v"))
    def even_to_odd(e: np.ndarray) -> float:
        return float((e[1] + e[3] + e[5]) / (e[0] + e[2] + e[4]))

    clarinet_ratio = even_to_odd(harmonic_energies(clarinet, f0, 6))
    violin_ratio = even_to_odd(harmonic_energies(violin, float(dsp.midi_to_hz(64)), 6))
    assert clarinet_ratio < 0.05
    assert violin_ratio > 3 * clarinet_ratio


def test_brass_gets_brighter_when_louder():
    centroids = []
    for velocity in (0.3, 1.0):
        audio = instruments.render_line("trumpet", [score.Note(0.0, 0.8, 70, velocity)],
                                        SR, SR, dsp.child_rng(0, "t"))
        centroids.append(np.exp(spectrum_features(audio[: int(0.8 * SR)])[0]))
    assert centroids[1] > 1.2 * centroids[0]


def test_ensemble_parts_are_in_time_and_in_harmony():
    rng = dsp.child_rng(3, "song")
    song = score.random_song(rng, 12.0)
    names = ["violin", "viola", "cello", "tuba"]
    ranges = [(instruments.TIMBRES[n].low, instruments.TIMBRES[n].high) for n in names]
    parts = score.ensemble_parts(song, rng, 12.0, ranges)
    melody_index = int(np.argmax([lo + hi for lo, hi in ranges]))
    grid = song.beat / 2
    for i, (part, (low, high)) in enumerate(zip(parts, ranges, strict=True)):
        assert part, f"part {i} is empty"
        for note in part:
            assert low <= note.pitch <= high
            assert abs(note.onset / grid - round(note.onset / grid)) < 1e-6  # on the 8th grid
            bar = int(note.onset // song.bar + 1e-9)
            if i != melody_index:
                assert note.pitch % 12 in song.chord_pitch_classes(bar)
            else:
                assert note.pitch % 12 in song.scale_pitch_classes()
    # parts have their own rhythms: onset sets differ
    onsets = [frozenset(round(n.onset, 4) for n in p) for p in parts]
    assert len(set(onsets)) == len(onsets)


def median_f0(audio: np.ndarray, envelope: np.ndarray, frame: int = 2048) -> float:
    """Median autocorrelation pitch (Hz) over frames where the syllable envelope is > 0.5."""
    estimates = []
    for start in range(0, len(audio) - frame, frame // 2):
        if envelope[start : start + frame].min() < 0.5:
            continue
        x = audio[start : start + frame] - audio[start : start + frame].mean()
        ac = np.correlate(x, x, "full")[frame - 1 :]
        lo, hi = SR // 1000, SR // 70
        estimates.append(SR / (lo + int(np.argmax(ac[lo:hi]))))
    assert estimates, "no voiced frames"
    return float(np.median(estimates))


def test_voice_register_and_formants_set_pitch_and_brightness():
    rng = dsp.child_rng(0, "voices")
    low = voices.VoiceProfile(45, 57, 0.88, 1.3, 5.0, 0.3, 0.03)
    high = voices.VoiceProfile(64, 76, 1.15, 1.3, 5.0, 0.3, 0.03)
    song = score.random_song(rng, 4.0)
    outs = []
    for profile in (low, high):
        notes = score.melody(song, dsp.child_rng(0, "m"), 4.0, profile.low, profile.high)
        perf = voices.sing(profile, notes, 4 * SR, SR, dsp.child_rng(0, "s"))
        assert perf.envelope.min() >= 0 and 0.5 < perf.envelope.max() <= 1.0
        assert len(perf.vowels) == len(notes)
        f0 = median_f0(perf.audio, perf.envelope)
        low_hz, high_hz = dsp.midi_to_hz(profile.low - 1), dsp.midi_to_hz(profile.high + 1)
        assert low_hz < f0 < high_hz, (profile, f0)
        outs.append(spectrum_features(perf.audio)[0])
    assert outs[1] > outs[0]  # higher register + shorter tract: higher spectral centroid


def mouth_darkness(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Share of dark pixels (below 40 % of the box's 90th percentile luma) per frame."""
    out = []
    for frame, box in zip(frames.astype(np.float32), boxes, strict=True):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        luma = frame[y0:y1, x0:x1].mean(-1)
        out.append(np.mean(luma < 0.4 * np.percentile(luma, 90)))
    return np.array(out)


def test_face_mouth_follows_openness_while_the_head_moves():
    openness = np.clip(np.sin(np.arange(150) / 4.0), 0, 1).astype(np.float32)
    look = faces.random_face(dsp.child_rng(0, "face"))
    frames, boxes = faces.render_singer(look, openness, dsp.child_rng(0, "head"))
    assert frames.shape == (150, faces.SIZE, faces.SIZE, 3) and frames.dtype == np.uint8
    assert boxes.shape == (150, 4)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= faces.SIZE).all()
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert np.ptp(centres[:, 0]) > 2 and np.ptp(centres[:, 1]) > 1  # the head moves
    assert np.ptp(boxes[:, 2] - boxes[:, 0]) > 1  # and changes scale
    brightness = frames.reshape(150, -1).mean(1)
    assert np.ptp(brightness) > 5  # the lighting changes
    dark = mouth_darkness(frames, boxes)
    assert np.corrcoef(dark, openness)[0, 1] > 0.9
    # no single fixed pixel carries the signal as well as the tracked mouth does
    pixel = frames[:, int(centres[0, 1]), int(centres[0, 0])].mean(-1)
    assert abs(np.corrcoef(pixel, openness)[0, 1]) < np.corrcoef(dark, openness)[0, 1]


def test_different_singers_look_different():
    a = faces.random_face(dsp.child_rng(1, "face"))
    b = faces.random_face(dsp.child_rng(2, "face"))
    openness = np.zeros(5, dtype=np.float32)
    fa, _ = faces.render_singer(a, openness, dsp.child_rng(0, "head"))
    fb, _ = faces.render_singer(b, openness, dsp.child_rng(0, "head"))
    assert np.abs(fa.astype(float) - fb.astype(float)).mean() > 10


def motion_energy(frames: np.ndarray) -> np.ndarray:
    """Mean absolute frame difference ``(T,)`` (0 for the first frame)."""
    diff = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    return np.concatenate([[0.0], diff])


def onset_frames(notes: list[score.Note], fps: float = FPS) -> np.ndarray:
    return np.unique(np.ceil(np.array([n.onset for n in notes]) * fps - 1e-6).astype(int))


def test_player_videos_identify_the_instrument_and_move_on_onsets():
    rng = dsp.child_rng(0, "score")
    song = score.random_song(rng, 8.0)
    look = players.random_player(dsp.child_rng(0, "player"))
    means = {}
    for name in URMP_INSTRUMENTS:
        timbre = instruments.TIMBRES[name]
        notes = score.melody(song, dsp.child_rng(0, "notes"), 8.0, timbre.low, timbre.high)
        frames = players.render_player(look, name, notes, 200, dsp.child_rng(0, "motion"))
        assert frames.shape == (200, 112, 112, 3)
        means[name] = frames.astype(np.float32).mean(axis=0)
        energy = motion_energy(frames)
        hits = onset_frames(notes)
        hits = hits[(hits > 0) & (hits < 200)]
        others = np.setdiff1d(np.arange(1, 200), np.concatenate([hits, hits + 1]))
        baseline = np.median(energy[others])
        # the motion at the onset frame stands out from the rest of the note
        assert np.mean(energy[hits] > 2.5 * baseline) > 0.9, name
        assert np.argmax(energy) in set(hits.tolist()), name
    names = list(means)
    gaps = [np.abs(means[a] - means[b]).mean() for i, a in enumerate(names) for b in names[i + 1:]]
    assert min(gaps) > 1.2, "two instruments look alike"


def test_onset_kick_jumps_at_the_onset_frame_and_decays():
    notes = [score.Note(0.5, 0.3, 60, 1.0), score.Note(1.3, 0.3, 62, 0.5)]
    kick = players.onset_kick(notes, 50, FPS)
    assert kick[:13].max() == 0 and kick[13] == pytest.approx(1.0, abs=0.1)
    assert kick[20] < 0.3 and kick[33] == pytest.approx(0.5, abs=0.05)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def test_mp4_round_trip_through_decord(tmp_path: Path):
    import av
    import decord

    look = faces.random_face(dsp.child_rng(5, "face"))
    openness = np.clip(np.sin(np.arange(60) / 3.0), 0, 1).astype(np.float32)
    frames, boxes = faces.render_singer(look, openness, dsp.child_rng(5, "head"))
    audio = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(2.4 * SR)) / SR)
    path = tmp_path / "clip.mp4"
    video_writer.write_mp4(path, frames, FPS, audio, SR)
    sidecar = video_writer.write_boxes(path, FPS, (112, 112), {"vocals": boxes})
    reader = decord.VideoReader(str(path))
    assert len(reader) == 60 and reader.get_avg_fps() == pytest.approx(25.0)
    decoded = reader.get_batch(list(range(60))).asnumpy()
    assert decoded.shape == frames.shape
    assert psnr(decoded, frames) > 30
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        sound = container.streams.audio[0]
        assert sound.codec_context.sample_rate == SR
    import json

    data = json.loads(sidecar.read_text())
    assert sidecar.name == "clip.boxes.json" and data["fps"] == 25 and data["size"] == [112, 112]
    assert np.allclose(data["boxes"]["vocals"], boxes, atol=0.01)


def test_mp4_writer_rejects_bad_frames(tmp_path: Path):
    with pytest.raises(ValueError, match="even frame sizes"):
        video_writer.write_mp4(tmp_path / "odd.mp4", np.zeros((2, 11, 12, 3), np.uint8), FPS)
    with pytest.raises(ValueError, match="uint8 frames"):
        video_writer.write_mp4(tmp_path / "f.mp4", np.zeros((2, 12, 12, 3), np.float32), FPS)


def test_child_rng_depends_only_on_seed_and_keys():
    a = dsp.child_rng(7, "song", 3).random(4)
    assert np.array_equal(a, dsp.child_rng(7, "song", 3).random(4))
    assert not np.array_equal(a, dsp.child_rng(7, "song", 4).random(4))
    assert not np.array_equal(a, dsp.child_rng(8, "song", 3).random(4))


def test_chunked_drawing_equals_drawing_all_frames_at_once():
    from avsep.data.synth.raster import Canvas, render_in_chunks

    x = np.linspace(10, 90, 40)

    def draw(part: slice) -> Canvas:
        canvas = Canvas(len(x[part]), 64, 112, (0.2, 0.3, 0.4))
        canvas.ellipse(x[part], 30, 8, 5 + x[part] / 20, (0.9, 0.1, 0.1))
        canvas.segment(x[part], 5, 100 - x[part], 60, 3, (0.1, 0.9, 0.1))
        return canvas

    whole = render_in_chunks(40, draw, chunk=100)
    assert whole.shape == (40, 64, 112, 3)
    assert np.array_equal(whole, render_in_chunks(40, draw, chunk=7))
    assert np.abs(whole[0].astype(int) - whole[-1].astype(int)).max() > 100  # it moved

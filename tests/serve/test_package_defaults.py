"""What travels with the package and the rules of an answer: the validated Wiener count is the
default, stems come back at the input's rate and sum to the mixture above the model's band, a
request without video to an audio-visual model names the audio-only alias, and `avsep separate`
takes several files into separated/<model>/<track>/<source>.wav."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avsep.cli import main
from avsep.models import build
from avsep.models.package import load_model_package, save_model_package
from avsep.serve.engine import Request, Separator
from avsep.serve.errors import BadRequest

AUDIO = {"name": "mmdensenet", "preset": "tiny"}  # 3.2 kHz: a 1.6 kHz band
AV = {"name": "av_mmdensenet", "preset": "tiny"}


def _package(tmp_path: Path, config: dict, wiener: int | None = None) -> Path:
    return save_model_package(build(config), config, tmp_path / config["name"],
                              wiener_iterations=wiener)


def _noise(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((channels, int(seconds * rate)))).astype(np.float32)


def _band_energy(audio: np.ndarray, rate: int, low_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / rate)
    return float(spectrum[..., freqs > low_hz].sum())


def test_stems_at_the_input_rate_sum_to_the_mixture(tmp_path):
    separator = Separator(*load_model_package(_package(tmp_path, AUDIO)))
    rate = 16000  # five times the model's rate
    mixture = _noise(2.0, rate, channels=2)
    result = separator.separate_request(Request(mixture, rate, wiener_iterations=1))
    stems = result.stems
    assert {k: v.shape for k, v in stems.items()} == {"vocals": (2, 32000),
                                                      "accompaniment": (2, 32000)}
    residual = mixture - stems["vocals"] - stems["accompaniment"]
    # Wiener filtering splits the band (up to STFT round trips: -46 dB measured); the rule
    # puts the mixture above it in the accompaniment
    assert np.sqrt(np.mean(residual ** 2)) < 1e-2 * np.sqrt(np.mean(mixture ** 2))  # -40 dB
    above = _band_energy(mixture, rate, 1700)
    assert _band_energy(stems["vocals"], rate, 1700) < 1e-3 * above
    assert _band_energy(stems["accompaniment"], rate, 1700) == pytest.approx(above, rel=1e-2)
    assert result.notices == [separator.above_band_rule()]
    assert "1600 Hz" in result.notices[0] and "`accompaniment`" in result.notices[0]
    # at the model's own rate nothing lies above the band: no notice
    same = separator.separate_request(Request(_noise(1.0, 3200), 3200))
    assert same.notices == [] and same.stems["vocals"].shape == (1, 3200)


def test_the_validated_wiener_count_is_the_default(tmp_path, capsys):
    package = _package(tmp_path, AUDIO, wiener=2)
    separator = Separator(*load_model_package(package))
    assert separator.wiener_iterations == 2 and separator.info()["wiener_iterations"] == 2
    song = tmp_path / "song.wav"
    sf.write(song, _noise(1.5, 3200, seed=3).T, 3200, subtype="FLOAT")
    runs = {}
    for name, flags in (("default", []), ("w2", ["--wiener-iterations", "2"]),
                        ("w0", ["--wiener-iterations", "0"])):
        assert main(["separate", str(song), "--model", str(package), "--out",
                     str(tmp_path / name)] + flags) == 0
        runs[name] = sf.read(tmp_path / name / "song" / "vocals.wav")[0]
        assert f"Wiener iterations {flags[-1] if flags else 2}" in capsys.readouterr().err
    assert np.array_equal(runs["default"], runs["w2"])
    assert not np.allclose(runs["default"], runs["w0"], atol=1e-4)
    # without a recorded count (packages saved before it was recorded): none
    assert Separator(*load_model_package(_package(tmp_path / "old", AUDIO))).wiener_iterations \
        == 0


def test_no_video_for_an_audio_visual_model_names_the_audio_only_alias(tmp_path, capsys):
    model, payload = load_model_package(_package(tmp_path, AV))
    registered = Separator(model, {**payload, "uri": "models:/avsep-av_singing@champion"})
    with pytest.raises(BadRequest) as err:
        registered.make_jobs(Request(_noise(1.0, 3200), 3200))
    message = err.value.message
    assert err.value.status == 400
    assert "models:/avsep-av_singing@champion-audio" in message
    assert "decod" not in message and "`video`" not in message  # blames no file or field
    song = tmp_path / "plain.wav"
    sf.write(song, _noise(1.0, 3200).T, 3200)
    assert main(["separate", str(song), "--model", str(tmp_path / "av_mmdensenet"),
                 "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert "audio-visual" in said and "@champion-audio" in said and "decod" not in said


def test_separate_takes_several_files_into_a_folder_per_model_and_track(tmp_path, capsys,
                                                                        monkeypatch):
    package = _package(tmp_path, AUDIO, wiener=1)
    monkeypatch.chdir(tmp_path)
    songs = []
    for name, rate in (("first.wav", 3200), ("second.flac", 8000)):
        sf.write(tmp_path / name, _noise(1.0, rate).T, rate)
        songs.append(str(tmp_path / name))
    assert main(["separate", *songs, "--model", str(package)]) == 0
    out = capsys.readouterr()
    assert "model mmdensenet" in out.err and "Wiener iterations 1" in out.err
    written = sorted(out.out.split())
    assert written == [f"separated/mmdensenet/{track}/{stem}.wav" for track in ("first",
                       "second") for stem in ("accompaniment", "vocals")]
    assert sf.info(tmp_path / "separated/mmdensenet/second/vocals.wav").samplerate == 8000
    assert "notice" in out.err and "1600 Hz" in out.err  # 8 kHz is above the 3.2 kHz model
    # one missing file fails alone; the others are still written
    assert main(["separate", str(tmp_path / "missing.wav"), songs[0], "--model",
                 str(package), "--out", str(tmp_path / "two")]) == 2
    assert "missing.wav: no such file" in capsys.readouterr().err
    assert (tmp_path / "two" / "first" / "vocals.wav").is_file()

"""Mel front ends: VocaLiST (Wav2Lip) normalised dB and the VAD CNN's 80-band log-mel."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from avsep.audio import (
    MelConfig,
    get_mel_preset,
    get_stft_preset,
    log_mel_spectrogram,
    mel_filterbank,
    mel_spectrogram,
    stft,
)


def _tone(freq: float, rate: int, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(rate * seconds), dtype=torch.float64) / rate
    return 0.5 * torch.sin(2 * torch.pi * freq * t)


@pytest.mark.parametrize("name", ["vocalist", "vad_cnn"])
def test_shapes_and_80_bands(name: str) -> None:
    config = get_mel_preset(name)
    x = torch.randn(2, 3, 8000)
    out = log_mel_spectrogram(x, name)
    assert out.shape == (2, 3, 80, config.stft.num_frames(8000))
    assert torch.isfinite(out).all()


def test_vocalist_matches_the_wav2lip_recipe_step_by_step() -> None:
    """Pre-emphasis as scipy lfilter([1, -0.97]), |STFT|, Slaney mels, dB - 20, [-4, 4]."""
    config = get_mel_preset("vocalist")
    x = torch.randn(4000, dtype=torch.float64) * 0.1
    emphasised = torch.from_numpy(scipy.signal.lfilter([1.0, -0.97], [1.0], x.numpy()))
    mel = mel_filterbank(config, dtype=torch.float64) @ stft(emphasised, config.stft).abs()
    db = 20 * torch.log10(mel.clamp_min(1e-5)) - 20
    expected = torch.clamp(8 * (db + 100) / 100 - 4, -4, 4)
    assert torch.allclose(log_mel_spectrogram(x, config), expected, atol=1e-9)


def test_vocalist_output_is_bounded_and_silence_is_the_floor() -> None:
    loud = log_mel_spectrogram(torch.randn(16000) * 10, "vocalist")
    assert loud.min() >= -4 and loud.max() <= 4 and loud.max() > 2
    assert torch.all(log_mel_spectrogram(torch.zeros(16000), "vocalist") == -4)


def test_tone_peaks_in_the_band_whose_filter_covers_it() -> None:
    config = get_mel_preset("vad_cnn")
    fb = mel_filterbank(config, dtype=torch.float64)  # (80, bins)
    bin_hz = config.stft.sample_rate / config.stft.n_fft
    for freq in (300.0, 1000.0, 4000.0):
        expected_band = fb[:, round(freq / bin_hz)].argmax().item()
        mel = mel_spectrogram(_tone(freq, config.stft.sample_rate), config).mean(dim=-1)
        assert abs(mel.argmax().item() - expected_band) <= 1


def test_filterbank_spans_the_configured_range() -> None:
    config = get_mel_preset("vocalist")
    fb = mel_filterbank(config)
    freqs = np.arange(config.stft.n_bins) * config.stft.sample_rate / config.stft.n_fft
    covered = freqs[(fb.sum(dim=0) > 0).numpy()]
    assert fb.shape == (80, 401)
    assert 55 <= covered.min() < 80 and 7500 < covered.max() <= 7600


def test_vad_cnn_uses_the_separation_frames() -> None:
    assert get_mel_preset("vad_cnn").stft == get_stft_preset("attr")


def test_bad_mel_inputs() -> None:
    with pytest.raises(KeyError, match="vocalist, vad_cnn"):
        get_mel_preset("htk")
    with pytest.raises(ValueError, match="f_min < f_max <= sample_rate / 2"):
        MelConfig(stft=get_stft_preset("vocalist"), f_max=9000.0)
    with pytest.raises(TypeError, match=r"waveform must be a real .* got complex64"):
        mel_spectrogram(torch.zeros(4000, dtype=torch.complex64), "vocalist")

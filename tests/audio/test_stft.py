"""STFT / iSTFT: round trips for every paper preset and batch shape, shapes, reference values."""

from __future__ import annotations

import pytest
import torch

from avsep.audio import STFT_PRESETS, STFTConfig, get_stft_preset, istft, stft


@pytest.mark.parametrize("name", sorted(STFT_PRESETS))
@pytest.mark.parametrize("lead", [(), (3,), (2, 2)])
def test_round_trip_every_preset_and_batch_shape(name: str, lead: tuple[int, ...]) -> None:
    config = get_stft_preset(name)
    length = int(0.3 * config.sample_rate) + 7  # not a multiple of the hop
    x = torch.randn(*lead, length)
    spec = stft(x, config)
    assert spec.dtype == torch.complex64
    assert spec.shape == (*lead, config.n_bins, config.num_frames(length))
    y = istft(spec, config, length=length)
    assert y.shape == x.shape
    assert (y - x).abs().max().item() < 1e-5


def test_round_trip_float64_without_centering() -> None:
    config = STFTConfig(sample_rate=8000, n_fft=256, hop_length=64, center=False)
    x = torch.randn(2, 64 * 20 + 256, dtype=torch.float64)
    spec = stft(x, config)
    assert spec.dtype == torch.complex128
    assert spec.shape[-1] == config.num_frames(x.shape[-1])
    y = istft(spec, config, length=x.shape[-1])
    # without centering, sample 0 is covered only by the window's zero
    assert (y[..., 1:] - x[..., 1:]).abs().max().item() < 1e-10
    assert torch.all(y[..., 0] == 0)


def test_matches_torch_stft_with_hann_window() -> None:
    config = get_stft_preset("attr")  # win_length 640 < n_fft 1024
    x = torch.randn(2, 8000, dtype=torch.float64)
    ref = torch.stft(
        x,
        1024,
        hop_length=320,
        win_length=640,
        window=torch.hann_window(640, dtype=torch.float64),
        center=True,
        return_complex=True,
    )
    assert torch.allclose(stft(x, config), ref, atol=1e-12)


def test_pure_tone_lands_in_its_bin() -> None:
    config = get_stft_preset("cunet")
    bin_hz = config.sample_rate / config.n_fft
    t = torch.arange(config.sample_rate) / config.sample_rate
    x = torch.sin(2 * torch.pi * 100 * bin_hz * t)
    mag = stft(x, config).abs().mean(dim=-1)
    assert mag.argmax().item() == 100


def test_paper_frame_rates_and_sizes() -> None:
    assert get_stft_preset("li2021").frames_per_second == 50  # 20 ms hop at 32 kHz
    assert get_stft_preset("attr").frames_per_second == 50  # MIR-1K label hop, 20 ms
    assert get_stft_preset("vocalist").frames_per_second == 80  # 4 mel frames per video frame
    cunet = get_stft_preset("cunet")
    assert (cunet.n_bins, cunet.num_frames(65535)) == (512, 256)  # 512 x 256 for ~6 s
    ynet = get_stft_preset("ynet")
    assert (ynet.n_bins, ynet.num_frames(4 * 2**14 - 1)) == (512, 256)  # 4 s clips
    assert get_stft_preset("sop") == cunet


def test_unknown_preset_lists_the_names() -> None:
    with pytest.raises(KeyError, match="li2021, cunet, sop, attr, vocalist, ynet"):
        get_stft_preset("musdb")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda c: stft(torch.zeros(4000, dtype=torch.complex64), c),
            TypeError,
            r"stft: waveform must be a real float32/float64 tensor \(\.\.\., samples\), "
            r"got complex64 \(4000,\)",
        ),
        (lambda c: stft(torch.zeros(4000, dtype=torch.int16), c), TypeError, "int16"),
        (lambda c: stft([0.0] * 4000, c), TypeError, "got list"),
        (lambda c: stft(torch.zeros(100), c), ValueError, "at least 513 samples"),
        (lambda c: stft(torch.zeros(4000), "li2021"), TypeError, "STFTConfig"),
        (lambda c: istft(torch.zeros(513, 9), c), TypeError, "spec must be a complex"),
        (
            lambda c: istft(torch.zeros(512, 9, dtype=torch.complex64), c),
            ValueError,
            r"513 bins .* got complex64 \(512, 9\)",
        ),
        (
            lambda c: istft(torch.zeros(513, 9, dtype=torch.complex64), c, length=-3),
            ValueError,
            "length",
        ),
    ],
)
def test_bad_inputs_say_what_was_expected(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(get_stft_preset("li2021"))


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="win_length must be <= n_fft"):
        STFTConfig(sample_rate=16000, n_fft=512, hop_length=128, win_length=1024)
    with pytest.raises(ValueError, match="hop_length must be an integer >= 1"):
        STFTConfig(sample_rate=16000, n_fft=512, hop_length=0)
    with pytest.raises(ValueError, match="unknown window"):
        STFTConfig(sample_rate=16000, n_fft=512, hop_length=128, window="hamming")


def test_gradients_flow_through_round_trip() -> None:
    config = get_stft_preset("vocalist")
    x = torch.randn(1600, requires_grad=True)
    istft(stft(x, config) * 2.0, config, length=1600).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 2.0), atol=1e-4)


def test_a_window_first_made_in_inference_mode_still_serves_autograd():
    """Serving runs in inference mode; the cached window it creates must not break a later
    training step in the same process."""
    from avsep.audio.stft import STFTConfig, _cached_window, istft, stft

    _cached_window.cache_clear()
    config = STFTConfig(sample_rate=8000, n_fft=256, hop_length=64)
    with torch.inference_mode():
        stft(torch.randn(1, 4000), config)
    wave = torch.randn(1, 4000, requires_grad=True)
    back = istft(stft(wave, config), config, length=4000)
    back.pow(2).sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all()
    assert float((back - wave).abs().max()) < 1e-4

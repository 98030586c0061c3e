"""Magnitude scales: log1p, Solos dB-normalisation, Li et al.'s per-frequency normalisation."""

from __future__ import annotations

import pytest
import torch

from avsep.audio import (
    PerFrequencyNormalizer,
    db_denormalize,
    db_normalize,
    inverse_log1p_magnitude,
    log1p_magnitude,
)


def test_log1p_inverts() -> None:
    mag = torch.rand(2, 3, 65, 20, dtype=torch.float64) * 50
    scaled = log1p_magnitude(mag)
    assert torch.allclose(scaled, torch.log(1 + mag))
    assert torch.allclose(inverse_log1p_magnitude(scaled), mag, rtol=1e-12)


def test_db_normalize_spans_minus_one_to_one_per_spectrogram() -> None:
    mag = torch.rand(3, 2, 33, 40, dtype=torch.float64) * torch.tensor([1.0, 100.0])[:, None, None]
    scaled, db_range = db_normalize(mag)
    assert scaled.shape == mag.shape
    flat = scaled.flatten(-2)
    assert torch.allclose(flat.amin(-1), torch.tensor(-1.0, dtype=torch.float64))
    assert torch.allclose(flat.amax(-1), torch.tensor(1.0, dtype=torch.float64))
    assert db_range.low.shape == (3, 2, 1, 1)
    # dB w.r.t. each spectrogram's minimum, divided by its dB range
    db = 20 * torch.log10(mag)
    assert torch.allclose(scaled, 2 * (db - db_range.low) / (db_range.high - db_range.low) - 1)
    assert torch.allclose(db_range.low, db.amin((-2, -1), keepdim=True))
    assert torch.allclose(db_range.high, db.amax((-2, -1), keepdim=True))


def test_db_normalize_inverts_above_the_floors() -> None:
    mag = torch.rand(2, 17, 9, dtype=torch.float64) + 0.01  # 40 dB range, above amin
    scaled, db_range = db_normalize(mag, top_db=80.0)
    assert torch.allclose(db_denormalize(scaled, db_range), mag, rtol=1e-10)


def test_db_normalize_known_values_and_top_db_floor() -> None:
    mag = torch.tensor([[1.0, 10.0], [100.0, 1e-9]], dtype=torch.float64)
    scaled, db_range = db_normalize(mag)  # defaults: amin 1e-5, no top_db
    # 20 log10: 0, 20, 40 dB and the amin floor -100 dB -> range 140 dB
    expected = torch.tensor([[100 / 140, 120 / 140], [1.0, 0.0]], dtype=torch.float64) * 2 - 1
    assert torch.allclose(scaled, expected)
    assert db_range.low.item() == pytest.approx(-100) and db_range.high.item() == pytest.approx(40)
    floored, floored_range = db_normalize(mag, top_db=30.0)  # floor at 40 - 30 = 10 dB
    assert floored_range.low.item() == pytest.approx(10)
    assert torch.allclose(floored, torch.tensor([[-1.0, -1 / 3], [1.0, -1.0]], dtype=torch.float64))


def test_constant_spectrogram_maps_to_minus_one() -> None:
    scaled, _ = db_normalize(torch.full((4, 5), 0.3))
    assert torch.all(scaled == -1)


def test_per_frequency_normalizer_fits_mean_and_std_per_bin() -> None:
    bins = 12
    mean = torch.linspace(-3, 5, bins, dtype=torch.float64)[:, None]
    std = torch.linspace(0.5, 4, bins, dtype=torch.float64)[:, None]
    data = torch.randn(8, 2, bins, 500, dtype=torch.float64) * std + mean
    norm = PerFrequencyNormalizer(bins).fit(data)
    assert torch.allclose(norm.mean.double(), mean, atol=0.2)  # 4 standard errors
    assert torch.allclose(norm.std.double(), std, rtol=0.05)
    out = norm(data)
    per_bin = out.transpose(-2, -1).reshape(-1, bins)
    assert torch.allclose(per_bin.mean(0), torch.zeros(bins, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(
        per_bin.std(0, unbiased=False), torch.ones(bins, dtype=torch.float64), atol=1e-5
    )
    assert torch.allclose(norm.inverse(out), data, atol=1e-5)


def test_per_frequency_normalizer_streaming_equals_one_shot_and_saves() -> None:
    data = torch.rand(6, 7, 30) * torch.arange(1, 8)[:, None]
    one = PerFrequencyNormalizer(7).fit(data)
    streamed = PerFrequencyNormalizer(7).fit(iter(data.split(2)))
    assert torch.allclose(one.mean, streamed.mean) and torch.allclose(one.std, streamed.std)
    restored = PerFrequencyNormalizer(7)
    restored.load_state_dict(one.state_dict())
    assert torch.equal(restored(data), one(data))


def test_scale_errors() -> None:
    norm = PerFrequencyNormalizer(7)
    with pytest.raises(RuntimeError, match="call fit"):
        norm(torch.rand(7, 3))
    with pytest.raises(ValueError, match=r"7 bins on axis -2, got float32 \(8, 3\)"):
        norm.fit(torch.rand(8, 3))
    with pytest.raises(ValueError, match="no data"):
        norm.fit([])
    with pytest.raises(TypeError, match=r"db_normalize: mag must be a real .* got complex64"):
        db_normalize(torch.zeros(3, 3, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"\(\.\.\., bins, frames\), got float32 \(5,\)"):
        log1p_magnitude(torch.rand(5))
    with pytest.raises(TypeError, match="DbRange"):
        db_denormalize(torch.rand(3, 3), (0.0, 1.0))

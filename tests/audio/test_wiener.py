"""Multichannel Wiener EM: agreement with norbert, batching, devices, errors."""

from __future__ import annotations

import itertools

import norbert
import numpy as np
import pytest
import torch

from avsep.audio import wiener


def _problem(frames=24, bins=11, channels=2, sources=3, target_channels=None, seed=0):
    """Random mixture (N, F, C) complex128 and magnitudes (N, F, {1,C}, S), loud enough that
    the EM rescaling (max |x| / 10 > 1) is exercised."""
    rng = np.random.default_rng(seed)
    x = (
        rng.standard_normal((frames, bins, channels))
        + 1j * rng.standard_normal((frames, bins, channels))
    ) * 20
    v = np.abs(rng.standard_normal((frames, bins, target_channels or channels, sources))) * 10
    return v, x


def _norbert(v, x, iterations, softmask, residual):
    """open-unmix's reference pipeline on top of norbert (copies: norbert edits in place)."""
    v, x = v.copy(), x.copy()
    if residual:
        v = norbert.residual_model(v, x, alpha=1)
    return norbert.wiener(v, x, iterations, use_softmask=softmask)


def _relative_error(ours: torch.Tensor, ref: np.ndarray) -> float:
    return float(np.abs(ours.numpy() - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize(
    ("iterations", "softmask", "residual"),
    list(itertools.product([0, 1, 2], [False, True], [False, True])),
)
def test_agrees_with_norbert_stereo(iterations: int, softmask: bool, residual: bool) -> None:
    v, x = _problem()
    ref = _norbert(v, x, iterations, softmask, residual)
    ours = wiener(torch.from_numpy(v), torch.from_numpy(x), iterations, softmask, residual)
    assert ours.shape == ref.shape == (24, 11, 2, 4 if residual else 3)
    assert ours.dtype == torch.complex128
    assert _relative_error(ours, ref) < 1e-14  # float64: rounding only


@pytest.mark.parametrize(
    ("channels", "target_channels"),
    [(1, 1), (3, 3), (2, 1)],  # mono, 3-ch pinv, mono targets
)
@pytest.mark.parametrize(("softmask", "residual"), [(False, False), (True, True)])
def test_agrees_with_norbert_other_channel_counts(channels, target_channels, softmask, residual):
    v, x = _problem(channels=channels, target_channels=target_channels, seed=channels)
    ref = _norbert(v, x, 2, softmask, residual)
    ours = wiener(torch.from_numpy(v), torch.from_numpy(x), 2, softmask, residual)
    assert ours.shape == ref.shape
    assert _relative_error(ours, ref) < 1e-14


@pytest.mark.parametrize(("softmask", "residual"), [(False, False), (True, True)])
def test_single_precision_agrees_with_norbert_in_single_precision(softmask, residual) -> None:
    """eps is the float32 machine epsilon then (regularisation sqrt(eps) ~ 3e-4), in both."""
    v, x = _problem()
    v, x = v.astype(np.float32), x.astype(np.complex64)
    ref = _norbert(v, x, 2, softmask, residual)
    ours = wiener(torch.from_numpy(v), torch.from_numpy(x), 2, softmask, residual)
    assert ours.dtype == torch.complex64
    assert _relative_error(ours, ref) < 1e-5


@pytest.mark.parametrize(
    ("iterations", "softmask", "residual"), [(0, True, False), (2, False, True)]
)
def test_batched_equals_per_item(iterations: int, softmask: bool, residual: bool) -> None:
    items = [_problem(frames=10, bins=6, seed=seed) for seed in range(6)]
    # very different loudness per item: the rescaling must be per item too
    v = torch.stack([torch.from_numpy(v * 10.0**k) for k, (v, _) in enumerate(items)])
    x = torch.stack([torch.from_numpy(x * 10.0**k) for k, (_, x) in enumerate(items)])
    v, x = v.reshape(2, 3, *v.shape[1:]), x.reshape(2, 3, *x.shape[1:])
    batched = wiener(v, x, iterations, softmask, residual)
    assert batched.shape == (2, 3, 10, 6, 2, 4 if residual else 3)
    for i, j in itertools.product(range(2), range(3)):
        single = wiener(v[i, j], x[i, j], iterations, softmask, residual)
        assert torch.allclose(batched[i, j], single, rtol=1e-10, atol=0)


def test_inputs_are_not_modified_and_softmask_estimates_sum_to_the_mix() -> None:
    v, x = (torch.from_numpy(a) for a in _problem())
    v0, x0 = v.clone(), x.clone()
    estimates = wiener(v, x, 0, softmask=True)
    wiener(v, x, 2, softmask=True, residual=True)
    assert torch.equal(v, v0) and torch.equal(x, x0)
    assert torch.allclose(estimates.sum(dim=-1), x)


def test_em_estimates_nearly_sum_to_the_mixture() -> None:
    """The multichannel Wiener filters of all sources add up to the identity (up to eps)."""
    v, x = (torch.from_numpy(a) for a in _problem())
    estimates = wiener(v, x, 3, residual=True)
    assert torch.allclose(estimates.sum(dim=-1), x, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu() -> None:
    v, x = (torch.from_numpy(a) for a in _problem(channels=2))
    cpu = wiener(v, x, 2, softmask=True, residual=True)
    gpu = wiener(v.cuda(), x.cuda(), 2, softmask=True, residual=True)
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("targets", "mix", "error", "message"),
    [
        (
            torch.rand(10, 5, 2, 3),
            torch.rand(10, 5),
            TypeError,
            r"wiener: mix_stft must be a complex tensor \(\.\.\., frames, bins, channels\), "
            r"got float32 \(10, 5\)",
        ),
        (
            torch.rand(10, 5, 2, 3),
            torch.zeros(10, 5, dtype=torch.complex64),
            ValueError,
            r"mix_stft must be .* got complex64 \(10, 5\)",
        ),
        (
            torch.rand(10, 5, 2, 3).to(torch.complex64),
            torch.zeros(10, 5, 2, dtype=torch.complex64),
            TypeError,
            r"target_spectrograms must be a real float32/float64 tensor",
        ),
        (
            torch.rand(10, 5, 3),
            torch.zeros(10, 5, 2, dtype=torch.complex64),
            ValueError,
            r"target_spectrograms must be .* got float32 \(10, 5, 3\)",
        ),
        (
            torch.rand(10, 6, 2, 3),
            torch.zeros(10, 5, 2, dtype=torch.complex64),
            ValueError,
            r"matching mix_stft .* got targets float32 \(10, 6, 2, 3\) and mix complex64",
        ),
        (
            torch.rand(10, 5, 3, 3),
            torch.zeros(10, 5, 2, dtype=torch.complex64),
            ValueError,
            r"channels 1 or 2",
        ),
        ("spectrogram", torch.zeros(10, 5, 2, dtype=torch.complex64), TypeError, "got str"),
    ],
)
def test_bad_inputs_raise_documented_errors(targets, mix, error, message) -> None:
    with pytest.raises(error, match=message):
        wiener(targets, mix)


def test_bad_iterations() -> None:
    v, x = (torch.from_numpy(a) for a in _problem())
    with pytest.raises(ValueError, match="iterations must be an integer >= 0, got -1"):
        wiener(v, x, -1)
    with pytest.raises(ValueError, match="iterations must be an integer >= 0, got 1.5"):
        wiener(v, x, 1.5)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_silent_mixture_gives_finite_estimates(channels: int) -> None:
    v = torch.rand(8, 5, channels, 2, dtype=torch.float64)
    x = torch.zeros(8, 5, channels, dtype=torch.complex128)
    for softmask in (False, True):
        out = wiener(v, x, 2, softmask=softmask, residual=True)
        assert torch.isfinite(torch.view_as_real(out)).all()
    assert torch.all(wiener(v, x, 2, softmask=True) == 0)

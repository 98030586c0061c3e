"""BSS Eval v4 against museval, frame by frame.

The reference is museval's own ``metrics.bss_eval``, called exactly as ``museval.evaluate``
calls it in its default v4 mode (``compute_permutation=False, framewise_filters=False,
bsseval_sources_version=False``, window and hop in samples). ``import museval`` itself fails
here: it imports ``musdb`` -> ``stempeg``, which needs an ``ffmpeg`` binary, so
:mod:`avsep.metrics.reference` loads the standalone ``museval/metrics.py`` (numpy/scipy only)
with ``importlib.util.spec_from_file_location``.

Signals are short (3-4 s at 8 kHz) so museval's dense solves stay fast; the 4-source stereo
case (a 4096-square system) is marked slow.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avsep.metrics import METRIC_NAMES, aggregate_frames, bss_eval, bss_eval_batch
from avsep.metrics.bss_eval import fast_fft_length, lagged_correlations
from avsep.metrics.reference import museval_v4
from avsep.metrics.synthetic import degraded_estimates, structured_sources

SR = 8000
TOLERANCE_DB = 0.01


def _random_case(sources: int, channels: int, seconds: float, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    refs = rng.standard_normal((sources, int(seconds * SR), channels))
    mix = refs.sum(axis=0)
    ests = (0.8 * refs + 0.2 * mix[None] + 0.1 * rng.standard_normal(refs.shape))
    return refs, ests


def _structured_case(sources: int, channels: int, seconds: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    refs = structured_sources(sources, seconds, SR, channels=channels, seed=seed)
    refs[0, int(1.0 * SR):int(2.2 * SR)] = 0.0  # reference silent over a whole window
    ests = degraded_estimates(refs, seed=seed + 1)
    ests[-1, int(2.0 * SR):int(3.0 * SR)] = 0.0  # estimate silent in exactly window 2
    return refs, ests


def assert_matches_museval(refs: np.ndarray, ests: np.ndarray, window: float | None,
                           hop: float | None, filters_len: int = 512, sample_rate: int = SR
                           ) -> dict[str, np.ndarray]:
    win = math.inf if window is None else int(window * sample_rate)
    step = math.inf if hop is None else int(hop * sample_rate)
    expected = museval_v4(refs, ests, win, step, filters_len)
    got = bss_eval(refs, ests, sample_rate, window=window, hop=hop, filters_len=filters_len)
    for name in METRIC_NAMES:
        assert got[name].shape == expected[name].shape, name
        nan_expected = np.isnan(expected[name])
        np.testing.assert_array_equal(np.isnan(got[name]), nan_expected, err_msg=name)
        diff = np.abs(got[name] - expected[name])[~nan_expected]
        assert diff.size and diff.max() <= TOLERANCE_DB, (name, diff.max())
    return got


CASES = [
    pytest.param("random", 2, 1, 3.0, 1.0, 1.0, id="random-mono-2src"),
    pytest.param("random", 3, 2, 3.0, 1.0, 0.5, id="random-stereo-3src-overlap"),
    pytest.param("structured", 2, 2, 4.0, 1.0, 1.0, id="structured-stereo-2src-silent"),
    pytest.param("structured", 4, 1, 4.0, 1.0, 1.0, id="structured-mono-4src-silent"),
    pytest.param("random", 2, 2, 3.0, None, None, id="random-stereo-whole-signal"),
    pytest.param("structured", 4, 2, 4.0, 1.0, 1.0, id="structured-stereo-4src-silent",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("kind", "sources", "channels", "seconds", "window", "hop"), CASES)
def test_agrees_with_museval_per_frame(kind: str, sources: int, channels: int,
                                       seconds: float, window: float | None,
                                       hop: float | None) -> None:
    make = _random_case if kind == "random" else _structured_case
    refs, ests = make(sources, channels, seconds, seed=sources * 10 + channels)
    got = assert_matches_museval(refs, ests, window, hop)
    if kind == "structured":  # the silent windows are NaN for every source, the rest is not
        assert np.isnan(got["sdr"][:, 1]).all() and np.isnan(got["sdr"][:, 2]).all()
        assert np.isfinite(got["sdr"][:, [0, 3]]).all()


def test_silent_frame_rule_sums_channels_like_museval() -> None:
    """museval calls a window silent when the channel *sum* is zero (e.g. L = -R)."""
    refs, ests = _random_case(2, 2, 3.0, seed=5)
    refs[1, SR:2 * SR, 1] = -refs[1, SR:2 * SR, 0]
    got = assert_matches_museval(refs, ests, 1.0, 1.0)
    assert np.isnan(got["sir"][:, 1]).all() and not np.isnan(got["sir"][:, 0]).any()


def test_lagged_correlations_match_direct_sums() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 300, generator=gen, dtype=torch.float64)
    y = torch.randn(1, 3, 300, generator=gen, dtype=torch.float64)
    lags = 7
    got = lagged_correlations(x, y, lags)
    for k in range(-(lags - 1), lags):
        xs = x[..., max(k, 0):300 + min(k, 0)]
        ys = y[..., max(-k, 0):300 - max(k, 0)]
        direct = torch.einsum("bpn,bqn->bpq", xs, ys)
        torch.testing.assert_close(got[..., k + lags - 1], direct, rtol=1e-10, atol=1e-9)


def test_fast_fft_length() -> None:
    assert [fast_fft_length(n) for n in (1, 7, 17, 44611, 8192)] == [1, 8, 18, 45000, 8192]


def test_perfect_estimate_is_infinite_sdr_and_scaled_copy_is_finite() -> None:
    refs, _ = _random_case(2, 1, 2.0, seed=3)
    perfect = bss_eval(refs, refs.copy(), SR)
    assert np.isposinf(perfect["sdr"]).all()
    scaled = bss_eval(refs, 0.5 * refs, SR)
    # 0.5 s against s: the error 0.5 s is all spatial (gain) distortion, so SDR = ISR =
    # 10 log10(|s|^2 / |0.5 s|^2) = 6.02 dB, and there is no interference or artefact.
    np.testing.assert_allclose(scaled["sdr"], 10 * np.log10(4.0), atol=1e-9)
    np.testing.assert_allclose(scaled["isr"], 10 * np.log10(4.0), atol=1e-6)
    assert (scaled["sir"] > 100).all() and (scaled["sar"] > 100).all()


def test_batch_equals_items_and_tensor_input() -> None:
    a_ref, a_est = _random_case(2, 2, 2.0, seed=7)
    b_ref, b_est = _random_case(2, 2, 2.0, seed=8)
    batch = bss_eval(np.stack([a_ref, b_ref]), torch.from_numpy(np.stack([a_est, b_est])), SR)
    single = bss_eval(torch.from_numpy(b_ref), torch.from_numpy(b_est), SR)
    assert batch["sdr"].shape == (2, 2, 2)
    for name in METRIC_NAMES:
        np.testing.assert_allclose(batch[name][1], single[name], atol=1e-9)


def test_float32_tensor_input_is_scored_in_float64() -> None:
    refs, ests = _random_case(2, 2, 2.0, seed=6)
    low = bss_eval(torch.from_numpy(refs).float(), torch.from_numpy(ests).float(), SR,
                   device="cpu")
    high = bss_eval(refs.astype(np.float32).astype(np.float64),
                    ests.astype(np.float32).astype(np.float64), SR)
    for name in METRIC_NAMES:
        assert low[name].dtype == np.float64
        np.testing.assert_allclose(low[name], high[name], atol=1e-9)


def test_fully_silent_item_is_all_nan_and_does_not_disturb_the_batch() -> None:
    refs, ests = _random_case(2, 1, 2.0, seed=9)
    silent = ests.copy()
    silent[1] = 0.0
    batch = bss_eval_batch(
        torch.from_numpy(np.stack([refs, refs])).transpose(-1, -2),
        torch.from_numpy(np.stack([ests, silent])).transpose(-1, -2), SR, SR)
    assert torch.isnan(batch["sdr"][1]).all()
    alone = bss_eval(refs, ests, SR)
    np.testing.assert_allclose(batch["sdr"][0].numpy(), alone["sdr"], atol=1e-9)


def test_aggregate_frames_median_ignores_nan() -> None:
    scores = {"sdr": np.array([[1.0, np.nan, 3.0, 10.0], [np.nan, np.nan, np.nan, np.nan]])}
    agg = aggregate_frames(scores)
    np.testing.assert_array_equal(agg["sdr"][:1], [3.0])
    assert np.isnan(agg["sdr"][1])
    np.testing.assert_allclose(aggregate_frames(scores["sdr"][:1], how="mean"), [14 / 3])
    with pytest.raises(ValueError, match="how"):
        aggregate_frames(scores, how="max")


@pytest.mark.parametrize(
    ("refs", "ests", "error", "match"),
    [
        (np.zeros((2, 100, 1)) + 1, np.zeros((2, 90, 1)) + 1, ValueError, "same shape"),
        (np.ones(100), np.ones(100), ValueError, "at least 2 dimensions"),
        (np.ones((2, 100, 1), complex), np.ones((2, 100, 1)), TypeError, "complex"),
        ([[1.0, 2.0]], np.ones((1, 2)), TypeError, "numpy array or torch tensor"),
        (np.ones((2, 2, 100)), np.ones((2, 2, 100)), ValueError, "more channels than samples"),
        (np.full((2, 100, 1), np.nan), np.ones((2, 100, 1)), ValueError, "NaN"),
    ],
)
def test_bad_inputs_say_what_was_expected(refs: object, ests: object, error: type,
                                          match: str) -> None:
    with pytest.raises(error, match=match):
        bss_eval(refs, ests, SR)  # type: ignore[arg-type]


def test_bad_window_is_rejected() -> None:
    refs, ests = _random_case(2, 1, 1.0, seed=1)
    with pytest.raises(ValueError, match="window"):
        bss_eval(refs, ests, SR, window=-1.0)
    with pytest.raises(ValueError, match="hop"):
        bss_eval(refs, ests, SR, window=0.5, hop=None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu() -> None:
    refs, ests = _structured_case(3, 2, 3.0, seed=4)
    cpu = bss_eval(refs, ests, SR)
    gpu = bss_eval(refs, ests, SR, device="cuda")
    for name in METRIC_NAMES:
        np.testing.assert_allclose(gpu[name], cpu[name], atol=1e-6, equal_nan=True)

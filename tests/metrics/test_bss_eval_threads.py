"""BSS Eval's CPU threads (``threads=``) change the speed, not the numbers.

The other BSS Eval tests run at the default thread count (one); here
one, two and three threads are compared on a batch that takes every path at once: silent
windows, a fully silent item, a well-posed item (the fast path) and a noiseless one (the
museval-arithmetic fallback, which must run alone and give museval's own numbers).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from avsep.metrics import METRIC_NAMES, bss_eval
from avsep.metrics.reference import museval_v4
from avsep.metrics.synthetic import degraded_estimates, structured_sources
from avsep.metrics.workers import Workers, check_threads, default_threads, split

bss_eval_module = importlib.import_module("avsep.metrics.bss_eval")
SR = 8000
TAPS = 64  # short filters keep museval's dense solve of the fallback item fast


def _batch() -> tuple[np.ndarray, np.ndarray]:
    """(4 items, 2 sources, 3 s, stereo): well posed with silent windows, noiseless, silent."""
    well = structured_sources(2, 3.0, SR, channels=2, seed=1)
    well[0, SR:2 * SR] = 0.0  # a reference silent over window 1
    tones = structured_sources(2, 3.0, SR, channels=2, seed=2, noise=0.0)
    refs = np.stack([well, tones, well, well])
    ests = np.stack([degraded_estimates(r, seed=3) for r in refs])
    ests[2] = 0.0  # an item whose estimates are all silent: NaN everywhere
    return refs, ests


def test_one_two_and_three_threads_give_the_same_metrics() -> None:
    refs, ests = _batch()
    runs = {n: bss_eval(refs, ests, SR, filters_len=TAPS, threads=n) for n in (1, 2, 3)}
    for name in METRIC_NAMES:
        one = runs[1][name]
        assert one.shape == (4, 2, 3)
        assert np.isnan(one[2]).all() and np.isnan(one[[0, 3]][:, :, 1]).all()
        assert np.isfinite(one[1]).all() and np.isfinite(one[[0, 3]][:, :, [0, 2]]).all()
        for n in (2, 3):
            np.testing.assert_array_equal(np.isnan(runs[n][name]), np.isnan(one), err_msg=name)
            np.testing.assert_allclose(runs[n][name], one, atol=1e-8, rtol=0,
                                       equal_nan=True, err_msg=f"{name}, {n} threads")
        # the fallback item is museval's own arithmetic at every thread count
        expected = museval_v4(refs[1], ests[1], SR, SR, TAPS)[name]
        for n in (1, 2, 3):
            np.testing.assert_allclose(runs[n][name][1], expected, atol=1e-9, rtol=0,
                                       equal_nan=True, err_msg=f"{name}, {n} threads")


def test_threads_split_the_correlation_blocks_without_changing_them() -> None:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((1, 3, 40_000)))
    y = torch.from_numpy(rng.standard_normal((1, 2, 40_000)))
    one = bss_eval_module.lagged_correlations(x, y, 300)
    with Workers(2) as workers:
        two = bss_eval_module.lagged_correlations(x, (y[:, :1], y[:, 1:]), 300, workers)
    assert one.shape == (1, 3, 2, 599)
    direct = float((x[0, 1, 7:] * y[0, 0, :-7]).sum())  # lag +7 of channels (1, 0)
    assert abs(float(one[0, 1, 0, 299 + 7]) - direct) < 1e-9 * abs(direct) + 1e-9
    np.testing.assert_allclose(two.numpy(), one.numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_thread_counts_say_what_is_expected(bad: object) -> None:
    refs = structured_sources(2, 1.0, SR, channels=1, seed=1)
    with pytest.raises(ValueError, match="threads: expected a positive int"):
        bss_eval(refs, refs, SR, threads=bad)  # type: ignore[arg-type]


def test_default_thread_count_is_one() -> None:
    assert check_threads(None) == default_threads() == 1
    assert check_threads(3) == 3


def test_workers_keep_order_and_raise_in_the_caller() -> None:
    assert [list(run) for run in split(range(7), 3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [list(run) for run in split(range(2), 4)] == [[0], [1]]
    for count in (1, 2):
        with Workers(count) as workers:
            assert workers.map(lambda v: v * v, range(5)) == [0, 1, 4, 9, 16]
            failed = workers.submit(lambda: 1 / 0)
            with pytest.raises(ZeroDivisionError):
                failed.result()
            workers.drain()

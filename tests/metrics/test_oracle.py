"""Oracle rows: mixture (lower bound) below ideal ratio / binary masks (upper bounds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avsep.audio import STFTConfig
from avsep.metrics import oracle_estimates, oracle_scores
from avsep.metrics.synthetic import structured_sources

CONFIG = STFTConfig(sample_rate=8000, n_fft=512, hop_length=128)


def _sources() -> torch.Tensor:
    refs = structured_sources(3, 3.0, CONFIG.sample_rate, channels=2, seed=11)
    return torch.from_numpy(refs).transpose(-1, -2)  # (S, C, L)


def test_mixture_oracle_is_the_sum_and_masks_sum_back_to_it() -> None:
    src = _sources()
    mix = src.sum(dim=0)
    torch.testing.assert_close(oracle_estimates(src, CONFIG, "mixture")[1], mix)
    irm = oracle_estimates(src, CONFIG, "irm")
    ibm = oracle_estimates(src, CONFIG, "ibm")
    assert irm.shape == src.shape and irm.dtype == torch.float64
    # both mask sets partition every bin, so the estimates add up to the mixture again
    torch.testing.assert_close(irm.sum(dim=0), mix, atol=1e-9, rtol=0)
    torch.testing.assert_close(ibm.sum(dim=0), mix, atol=1e-9, rtol=0)


def test_oracle_ordering() -> None:
    rows = oracle_scores(_sources(), CONFIG)
    assert set(rows) == {"mixture", "irm", "ibm"}
    for kind in ("irm", "ibm"):
        gain = rows[kind]["sdr"] - rows["mixture"]["sdr"]
        assert (gain > 5.0).all(), (kind, gain)
        assert (rows[kind]["sir"] > rows["mixture"]["sir"] + 5.0).all()


def test_bad_kind_and_shape() -> None:
    with pytest.raises(ValueError, match="kind"):
        oracle_estimates(_sources(), CONFIG, "perfect")
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        oracle_estimates(np.zeros((2, 100)), CONFIG, "irm")

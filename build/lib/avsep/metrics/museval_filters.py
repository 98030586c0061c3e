"""BSS Eval v4 distortion filters computed step for step as museval 0.4.1 computes them.

This is the fallback of :mod:`avsep.metrics.bss_eval` for ill-conditioned Gram systems
(pure tones, sparse or low-rank references, identical sources or channels). There the
least-squares filters are not unique and museval's result is fixed by the rounding of its
own arithmetic: perturbing its Gram matrix by one part in 1e16 moves SIR/SAR by several dB
(measured on 4 stereo sinusoids). The only way to agree with it is to do the same float64
operations in the same order, so this module repeats them exactly (museval is MIT licensed;
``museval/metrics.py``: ``_compute_reference_correlations``, ``_compute_projection_filters``):

* zero-pad every reference channel by ``F - 1`` samples, ``scipy.fftpack.fft`` with
  ``n_fft = 2**ceil(log2(L + F - 1))``; for each pair of channels the real inverse FFT of the
  cross-spectrum gives the lag correlations, laid out by ``scipy.linalg.toeplitz`` into
  ``G`` (S, S, C, C, F, F), the transposed copy filling the mirrored block;
* for each estimate ``j``: ``D`` from the cross-spectra with the padded estimate, then
  ``np.linalg.solve(G + eps I, D)``, and ``np.linalg.lstsq(G, D)`` if LAPACK reports a
  singular matrix; the same against ``G[j, j]`` for the own-source filters.

Results are bit for bit museval's when numpy/scipy are the same builds and BLAS runs with
the same thread count (its LU is not guaranteed to round identically across thread counts).
Cost: that of museval's filter step (one dense LU of the ``S*C*F`` square matrix per source).
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.fftpack
from scipy.linalg import toeplitz

_EPS = np.finfo(float).eps


def _zeropad_last(x: np.ndarray, count: int) -> np.ndarray:
    """Append ``count`` zeros along the last axis."""
    out = np.zeros(x.shape[:-1] + (x.shape[-1] + count,))
    out[..., : x.shape[-1]] = x
    return out


def _n_fft(length: int, taps: int) -> int:
    return int(2 ** np.ceil(np.log2(length + taps - 1.0)))


def reference_correlations(references: np.ndarray, taps: int) -> tuple[np.ndarray, np.ndarray]:
    """references (S, L, C) -> ``G`` (S, S, C, C, F, F) and spectra ``sf`` (S, C, n_fft)."""
    sources, length, channels = references.shape
    padded = _zeropad_last(np.moveaxis(references, 1, 2), taps - 1)
    sf = scipy.fftpack.fft(padded, n=_n_fft(length, taps), axis=2)
    gram = np.zeros((sources, sources, channels, channels, taps, taps))
    pairs = itertools.product(range(sources), range(channels))
    for (i, c1), (j, c2) in itertools.combinations_with_replacement(pairs, 2):
        ssf = np.real(scipy.fftpack.ifft(sf[j, c2] * np.conj(sf[i, c1])))
        block = toeplitz(np.hstack((ssf[0], ssf[-1:-taps:-1])), r=ssf[:taps])
        gram[j, i, c2, c1] = block
        gram[i, j, c1, c2] = block.T
    return gram, sf


def projection_filters(gram: np.ndarray, sf: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Least-squares filters of one estimate (L, C) on the delayed references.

    gram (S, S, C, C, F, F) and sf (S, C, n_fft) -> (S, C_in, F, C_out); or, for a single
    source, gram (C, C, F, F) and sf (C, n_fft) -> (C_in, F, C_out).
    """
    single = gram.ndim == 4
    if single:
        gram, sf = gram[None, None], sf[None]
    sources, taps = gram.shape[0], gram.shape[-1]
    length, channels = estimate.shape
    sef = scipy.fftpack.fft(_zeropad_last(estimate.T, taps - 1), n=_n_fft(length, taps))
    rhs = np.zeros((sources, channels, taps, channels))
    for j, cj, c in itertools.product(range(sources), range(channels), range(channels)):
        ssef = np.real(scipy.fftpack.ifft(sf[j, cj] * np.conj(sef[c])))
        rhs[j, cj, :, c] = np.hstack((ssef[0], ssef[-1:-taps:-1]))
    rhs = rhs.reshape(sources * channels * taps, channels)
    size = sources * channels * taps
    dense = np.moveaxis(gram, (1, 3), (3, 4)).reshape(size, size)
    try:
        filters = np.linalg.solve(dense + _EPS * np.eye(size), rhs)
    except np.linalg.LinAlgError:
        filters = np.linalg.lstsq(dense, rhs)[0]
    filters = filters.reshape(sources, channels, taps, channels)
    return filters[0] if single else filters


def museval_filters(references: np.ndarray, estimates: np.ndarray, taps: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Both filter sets of one item, as museval computes them.

    references, estimates (S, L, C) float64 -> ``full`` (S_est, S_ref, C_in, C_out, F) and
    ``own`` (S, C_in, C_out, F), the layout of :func:`avsep.metrics.bss_eval.distortion_filters`.
    """
    gram, sf = reference_correlations(references, taps)
    full = np.stack([projection_filters(gram, sf, est) for est in estimates])
    own = np.stack([projection_filters(gram[j, j], sf[j], estimates[j])
                    for j in range(len(estimates))])
    return full.transpose(0, 1, 2, 4, 3), own.transpose(0, 1, 3, 2)

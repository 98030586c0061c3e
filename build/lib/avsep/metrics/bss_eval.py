"""BSS Eval v4 exactly as ``museval.evaluate`` computes it by default, batched in torch.

museval's default (``mode="v4"``) is ``metrics.bss_eval(..., compute_permutation=False,
framewise_filters=False, bsseval_sources_version=False)`` with 1 s windows and hop:

1. *Distortion filters, once for the whole signal.* For every source ``j`` the estimate is
   projected, by least squares, on the span of all references delayed by 0..511 samples
   (``filters_len = 512``) in every channel: ``(G + eps I) C = D`` where ``G`` is the Gram
   matrix of the delayed references (block Toeplitz, ``S*C*512`` square) and ``D`` holds the
   correlations of the references with the estimate; ``eps`` is float64 machine epsilon.
   The same is done against the delayed copies of reference ``j`` alone (``Cj``).
2. *Framewise decomposition.* For each window the reference excerpts (zero-padded by 511
   samples) are filtered with ``C`` and ``Cj``: ``P_j = Cj * s_j`` and ``P = C * s``.
   With ``s_true`` the padded reference excerpt and ``e`` the padded estimate excerpt:
   ``SDR = |s_true|² / |e - s_true|²``, ``ISR = |s_true|² / |P_j - s_true|²``,
   ``SIR = |P_j|² / |P - P_j|²``, ``SAR = |P|² / |e - P|²`` (in dB; a zero denominator
   gives +inf).
3. *Silent frames.* When, in a window, any reference or any estimate is all zeros (after
   summing its channels, as museval checks it), every source of that window is NaN.

This module gives the same numbers (within float64 rounding; see the tests) without
copying museval's loops:

* correlations for lags -511..511 come from one block-wise FFT pass over the signals
  (overlap-save blocks of 8192 points, the reference blocks transformed time-reversed so
  that no conjugate is taken, products summed over blocks with one batched matrix product),
  instead of one full-length FFT per pair of channels;
* ``G`` is block Toeplitz, so the system is solved for all estimates at once by the block
  Levinson recursion (:mod:`avsep.metrics.toeplitz`, ~50x fewer flops than a dense
  factorisation), where museval runs one dense LU solve per source. A solution is trusted
  when it is finite, its residual is small and the recursion's smallest pivot shows
  ``cond(G) < 1e9``. Otherwise (pure or sparse tones, low-rank references, identical
  sources or channels) the least-squares filters are not unique and museval's own SIR/SAR
  are fixed by the rounding of its LU (a 1e-16 relative change of its ``G`` moved SIR by
  7 dB on four stereo tones), so that item's filters are recomputed by
  :mod:`avsep.metrics.museval_filters`, which repeats museval's arithmetic step for step
  (``np.linalg.solve``, then ``lstsq``), at museval's cost;
* the per-window filtering is done in the frequency domain for all windows at once (one
  (S*C)-square product per frequency applies ``P``, one (C, C) product per source and
  frequency the diagonal blocks of ``P_j``), and the energies of the filtered signals come
  from Parseval's identity, so no inverse FFT is needed; the ``|e - s_true|²`` and
  ``|s_true|²`` terms are summed in the time domain;
* on the CPU the FFTs go through scipy (:mod:`avsep.metrics.kernels`, 2-3x faster than
  torch's at these shapes), the Levinson recursion runs in numpy, and torch's own ops
  (the batched complex products among them) run on one thread per worker
  (:mod:`avsep.audio.threads`);
* ``threads`` CPU threads (default 1, see :mod:`avsep.metrics.workers`) share the work,
  since numpy's products and scipy's FFTs release the GIL: the correlation blocks are
  split between them, one thread solves both Gram systems while the others transform the
  first windows and then, while the own-source system is solved, ``P``'s filters, and the
  runs of windows are spread over them. The two recursions share
  one thread on purpose: the own-source one (C x C blocks) is all Python overhead, and
  beside it on a second thread the full solve waited on the GIL and took twice as long.
  The museval fallback runs alone, after the queued work, so that its LAPACK calls run as
  museval's do.

Speed: ``benchmarks/bss_eval_speed.py`` and ``docs/evaluation.md`` (figures with the load
they were measured at); noiseless stems take the fallback above and run at ~1x. At 8 s/44.1
kHz on one thread (~0.43 s): correlations ~1/3 of the time, the Levinson solves ~1/5 (the 4
stereo own-source systems mostly in numpy call overhead), the windows the rest (FFTs of
windows and filters, the per-frequency products, the energies).
Signals of full length are never copied for the correlations (windows are views, only the
reference blocks' zero-padding is a copy): on the test box every fresh large buffer paid
for its page faults.

Inputs follow museval: ``(sources, samples, channels)``. A reference or estimate that is
silent over the whole signal makes museval raise; here every frame of that item is simply
NaN (the frame rule above would give NaN everywhere anyway).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from avsep.audio.threads import one_torch_thread
from avsep.metrics import kernels
from avsep.metrics._checks import (
    ArrayLike,
    as_real_tensor,
    check_finite,
    check_same_shape,
    to_numpy,
)
from avsep.metrics.framing import frame_layout, frame_signal, window_samples
from avsep.metrics.museval_filters import museval_filters
from avsep.metrics.toeplitz import block_toeplitz_matmul, block_toeplitz_solve_ex
from avsep.metrics.workers import Workers, check_threads, split

FILTERS_LEN = 512
METRIC_NAMES = ("sdr", "isr", "sir", "sar")
_LAYOUT = "(sources, samples, channels)"
_BLOCK_FFT = 8192
# Working-set sizes per chunk. Small chunks stay in cache and reuse allocator pages; on the
# 2-core test box 16 MB (correlations) and 64 MB (windows) were 1.6x and 2.3x faster than
# 256 MB.
_CORR_CHUNK_BYTES = 16 * 2**20
_FRAME_CHUNK_BYTES = 64 * 2**20
# Runs whose signals are computed while the filters are solved, per thread: a run's budget
# counts 6 spectra-sized arrays, its signals are 2 of them.
_EARLY_RUNS_PER_THREAD = 3
_EPS = float(torch.finfo(torch.float64).eps)  # museval's ridge: G + eps I
_RESIDUAL_TOL = 1e-11
_PIVOT_TOL = 1e-9


def fast_fft_length(n: int) -> int:
    """Smallest ``2^a 3^b 5^c`` that is at least ``n`` (FFT sizes that pocketfft/cuFFT like)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _chunk(count: int, bytes_each: int, budget: int) -> int:
    """How many items of ``bytes_each`` fit in ``budget`` bytes (at least one)."""
    return max(1, min(count, budget // max(1, bytes_each)))


def lagged_correlations(x: torch.Tensor | Sequence[torch.Tensor],
                        y: torch.Tensor | Sequence[torch.Tensor], max_lag: int,
                        workers: Workers | None = None) -> torch.Tensor:
    """Cross-correlations for small lags: x (B, P, L), y (B, Q, L) -> (B, P, Q, 2*max_lag - 1).

    ``out[b, p, q, k + max_lag - 1] = sum_n x[b, p, n + k] * y[b, q, n]`` for
    ``|k| < max_lag`` (signals are zero outside 0..L-1). Either input may be given as a
    sequence of (B, P_i, L) parts, as if concatenated along its channel axis (nothing of full
    length is copied).

    Overlap-save blocks: each block of ``y`` (``n_fft - 2 (max_lag - 1)`` samples) meets the
    window of ``x`` that reaches ``max_lag - 1`` samples either side; the block's samples are
    transformed in reverse order, so that the product of the two spectra is the correlation's
    spectrum with no conjugate to take (only the zero-padding of ``y``'s blocks is copied;
    windows are views, padded only at the signal's edges). The products are summed over blocks
    (a batched matrix product per frequency), and one short inverse FFT per pair gives the
    lags. With ``workers``, each thread sums the products of one contiguous run of blocks and
    the runs' sums are added.
    """
    x_parts = [x] if isinstance(x, torch.Tensor) else list(x)
    y_parts = [y] if isinstance(y, torch.Tensor) else list(y)
    batch, _, length = x_parts[0].shape
    num_x = sum(part.shape[1] for part in x_parts)
    num_y = sum(part.shape[1] for part in y_parts)
    reach = max_lag - 1
    block = max(1, min(length, _BLOCK_FFT - 2 * reach))
    n_fft = fast_fft_length(block + 2 * reach)
    n_blocks = -(-length // block)
    n_freq = n_fft // 2 + 1
    step = _chunk(n_blocks, 16 * n_freq * (num_x + num_y) * batch, _CORR_CHUNK_BYTES)
    device = x_parts[0].device

    def spectra(parts: list[torch.Tensor], start: int, stop: int, span: int
                ) -> list[torch.Tensor]:
        """(B, K, n, P_i) spectra of the ``span``-sample stretches of every block.

        ``span == block``: the blocks of ``y``, reversed; wider: the windows of ``x``."""
        side = (span - block) // 2
        out = []
        for part in parts:
            pieces = _signal_span(part, start * block - side, stop * block + side)
            pieces = pieces.unfold(-1, span, block)  # (B, P_i, n, span)
            out.append(kernels.rfft(pieces.permute(0, 3, 2, 1), n_fft, dim=1,
                                    reverse=span == block))
        return out

    def products(starts: Sequence[int]) -> torch.Tensor:
        """``X^T Y_reversed`` summed over the blocks of ``starts`` chunks: (B, K, P, Q)."""
        total = torch.zeros(batch, n_freq, num_x, num_y, dtype=torch.complex128, device=device)
        for start in starts:
            stop = min(n_blocks, start + step)
            xfs = spectra(x_parts, start, stop, block + 2 * reach)
            yfs = spectra(y_parts, start, stop, block)
            row = 0
            for xf in xfs:
                col = 0
                for yf in yfs:
                    total[:, :, row:row + xf.shape[-1], col:col + yf.shape[-1]] += (
                        kernels.matmul(xf.transpose(-1, -2), yf))
                    col += yf.shape[-1]
                row += xf.shape[-1]
        return total

    workers = workers or Workers(1)
    sums = workers.map(products, split(range(0, n_blocks, step), workers.count))
    total = sums[0]
    for other in sums[1:]:
        total += other
    # reversed blocks: lag k of the correlation lands at index k + reach + block - 1
    corr = kernels.irfft(total.permute(0, 2, 3, 1), n_fft)
    return corr[..., block - 1: block + 2 * reach]


def _signal_span(x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """``x[..., start:stop]`` of a signal that is zero outside ``0 .. L-1`` (a view inside)."""
    length = x.shape[-1]
    inside = x[..., max(0, start):min(length, stop)]
    if start >= 0 and stop <= length:
        return inside
    return torch.nn.functional.pad(inside, (max(0, -start), max(0, stop - max(length, start))))


def _levinson_filters(lags: torch.Tensor, rhs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares filters from the Gram system ``(G + eps I) x = d``, G block Toeplitz.

    lags (N, 2F-1, P, P), rhs (N, F, P, M) -> x (N, F, P, M) and ``trusted`` (N,) bool.
    Block Levinson (see :mod:`avsep.metrics.toeplitz`). An item is trusted when its
    solution is finite, its relative residual is below ``_RESIDUAL_TOL`` and the smallest
    pivot of the recursion is above ``_PIVOT_TOL * λ_max(R[0])`` (so ``cond(G)`` is not
    proven to exceed ``1 / _PIVOT_TOL``); the others are ill-posed and museval's answer for
    them depends on its own rounding (see :mod:`avsep.metrics.museval_filters`).
    """
    zero = lags.shape[1] // 2
    regular = lags.clone()
    regular[:, zero].diagonal(dim1=-2, dim2=-1).add_(_EPS)
    x, pivot = block_toeplitz_solve_ex(regular, rhs)
    residual = block_toeplitz_matmul(regular, x) - rhs
    scale = (regular.flatten(1).norm(dim=1) * x.flatten(1).norm(dim=1)
             + rhs.flatten(1).norm(dim=1))
    top = torch.linalg.eigvalsh(regular[:, zero])[:, -1]
    trusted = ((residual.flatten(1).norm(dim=1) <= _RESIDUAL_TOL * scale)
               & (pivot > _PIVOT_TOL * top) & torch.isfinite(x).flatten(1).all(dim=1))
    return x, trusted


def _museval_fallback(references: torch.Tensor, estimates: torch.Tensor, taps: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Filters of one item (S, C, L) pair computed exactly as museval does, as tensors."""
    full, own = museval_filters(references.transpose(-1, -2).cpu().numpy(),
                                estimates.transpose(-1, -2).cpu().numpy(), taps)
    return (torch.from_numpy(full).to(references.device),
            torch.from_numpy(own).to(references.device))


def distortion_filters(
    references: torch.Tensor, estimates: torch.Tensor, filters_len: int = FILTERS_LEN,
    workers: Workers | None = None, meanwhile: Callable[[], object] | None = None,
    on_full: Callable[[torch.Tensor], object] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Time-invariant distortion filters of BSS Eval v4, fitted on the whole signals.

    references, estimates: (B, S, C, L) float64.
    Returns ``(full, own, refitted)``: ``full`` (B, S_est, S_ref, C_in, C_out, taps) projects
    estimate ``j`` on all delayed references; ``own`` (B, S, C_in, C_out, taps) projects
    estimate ``j`` on the delayed copies of reference ``j`` only; ``refitted`` lists the items
    whose filters came from museval's own path (below).

    The Gram matrix ``G[(p, a), (q, b)] = <x_p delayed by a, x_q delayed by b>`` is
    ``r_pq[b - a]`` (block Toeplitz in the delays); the right-hand side
    ``D[(p, a), e] = <x_p delayed by a, estimate channel e> = r_pe[-a]``. Items whose
    Levinson solution is not trusted (see :func:`_levinson_filters`) are computed again by
    :func:`avsep.metrics.museval_filters.museval_filters`, museval's own dense path.

    With ``workers`` the correlations are split over the threads and the two systems (all
    references, each reference alone) are solved one after the other on one thread while
    ``meanwhile`` (optional; called once the solves are queued) queues work that does not
    need the filters on the others. ``on_full`` (optional) is called on the solving thread
    with ``full`` as soon as it is solved, before the own-source system, so that work on it
    can be queued beside that second solve (``full``'s refitted items change after it
    returns). The museval fallback runs alone, after every queued call, so that its LAPACK
    calls run as museval's do.
    """
    workers = workers or Workers(1)
    batch, sources, channels, _ = references.shape
    taps = filters_len
    basis = sources * channels
    flat_ref = references.reshape(batch, basis, -1)
    flat_est = estimates.reshape(batch, basis, -1)
    # only the references' blocks are zero-padded copies; estimates are read as windows
    corr = lagged_correlations((flat_ref, flat_est), flat_ref, taps, workers)
    # (B, P+E, P, 2F-1) -> block lags (B, 2F-1, P, P) and rhs blocks (B, F, P, E), where
    # D[(p, a), e] = r_pe[-a] = sum_n est_e[n + a] ref_p[n]: the estimates' rows at lag a
    lags = corr[:, :basis].permute(0, 3, 1, 2)
    rhs = corr[:, basis:, :, taps - 1:].permute(0, 3, 2, 1)

    def own_blocks(x: torch.Tensor) -> torch.Tensor:  # (B, lag, S*C, S*C) -> (B*S, lag, C, C)
        x = x.reshape(batch, x.shape[1], sources, channels, sources, channels)
        x = torch.diagonal(x, dim1=2, dim2=4)  # (B, lag, C, C, S)
        return x.permute(0, 4, 1, 2, 3).reshape(batch * sources, -1, channels, channels)

    def solve() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        full, full_ok = _levinson_filters(lags, rhs)  # (B, F, P, E)
        full = full.permute(0, 2, 1, 3)  # (B, P, F, E)
        full = full.reshape(batch, sources, channels, taps, sources, channels)
        full = full.permute(0, 4, 1, 2, 5, 3)  # (B, S_est, S_ref, C_in, C_out, taps)
        if on_full is not None:
            on_full(full)
        own, own_ok = _levinson_filters(own_blocks(lags), own_blocks(rhs))  # (B*S, F, C, C)
        own = own.reshape(batch, sources, taps, channels, channels).permute(0, 1, 3, 4, 2)
        return full, full_ok, own, own_ok

    # Both systems on one thread, one after the other: the own-source recursion (C x C
    # blocks) is all Python overhead, and two such loops on two threads stall each other on
    # the GIL (measured: the full solve took 2x longer beside it); ``meanwhile``'s FFTs and
    # ``on_full``'s, which release the GIL, fill the other thread instead.
    solved = workers.submit(solve)
    if meanwhile is not None:
        meanwhile()
    full, full_ok, own, own_ok = solved.result()
    trusted = full_ok & own_ok.reshape(batch, sources).all(dim=1)
    untrusted = torch.nonzero(~trusted).flatten().tolist()
    if untrusted:
        workers.drain()
    for item in untrusted:
        full[item], own[item] = _museval_fallback(references[item], estimates[item], taps)
    return full, own, untrusted


def _db(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``10 log10(num / den)`` with +inf where ``den == 0`` (museval's ``_safe_db``)."""
    ratio = 10.0 * torch.log10(num / den)
    return torch.where(den == 0, torch.full_like(ratio, math.inf), ratio)


def _parseval_weights(n_fft: int, device: torch.device) -> torch.Tensor:
    """(K,) weights with ``sum_k w_k |rfft(x)_k|² = sum_n x_n²`` (includes the 1/n_fft)."""
    weights = torch.full((n_fft // 2 + 1,), 2.0 / n_fft, dtype=torch.float64, device=device)
    weights[0] = 1.0 / n_fft
    if n_fft % 2 == 0:
        weights[-1] = 1.0 / n_fft
    return weights


def silent_frames(references: torch.Tensor, estimates: torch.Tensor, window: int | None,
                  hop: int | None, workers: Workers | None = None) -> torch.Tensor:
    """museval's silent-window rule: (B, S, C, L) pair -> bool (B, frames).

    True where any reference or any estimate, summed over channels, is all zeros (the two
    inputs are checked on two threads when ``workers`` has them).
    """
    def any_silent(x: torch.Tensor) -> torch.Tensor:
        # channels added one by one: torch's sum over a short middle axis took 1.4x as long
        mono = functools.reduce(operator.add, x.unbind(dim=2))
        framed = frame_signal(mono, window, hop)  # (B, S, T, W)
        return (~framed.any(dim=-1)).any(dim=1)

    silent_refs, silent_ests = (workers or Workers(1)).map(any_silent, (references, estimates))
    return silent_refs | silent_ests


def full_filter_spectra(full: torch.Tensor, n_fft: int, threads: int = 1) -> torch.Tensor:
    """Frequency responses of ``P``: full (B, S_est, S_ref, C_in, C_out, taps) -> (B, K, S*C, S*C).

    Row (estimate j, output channel o), column (reference i, input channel c), so that one
    batched matrix product per frequency filters the references' spectra (B, K, S*C, t). The
    filters are laid out taps first (a few hundred kB) and transformed along the taps in one
    call that writes the frequency-major result directly (``threads`` share the transforms).
    """
    batch, sources, _, channels, _, taps = full.shape
    basis = sources * channels
    layout = full.permute(0, 5, 1, 4, 2, 3)  # (B, taps, j, o, i, c)
    layout = layout.reshape(batch, taps, basis, basis)
    return kernels.rfft(layout, n_fft, dim=1, workers=threads)


def own_filter_spectra(own: torch.Tensor, n_fft: int, threads: int = 1) -> torch.Tensor:
    """Frequency responses of ``P_j``: own (B, S, C_in, C_out, taps) -> (B, K, S, C_out, C_in).

    Only the ``S`` diagonal blocks of ``P_j`` are transformed (the others are zero), as in
    :func:`full_filter_spectra`.
    """
    layout = own.permute(0, 4, 1, 3, 2).contiguous()  # (B, taps, S, C_out, C_in)
    return kernels.rfft(layout, n_fft, dim=1, workers=threads)


def _apply_own(own_f: torch.Tensor, ref_f: torch.Tensor) -> torch.Tensor:
    """``P_j`` on the references' spectra: own_f (B, K, S, C_out, C_in) and ref_f (B, K, S*C, t)
    -> (B, K, S*C, t).

    One (C, C) x (C, t) product per source and frequency (a block-diagonal (S*C)-square
    product would spend 1 - 1/S of its work on zeros).
    """
    batch, n_freq, sources, channels, _ = own_f.shape
    ref = ref_f.reshape(batch, n_freq, sources, channels, -1)  # (B, K, S, C_in, t)
    return kernels.matmul(own_f, ref).reshape(ref_f.shape)


def _energy_of(spec: torch.Tensor, weights: torch.Tensor, sources: int) -> torch.Tensor:
    """Parseval energy of one-sided spectra (B, K, S*C, t) -> (B, S, t), summed over C.

    Squares ``spec`` in place (its values are used up): the caller passes a temporary.
    """
    batch, n_freq, rows, frames = spec.shape
    power = torch.view_as_real(spec).square_().reshape(batch, n_freq, -1)
    total = (weights @ power).reshape(batch, rows, frames, 2).sum(dim=-1)
    return total.reshape(batch, sources, -1, frames).sum(dim=2)


class _Windows:
    """The evaluation windows of a (B, S, C, L) pair, cut into runs of frames for the threads.

    Per run, :meth:`signals` needs only the signals (spectra of the reference and estimate
    windows, zero-padded to ``n_fft >= window + taps - 1`` so that filtering is linear; the
    time-domain energies of SDR), so it can run while the filters are being solved;
    :meth:`scores` then applies the projection bank. Runs hold at most ``_FRAME_CHUNK_BYTES``
    of spectra each, and their number is a multiple of ``threads`` where that costs nothing.
    """

    def __init__(self, references: torch.Tensor, estimates: torch.Tensor, window: int | None,
                 hop: int | None, taps: int, threads: int) -> None:
        batch, self.sources, channels, length = references.shape
        frames, win, _ = frame_layout(length, window, hop)
        self.basis = self.sources * channels
        self.n_fft = fast_fft_length(win + taps - 1)
        self.n_freq = self.n_fft // 2 + 1
        self.weights = _parseval_weights(self.n_fft, references.device)
        self.ref_frames = frame_signal(references, window, hop)  # (B, S, C, T, W)
        self.est_frames = frame_signal(estimates, window, hop)
        most = _chunk(frames, 16 * 6 * batch * self.basis * self.n_freq, _FRAME_CHUNK_BYTES)
        rounds = -(-frames // (most * threads))
        step = -(-frames // (rounds * threads))
        self.runs = [(t0, min(frames, t0 + step)) for t0 in range(0, frames, step)]

    def _spectra(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, C, t, W) -> (B, K, S*C, t)
        spec = kernels.rfft(x, self.n_fft)
        batch = x.shape[0]
        return spec.permute(0, 4, 1, 2, 3).reshape(batch, self.n_freq, self.basis, -1).contiguous()

    def signals(self, run: tuple[int, int]) -> tuple[torch.Tensor, ...]:
        """Spectra (B, K, S*C, t) of the references and estimates, and SDR's (B, S, t) energies."""
        ref = self.ref_frames[:, :, :, run[0]:run[1]]
        est = self.est_frames[:, :, :, run[0]:run[1]]
        return (self._spectra(ref), self._spectra(est), (ref**2).sum(dim=(2, 4)),
                ((est - ref) ** 2).sum(dim=(2, 4)))

    def scores(self, full_f: torch.Tensor, own_f: torch.Tensor,
               signals: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Metrics of one run: the filters' spectra (:func:`full_filter_spectra`,
        :func:`own_filter_spectra`) and the run's signals -> (4, B, S, t)."""
        ref_f, est_f, true_energy, error_energy = signals
        p_all = kernels.matmul(full_f, ref_f)  # (B, K, S*C, t)
        p_own = _apply_own(own_f, ref_f)

        def energy(spec: torch.Tensor) -> torch.Tensor:  # uses ``spec`` up
            return _energy_of(spec, self.weights, self.sources)

        # the differences first: the filtered spectra themselves are used up last
        isr_error, sir_error, sar_error = (energy(p_own - ref_f), energy(p_all - p_own),
                                           energy(est_f - p_all))
        return torch.stack([
            _db(true_energy, error_energy),
            _db(true_energy, isr_error),
            _db(energy(p_own), sir_error),
            _db(energy(p_all), sar_error),
        ])


def bss_eval_batch(
    references: torch.Tensor, estimates: torch.Tensor, window: int | None,
    hop: int | None, filters_len: int = FILTERS_LEN, *, threads: int | None = None,
) -> dict[str, torch.Tensor]:
    """BSS Eval v4 on a batch, channels first: (B, S, C, L) float64 pair -> metrics.

    ``window``/``hop`` are in samples (``None``: the whole signal is one frame). Returns
    ``{"sdr","isr","sir","sar"}`` each (B, S, frames) float64 on the inputs' device, NaN in
    silent windows (see the module docstring). ``threads``: CPU threads (default
    :func:`avsep.metrics.workers.default_threads`, 1);
    other devices use one.
    """
    if references.ndim != 4 or references.shape != estimates.shape:
        raise ValueError("bss_eval_batch: expected two tensors of the same shape "
                         f"(batch, sources, channels, samples); got {tuple(references.shape)} "
                         f"and {tuple(estimates.shape)}")
    threads = check_threads(threads)
    threads = threads if references.device.type == "cpu" else 1
    batch, sources, _, length = references.shape
    frames = frame_layout(length, window, hop)[0]
    scores = torch.full((4, batch, sources, frames), math.nan, dtype=torch.float64,
                        device=references.device)
    with one_torch_thread(references.device), Workers(threads) as workers:
        silent = silent_frames(references, estimates, window, hop, workers)  # (B, T)
        live = torch.nonzero(~silent.all(dim=1)).flatten()
        if live.numel():
            whole = live.numel() == batch  # then no copy of the signals
            refs, ests = ((references, estimates) if whole
                          else (references[live], estimates[live]))
            windows = _Windows(refs, ests, window, hop, filters_len, threads)
            early = {}  # the first runs' signals, computed while the filters are solved
            first_runs = windows.runs[:threads * _EARLY_RUNS_PER_THREAD]

            def queue_signals(runs: Sequence[tuple[int, int]]) -> None:
                for run in runs:
                    early[run] = workers.submit(windows.signals, run)

            early_full = []  # P's spectra, transformed while the own-source system is solved

            def queue_full_spectra(full: torch.Tensor) -> None:
                # the transform goes ahead of the last early run, which the solving thread
                # takes up once its second system is solved
                early_full.append(workers.submit(full_filter_spectra, full, windows.n_fft))
                queue_signals(first_runs[-1:])

            full, own, refitted = distortion_filters(
                refs, ests, filters_len, workers, lambda: queue_signals(first_runs[:-1]),
                queue_full_spectra)
            full_f = early_full[0].result()
            for item in refitted:  # their filters changed after the early transform
                full_f[item] = full_filter_spectra(full[item:item + 1], windows.n_fft)[0]
            own_f = own_filter_spectra(own, windows.n_fft, threads)

            def run_scores(run: tuple[int, int]) -> torch.Tensor:
                signals = early[run].result() if run in early else windows.signals(run)
                return windows.scores(full_f, own_f, signals)

            scores[:, live] = torch.cat(workers.map(run_scores, windows.runs), dim=-1)
    scores = scores.masked_fill(silent[None, :, None, :], math.nan)
    return dict(zip(METRIC_NAMES, scores, strict=True))


def _museval_layout(value: ArrayLike, name: str, device: torch.device | str | None
                    ) -> torch.Tensor:
    """museval input (S, L) or (S, L, C), or a batch (B, S, L, C) -> float64 (B, S, C, L)."""
    tensor = as_real_tensor(value, name, min_ndim=2, layout=_LAYOUT)
    if tensor.ndim > 4:
        raise ValueError(f"{name}: expected {_LAYOUT} or (batch, sources, samples, channels), "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.ndim == 2:  # (S, L) mono, as museval's np.atleast_3d reads it
        tensor = tensor[..., None]
    if tensor.ndim == 3:
        tensor = tensor[None]
    if tensor.shape[-1] > tensor.shape[-2]:
        raise ValueError(f"{name}: shape {tuple(tensor.shape)} has more channels than samples; "
                         f"expected {_LAYOUT} (museval's order, samples before channels)")
    if min(tensor.shape) == 0:
        raise ValueError(f"{name}: empty input of shape {tuple(tensor.shape)}; expected {_LAYOUT}")
    check_finite(tensor, name)
    if tensor.device.type == "cpu":  # numpy's transposing copy is ~5x faster than torch's here
        channels_first = np.ascontiguousarray(tensor.numpy().swapaxes(-1, -2))
        return torch.from_numpy(channels_first).to(device or "cpu")
    return tensor.transpose(-1, -2).contiguous().to(device or tensor.device)


def bss_eval_tensors(
    references: ArrayLike, estimates: ArrayLike, sample_rate: float, window: float | None = 1.0,
    hop: float | None = 1.0, *, filters_len: int = FILTERS_LEN,
    device: torch.device | str | None = None, threads: int | None = None,
) -> dict[str, torch.Tensor]:
    """:func:`bss_eval` returning float64 tensors on ``device`` (default: the input's)."""
    threads = check_threads(threads)
    if device is None:  # the estimates follow the references (numpy ones are on the CPU)
        device = references.device if isinstance(references, torch.Tensor) else "cpu"
    with Workers(threads) as workers:  # both transposing copies at once
        refs, ests = workers.map(lambda pair: _museval_layout(*pair, device),
                                 [(references, "references"), (estimates, "estimates")])
    check_same_shape(refs, ests, ("references", "estimates"), _LAYOUT)
    if not isinstance(filters_len, int) or filters_len < 1:
        raise ValueError(f"filters_len: expected a positive int, got {filters_len!r}")
    win = window_samples(window, sample_rate, "window")
    step = window_samples(hop, sample_rate, "hop")
    if win is not None and step is None:
        raise ValueError("hop: expected seconds when window is given; None only with window=None")
    scores = bss_eval_batch(refs, ests, win, step, filters_len, threads=threads)
    squeeze = references.ndim < 4
    return {k: (v[0] if squeeze else v) for k, v in scores.items()}


def bss_eval(
    references: ArrayLike, estimates: ArrayLike, sample_rate: float, window: float | None = 1.0,
    hop: float | None = 1.0, *, filters_len: int = FILTERS_LEN,
    device: torch.device | str | None = None, threads: int | None = None,
) -> dict[str, np.ndarray]:
    """BSS Eval v4 images metrics per window, as ``museval.evaluate`` computes them.

    references, estimates: numpy arrays or tensors (sources, samples, channels) — museval's
    order — or (sources, samples) for mono, or a batch (batch, sources, samples, channels).
    ``window``/``hop`` in seconds (museval converts with ``int(seconds * sample_rate)``);
    ``window=None`` scores the whole signal as one frame. ``device`` picks where to compute
    (e.g. ``"cuda"``); by default the inputs' device. ``threads``: CPU threads to use (default
    1: everything in the caller's thread; 2 or more split the FFTs and products).

    Returns ``{"sdr","isr","sir","sar"}``, each a float64 numpy array (sources, frames)
    (with a leading batch dim for batched input); NaN marks windows where a reference or an
    estimate is silent.
    """
    scores = bss_eval_tensors(references, estimates, sample_rate, window, hop,
                              filters_len=filters_len, device=device, threads=threads)
    return {k: to_numpy(v) for k, v in scores.items()}


def aggregate_frames(scores: Mapping[str, ArrayLike] | ArrayLike, how: str = "median"
                     ) -> dict[str, np.ndarray] | np.ndarray:
    """Collapse the frame axis (last) ignoring NaN frames, as museval's ``TrackStore`` does.

    ``how``: ``"median"`` (museval's default, ``np.nanmedian``) or ``"mean"``. Accepts one
    array (..., frames) or a mapping of them; sources with only NaN frames give NaN.
    """
    reducers = {"median": np.nanmedian, "mean": np.nanmean}
    if how not in reducers:
        raise ValueError(f"how: expected one of {sorted(reducers)}, got {how!r}")
    if isinstance(scores, Mapping):
        return {k: aggregate_frames(v, how) for k, v in scores.items()}  # type: ignore[misc]
    values = to_numpy(scores) if isinstance(scores, torch.Tensor) else np.asarray(scores)
    if values.ndim < 1 or values.shape[-1] == 0:
        raise ValueError(f"scores: expected an array (..., frames) with frames > 0, "
                         f"got shape {values.shape}")
    out = np.full(values.shape[:-1], np.nan)
    has = ~np.isnan(values).all(axis=-1)
    out[has] = reducers[how](values[has], axis=-1)
    return out

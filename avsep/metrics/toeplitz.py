"""Block Levinson solver for symmetric positive definite block Toeplitz systems.

BSS Eval's Gram matrix of delayed references is exactly block Toeplitz: with the delay as the
outer index, block ``(a, b)`` is ``R[b - a]``, the (P x P) matrix of cross-correlations of the
``P`` reference channels at lag ``b - a`` (``R[-k] = R[k]^T``). A dense Cholesky of the
``P*F``-square matrix costs ``(P F)^3 / 3`` flops (2.3e10 for 4 stereo sources, F = 512);
the block Levinson recursion (Whittle / Wiggins-Robinson, with Akaike's extension to a
general right-hand side) costs about ``4 F^2 P^3`` (5e8). It is as accurate as Cholesky on
well-conditioned systems but, unlike Cholesky, not backward stable on badly conditioned ones,
so :mod:`avsep.metrics.bss_eval` checks the residual of every solution and the smallest
pivot (:func:`block_toeplitz_solve_ex`), and recomputes ill-posed items as museval does.

Recursion, for the leading ``n`` blocks ``T_n``: forward and backward predictors ``A`` and
``B`` with ``T_n A = [E_f; 0; ..]``, ``T_n B = [..; 0; E_b]``, ``A[0] = B[n-1] = I``; going
to ``n + 1``, ``Δ_f = sum_b R[b - n] A[b]``, ``Δ_b = sum_m R[m + 1] B[m]``,
``A ← [A; 0] - [0; B] E_b⁻¹ Δ_f``, ``B ← [0; B] - [A; 0] E_f⁻¹ Δ_b``, ``E_f ← E_f - Δ_b E_b⁻¹
Δ_f``, ``E_b ← E_b - Δ_f E_f⁻¹ Δ_b``; the solution ``x ← [x; 0] + B E_b⁻¹ (d[n] - sum_b R[b -
n] x[b])``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def _solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a⁻¹ b`` without raising on a singular ``a`` (the result is then inf/NaN, which the
    caller's residual check catches)."""
    return torch.linalg.solve_ex(a, b).result


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run torch's CPU ops on one thread inside the block (restored after).

    The recursion is hundreds of steps of tiny matrix ops; spreading each over OpenMP threads
    only adds synchronisation, which on a busy machine made it 40x slower. (Changes torch's
    process-wide thread count for the duration.)
    """
    if device.type != "cpu" or torch.get_num_threads() == 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def block_toeplitz_solve(lags: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solve ``T x = d`` for symmetric block Toeplitz ``T`` given by its lags.

    lags: (B, 2F-1, P, P) with ``lags[:, F-1+k] = R[k]`` for ``|k| < F`` (``R[-k] = R[k]^T``);
    rhs: (B, F, P, M) blocks ``d[a]``. Returns x (B, F, P, M) with
    ``sum_b R[b - a] x[b] = d[a]`` for every ``a``.
    """
    return block_toeplitz_solve_ex(lags, rhs)[0]


def block_toeplitz_solve_ex(lags: torch.Tensor, rhs: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`block_toeplitz_solve` plus the smallest pivot of the recursion, (B,).

    The pivots are the eigenvalues of the prediction-error matrices ``E_f``, ``E_b`` of every
    step (``R[0]`` first). Each ``E⁻¹`` is a diagonal block of ``T_n⁻¹``, so
    ``λ_min(T) <= min pivot`` and ``cond(T) >= λ_max(R[0]) / min pivot``: a small or negative
    pivot proves that ``T`` is (numerically) singular and the solution is not to be trusted.
    """
    batch, width, size, _ = lags.shape
    blocks = (width + 1) // 2
    if width != 2 * blocks - 1 or rhs.shape[1] != blocks or rhs.shape[2] != size:
        raise ValueError(f"block_toeplitz_solve: lags (B, 2F-1, P, P) and rhs (B, F, P, M) "
                         f"disagree: {tuple(lags.shape)} and {tuple(rhs.shape)}")
    with _one_cpu_thread(lags.device):
        return _levinson(lags, rhs)


def _levinson(lags: torch.Tensor, rhs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The recursion of :func:`block_toeplitz_solve_ex` (inputs already checked)."""
    batch, width, size, _ = lags.shape
    blocks = (width + 1) // 2
    zero = blocks - 1  # index of lag 0
    # Rows of lag matrices laid out (B, P, lag, P) so that a run of lags is one (P, n*P) matrix.
    rows = lags.permute(0, 2, 1, 3).contiguous()
    eye = torch.eye(size, dtype=lags.dtype, device=lags.device).expand(batch, size, size)
    fwd = torch.zeros(batch, blocks, size, size, dtype=lags.dtype, device=lags.device)
    bwd_rev = torch.zeros_like(fwd)  # backward predictor, stored last block first
    fwd[:, 0] = eye
    bwd_rev[:, 0] = eye
    err_f = lags[:, zero].clone()
    err_b = lags[:, zero].clone()
    x = torch.zeros_like(rhs)
    x[:, 0] = _solve(lags[:, zero], rhs[:, 0])
    errors = torch.empty(2 * blocks - 1, batch, size, size, dtype=lags.dtype, device=lags.device)
    errors[0] = err_f

    def run(first: int, n: int) -> torch.Tensor:  # (B, P, n*P): R[first], ..., R[first+n-1]
        return rows[:, :, zero + first: zero + first + n].reshape(batch, size, n * size)

    def stack(blocks_: torch.Tensor) -> torch.Tensor:  # (B, n, P, K) -> (B, n*P, K)
        return blocks_.reshape(batch, -1, blocks_.shape[-1])

    for n in range(1, blocks):
        left = run(-n, n)  # R[-n] .. R[-1], paired with blocks 0 .. n-1
        fwd_n = fwd[:, :n]
        bwd_n = bwd_rev[:, :n].flip(1)  # B[0] .. B[n-1]
        delta_f = left @ stack(fwd_n)
        delta_b = run(1, n) @ stack(bwd_n)  # sum_m R[m + 1] B[m]
        gain_f = _solve(err_b, delta_f)
        gain_b = _solve(err_f, delta_b)
        new_fwd = stack(fwd[:, 1:n + 1]) - stack(bwd_n) @ gain_f
        new_bwd = stack(bwd_rev[:, 1:n + 1]) - stack(fwd_n.flip(1)) @ gain_b
        fwd[:, 1:n + 1] = new_fwd.reshape(batch, n, size, size)
        bwd_rev[:, 1:n + 1] = new_bwd.reshape(batch, n, size, size)
        err_f, err_b = err_f - delta_b @ gain_f, err_b - delta_f @ gain_b
        errors[2 * n - 1], errors[2 * n] = err_f, err_b
        residual = rhs[:, n] - left @ stack(x[:, :n])
        step = _solve(err_b, residual)  # (B, P, M)
        x[:, :n + 1] += (stack(bwd_rev[:, :n + 1].flip(1)) @ step).reshape(batch, n + 1, size, -1)
    errors = 0.5 * (errors + errors.transpose(-1, -2))  # symmetric up to rounding
    finite = torch.isfinite(errors).flatten(2).all(dim=-1)  # (steps, B)
    pivots = torch.linalg.eigvalsh(torch.where(finite[..., None, None], errors, 0.0))[..., 0]
    pivots = torch.where(finite, pivots, -torch.inf)
    return x, pivots.min(dim=0).values


def block_toeplitz_matmul(lags: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``T x`` for the block Toeplitz ``T`` of :func:`block_toeplitz_solve`, by FFT.

    lags (B, 2F-1, P, P), x (B, F, P, M) -> (B, F, P, M) with ``y[a] = sum_b R[b - a] x[b]``
    (a full convolution of the reversed lag sequence with ``x`` along the block axis).
    """
    blocks = x.shape[1]
    n_fft = 1 << (3 * blocks - 2 - 1).bit_length()
    lag_f = torch.fft.rfft(lags.flip(1), n=n_fft, dim=1)
    x_f = torch.fft.rfft(x, n=n_fft, dim=1)
    full = torch.fft.irfft(lag_f @ x_f, n=n_fft, dim=1)
    return full[:, blocks - 1: 2 * blocks - 1]


def dense_block_toeplitz(lags: torch.Tensor) -> torch.Tensor:
    """The dense matrix (B, F*P, F*P), rows and columns ordered (block, channel)."""
    batch, width, size, _ = lags.shape
    blocks = (width + 1) // 2
    index = torch.arange(blocks, device=lags.device)
    dense = lags[:, index[None, :] - index[:, None] + blocks - 1]  # (B, a, b, P, Q)
    return dense.permute(0, 1, 3, 2, 4).reshape(batch, blocks * size, blocks * size)

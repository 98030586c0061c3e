"""Magnitude scales for network inputs, each with its inverse.

* :func:`log1p_magnitude` / :func:`inverse_log1p_magnitude`: ``log(1 + |X|)``.
* :func:`db_normalize` / :func:`db_denormalize`: the Solos paper's scale, "magnitude
  spectrograms in dB w.r.t. the minimum value of each spectrogram, normalised between -1
  and 1" (also the conditioned U-Net's "dB-normalised" input). Per spectrogram (last two
  axes): ``d = 20 log10(max(|X|, amin))``, optionally floored at ``max(d) - top_db``, then
  ``2 (d - min d) / (max d - min d) - 1``. The per-spectrogram range is returned so the scale
  can be undone.
* :func:`db_zscore`: dB standardised per spectrogram (zero mean, unit variance), an option.
* :class:`PerFrequencyNormalizer`: Li et al.'s normalisation "along each frequency axis":
  mean and standard deviation per frequency bin, fitted on data (in one call, or batch by
  batch with an exact streaming merge), applied as ``(x - mean_f) / std_f`` and undone by
  :meth:`~PerFrequencyNormalizer.inverse`.

Shapes: magnitudes are (..., F, N) (bins, frames) throughout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from avsep.audio._checks import describe, require_tensor

_MAG = "(..., bins, frames)"


def log1p_magnitude(mag: torch.Tensor) -> torch.Tensor:
    """``log(1 + mag)`` for non-negative magnitudes (..., F, N)."""
    require_tensor("log1p_magnitude", "mag", mag, kind="real", layout=_MAG, min_ndim=2)
    return torch.log1p(mag)


def inverse_log1p_magnitude(scaled: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`log1p_magnitude`: ``exp(scaled) - 1``."""
    require_tensor(
        "inverse_log1p_magnitude", "scaled", scaled, kind="real", layout=_MAG, min_ndim=2
    )
    return torch.expm1(scaled)


@dataclass(frozen=True)
class DbRange:
    """Per-spectrogram decibel range of :func:`db_normalize`: ``low``/``high`` (..., 1, 1)."""

    low: torch.Tensor
    high: torch.Tensor


def db_normalize(
    mag: torch.Tensor, amin: float = 1e-5, top_db: float | None = None
) -> tuple[torch.Tensor, DbRange]:
    """Solos dB scale: magnitudes (..., F, N) -> values in [-1, 1] (..., F, N) and their range.

    ``amin`` floors the magnitude before the log (librosa's default for amplitudes, so the
    range is at most ``20 log10(max / amin)`` dB); ``top_db``, off by default as in the paper,
    optionally limits the range to that many dB below each spectrogram's peak. A constant
    spectrogram maps to -1.
    """
    require_tensor("db_normalize", "mag", mag, kind="real", layout=_MAG, min_ndim=2)
    if amin <= 0 or (top_db is not None and top_db <= 0):
        raise ValueError(f"db_normalize: amin and top_db must be > 0, got {amin}, {top_db}")
    db = 20.0 * torch.log10(mag.clamp_min(amin))
    high = db.amax(dim=(-2, -1), keepdim=True)
    if top_db is not None:
        db = torch.maximum(db, high - top_db)
    low = db.amin(dim=(-2, -1), keepdim=True)
    span = (high - low).clamp_min(torch.finfo(db.dtype).tiny)
    return 2.0 * (db - low) / span - 1.0, DbRange(low=low, high=high)


def db_denormalize(scaled: torch.Tensor, db_range: DbRange) -> torch.Tensor:
    """Inverse of :func:`db_normalize`: values in [-1, 1] (..., F, N) -> magnitudes.

    Exact for magnitudes above the ``amin`` / ``top_db`` floors of the forward pass.
    """
    require_tensor("db_denormalize", "scaled", scaled, kind="real", layout=_MAG, min_ndim=2)
    if not isinstance(db_range, DbRange):
        raise TypeError(
            f"db_denormalize: db_range must be a DbRange from db_normalize, "
            f"got {type(db_range).__name__}"
        )
    db = (scaled + 1.0) / 2.0 * (db_range.high - db_range.low) + db_range.low
    return torch.pow(10.0, db / 20.0)


def db_zscore(mag: torch.Tensor, amin: float = 1e-8, eps: float = 1e-5) -> torch.Tensor:
    """Standardised decibels: ``20 log10(max(|X|, amin))`` with zero mean and unit variance
    per spectrogram (last two axes): (..., F, N) -> (..., F, N). Not a paper's scale: the
    conditioned U-Net's ``magnitude_scale="db_zscore"`` alternative to :func:`db_normalize`.
    """
    require_tensor("db_zscore", "mag", mag, kind="real", layout=_MAG, min_ndim=2)
    db = 20.0 * torch.log10(mag.clamp_min(amin))
    mean = db.mean(dim=(-2, -1), keepdim=True)
    return (db - mean) / db.std(dim=(-2, -1), keepdim=True).add(eps)


class PerFrequencyNormalizer(nn.Module):
    """Per-frequency-bin standardisation (Li et al.), fitted on data.

    Buffers ``mean`` and ``std`` have shape (F, 1), so they broadcast over (..., F, N) and
    travel with ``state_dict`` / ``.to(device)``; ``count`` is the number of frames (vectors of
    F values) they summarise. Fit once with :meth:`fit` (one tensor or an iterable of tensors
    (..., F, N)), or accumulate batch by batch with :meth:`update` (exact streaming merge of
    means and variances, Chan et al.; after one pass it equals :meth:`fit` on the same data).
    Statistics are computed in float64 over every axis except the frequency axis -2.
    """

    mean: torch.Tensor
    std: torch.Tensor
    count: torch.Tensor

    def __init__(self, n_bins: int, eps: float = 1e-8) -> None:
        super().__init__()
        if not isinstance(n_bins, int) or n_bins < 1:
            raise ValueError(
                f"PerFrequencyNormalizer: n_bins must be a positive int, got {n_bins!r}"
            )
        self.n_bins = n_bins
        self.eps = eps
        self.register_buffer("mean", torch.zeros(n_bins, 1))
        self.register_buffer("std", torch.ones(n_bins, 1))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("fitted", torch.tensor(False))

    def _check(self, fn: str, x: torch.Tensor) -> torch.Tensor:
        require_tensor(f"PerFrequencyNormalizer.{fn}", "x", x, kind="real", layout=_MAG, min_ndim=2)
        if x.shape[-2] != self.n_bins:
            raise ValueError(
                f"PerFrequencyNormalizer.{fn}: x must have {self.n_bins} bins on "
                f"axis -2, got {describe(x)}"
            )
        return x

    @staticmethod
    def batch_statistics(x: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
        """Frame count, per-bin mean (F,) and population variance (F,) of x (..., F, N), float64."""
        x = x.detach().to(torch.float64).transpose(-2, -1).reshape(-1, x.shape[-2])
        return x.shape[0], x.mean(dim=0), x.var(dim=0, unbiased=False)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> PerFrequencyNormalizer:
        """Merge the frames of ``x`` (..., F, N) into the running per-bin statistics."""
        n, mean, var = self.batch_statistics(self._check("update", x))
        if n == 0:
            return self
        old = float(self.count)
        total = old + n
        old_mean = self.mean[:, 0].to(torch.float64)
        old_var = self.std[:, 0].to(torch.float64).square() if old else torch.zeros_like(var)
        delta = mean - old_mean
        new_mean = old_mean + delta * (n / total)
        new_var = (old * old_var + n * var + delta.square() * (old * n / total)) / total
        self.mean.copy_(new_mean.unsqueeze(-1).to(self.mean.dtype))
        self.std.copy_(new_var.clamp_min(0.0).sqrt().clamp_min(self.eps).unsqueeze(-1)
                       .to(self.std.dtype))
        self.count.fill_(total)
        self.fitted.fill_(True)
        return self

    @torch.no_grad()
    def fit(self, data: torch.Tensor | Iterable[torch.Tensor]) -> PerFrequencyNormalizer:
        """Set ``mean``/``std`` per bin from ``data`` (a tensor or an iterable of tensors)."""
        batches = [data] if isinstance(data, torch.Tensor) else data
        count = 0
        total = torch.zeros(self.n_bins, dtype=torch.float64)
        squares = torch.zeros(self.n_bins, dtype=torch.float64)
        for batch in batches:
            x = self._check("fit", batch).detach().to("cpu", torch.float64)
            x = x.transpose(-2, -1).reshape(-1, self.n_bins)  # (samples, F)
            count += x.shape[0]
            total += x.sum(dim=0)
            squares += x.square().sum(dim=0)
        if count == 0:
            raise ValueError("PerFrequencyNormalizer.fit: no data given")
        mean = total / count
        var = (squares / count - mean.square()).clamp_min(0.0)
        self.mean.copy_(mean.unsqueeze(-1).to(self.mean.dtype))
        self.std.copy_(var.sqrt().clamp_min(self.eps).unsqueeze(-1).to(self.std.dtype))
        self.count.fill_(count)
        self.fitted.fill_(True)
        return self

    def _require_fitted(self, fn: str) -> None:
        if not bool(self.fitted):
            raise RuntimeError(f"PerFrequencyNormalizer.{fn}: call fit(...) first")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise (..., F, N) -> (..., F, N): zero mean, unit std per bin on the fit data."""
        self._check("forward", x)
        self._require_fitted("forward")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`forward`: (..., F, N) -> (..., F, N)."""
        self._check("inverse", y)
        self._require_fitted("inverse")
        return y * self.std.to(y.dtype) + self.mean.to(y.dtype)

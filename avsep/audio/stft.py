"""Short-time Fourier transform settings and transforms for any batch shape.

The audio helper owns this module; the signatures below are the contract other packages use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class STFTConfig:
    """STFT settings of one paper: sample rate, FFT size, hop and window length (samples)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int | None = None
    window: str = "hann"
    center: bool = True

    @property
    def n_bins(self) -> int:
        """Number of non-negative frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a signal of ``num_samples`` samples (with ``center=True``)."""
        if self.center:
            return num_samples // self.hop_length + 1
        return (num_samples - self.n_fft) // self.hop_length + 1


def _window(config: STFTConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    length = config.win_length or config.n_fft
    if config.window != "hann":
        raise ValueError(f"unknown window {config.window!r}; expected 'hann'")
    return torch.hann_window(length, device=device, dtype=dtype)


def stft(waveform: torch.Tensor, config: STFTConfig) -> torch.Tensor:
    """Complex STFT of ``waveform`` (..., samples) -> (..., bins, frames)."""
    if not isinstance(waveform, torch.Tensor) or waveform.is_complex() or waveform.ndim < 1:
        raise TypeError("stft expects a real tensor of shape (..., samples)")
    lead = waveform.shape[:-1]
    flat = waveform.reshape(-1, waveform.shape[-1])
    spec = torch.stft(
        flat,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length or config.n_fft,
        window=_window(config, waveform.device, waveform.dtype),
        center=config.center,
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, config: STFTConfig, length: int | None = None) -> torch.Tensor:
    """Inverse of :func:`stft`: complex (..., bins, frames) -> real (..., samples)."""
    if not isinstance(spec, torch.Tensor) or not spec.is_complex() or spec.ndim < 2:
        raise TypeError("istft expects a complex tensor of shape (..., bins, frames)")
    lead = spec.shape[:-2]
    flat = spec.reshape(-1, *spec.shape[-2:])
    wave = torch.istft(
        flat,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length or config.n_fft,
        window=_window(config, spec.device, spec.real.dtype),
        center=config.center,
        length=length,
    )
    return wave.reshape(*lead, wave.shape[-1])

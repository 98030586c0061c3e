"""Short-time Fourier transform settings and transforms for any batch shape.

The transforms are ``torchaudio.functional.spectrogram`` / ``inverse_spectrogram`` (complex
output, no normalisation) with a cached Hann window, so they run on CPU or GPU, in float32 or
float64, with autograd. The signatures below are the contract other packages use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from avsep.audio._checks import describe, require_positive_int, require_tensor


@dataclass(frozen=True)
class STFTConfig:
    """STFT settings of one paper: sample rate, FFT size, hop and window length (samples)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int | None = None
    window: str = "hann"
    center: bool = True

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length"):
            require_positive_int("STFTConfig", name, getattr(self, name))
        if self.win_length is not None:
            require_positive_int("STFTConfig", "win_length", self.win_length)
            if self.win_length > self.n_fft:
                raise ValueError(
                    f"STFTConfig: win_length must be <= n_fft ({self.n_fft}), got {self.win_length}"
                )
        if self.window != "hann":
            raise ValueError(f"STFTConfig: unknown window {self.window!r}; expected 'hann'")

    @property
    def window_length(self) -> int:
        """Window length in samples (``win_length`` or ``n_fft``)."""
        return self.win_length or self.n_fft

    @property
    def n_bins(self) -> int:
        """Number of non-negative frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a signal of ``num_samples`` samples."""
        if self.center:
            return num_samples // self.hop_length + 1
        return (num_samples - self.n_fft) // self.hop_length + 1


@lru_cache(maxsize=32)
def _cached_window(length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # made outside inference mode even when first asked for inside it (serving): an inference
    # tensor in the cache would break every later autograd use in the process (training)
    with torch.inference_mode(False):
        return torch.hann_window(length, periodic=True, device=device, dtype=dtype)


def window(config: STFTConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The analysis/synthesis window (win_length,) of ``config`` (periodic Hann)."""
    return _cached_window(config.window_length, torch.device(device), dtype)


def _require_config(fn: str, config: object) -> STFTConfig:
    if not isinstance(config, STFTConfig):
        raise TypeError(f"{fn}: config must be an STFTConfig, got {type(config).__name__}")
    return config


def stft(waveform: torch.Tensor, config: STFTConfig) -> torch.Tensor:
    """Complex STFT of ``waveform`` (..., samples) -> (..., bins, frames).

    ``bins = config.n_bins``, ``frames = config.num_frames(samples)``; float32 input gives
    complex64, float64 gives complex128.
    """
    import torchaudio.functional as AF

    config = _require_config("stft", config)
    require_tensor("stft", "waveform", waveform, kind="real", layout="(..., samples)", min_ndim=1)
    samples = waveform.shape[-1]
    shortest = config.n_fft // 2 + 1 if config.center else config.n_fft
    if samples < shortest:
        raise ValueError(
            f"stft: waveform must have at least {shortest} samples for n_fft={config.n_fft} "
            f"(center={config.center}), got {describe(waveform)}"
        )
    return AF.spectrogram(
        waveform,
        pad=0,
        window=window(config, waveform.device, waveform.dtype),
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.window_length,
        power=None,
        normalized=False,
        center=config.center,
    )


def istft(spec: torch.Tensor, config: STFTConfig, length: int | None = None) -> torch.Tensor:
    """Inverse of :func:`stft`: complex (..., bins, frames) -> real (..., samples).

    ``length`` trims or zero-pads the output to that many samples (recommended: the length of
    the signal that was transformed). With ``center=False`` samples that no window covers
    with a non-zero weight (the very first one) come back as 0.
    """
    import torchaudio.functional as AF

    config = _require_config("istft", config)
    require_tensor("istft", "spec", spec, kind="complex", layout="(..., bins, frames)", min_ndim=2)
    if spec.shape[-2] != config.n_bins:
        raise ValueError(
            f"istft: spec must have {config.n_bins} bins (n_fft={config.n_fft}) on axis -2, "
            f"got {describe(spec)}"
        )
    if length is not None:
        require_positive_int("istft", "length", length)
    real_dtype = spec.real.dtype
    if not config.center:
        return _overlap_add(spec, config, length)
    return AF.inverse_spectrogram(
        spec,
        length=length,
        pad=0,
        window=window(config, spec.device, real_dtype),
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.window_length,
        normalized=False,
        center=config.center,
    )


def _overlap_add(spec: torch.Tensor, config: STFTConfig, length: int | None) -> torch.Tensor:
    """Least-squares inverse for ``center=False``: complex (..., F, N) -> real (..., L).

    ``torch.istft`` refuses uncentred frames when the window starts at 0 (its NOLA check sees
    a zero envelope at sample 0), so the windowed overlap-add is done here with ``fold`` and
    divided by the squared-window envelope wherever that envelope is non-zero.
    """
    lead, frames = spec.shape[:-2], spec.shape[-1]
    n_fft, hop = config.n_fft, config.hop_length
    real_dtype = spec.real.dtype
    win = window(config, spec.device, real_dtype)
    offset = (n_fft - win.shape[0]) // 2
    win = torch.nn.functional.pad(win, (offset, n_fft - win.shape[0] - offset))
    chunks = torch.fft.irfft(spec.reshape(-1, *spec.shape[-2:]), n=n_fft, dim=-2)
    chunks = chunks * win[:, None]  # (B, n_fft, N)
    total = n_fft + hop * (frames - 1)

    def fold(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.fold(
            x, output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop)
        ).reshape(x.shape[0], total)

    signal = fold(chunks)
    envelope = fold(win.square()[None, :, None].expand(1, n_fft, frames))[0]
    nonzero = envelope > torch.finfo(real_dtype).tiny ** 0.5
    signal = torch.where(nonzero, signal / torch.where(nonzero, envelope, 1.0), 0.0)
    if length is not None:
        signal = torch.nn.functional.pad(signal[:, :length], (0, max(0, length - total)))
    return signal.reshape(*lead, signal.shape[-1])

"""Log-mel spectrograms for the VocaLiST and VAD-CNN front ends (torchaudio filterbanks).

``log_mel_spectrogram(waveform (..., samples), config) -> (..., n_mels, frames)`` with
``frames = config.stft.num_frames(samples)``; see :mod:`avsep.audio.presets` for the presets.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from avsep.audio._checks import require_tensor
from avsep.audio.presets import MelConfig, get_mel_preset
from avsep.audio.stft import stft


@lru_cache(maxsize=16)
def _filterbank(config: MelConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    import torchaudio.functional as AF

    fb = AF.melscale_fbanks(
        n_freqs=config.stft.n_bins,
        f_min=config.f_min,
        f_max=config.upper_frequency,
        n_mels=config.n_mels,
        sample_rate=config.stft.sample_rate,
        norm=config.norm,
        mel_scale=config.mel_scale,
    )
    return fb.T.contiguous().to(device=device, dtype=dtype)  # (n_mels, bins)


def mel_filterbank(
    config: MelConfig, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Triangular mel filters (n_mels, bins) of ``config``."""
    return _filterbank(config, torch.device(device), dtype)


def mel_spectrogram(waveform: torch.Tensor, config: MelConfig | str) -> torch.Tensor:
    """Mel spectrogram (..., n_mels, frames) of ``waveform`` (..., samples), before any log."""
    if isinstance(config, str):
        config = get_mel_preset(config)
    if not isinstance(config, MelConfig):
        raise TypeError(
            f"mel_spectrogram: config must be a MelConfig or preset name, "
            f"got {type(config).__name__}"
        )
    require_tensor(
        "mel_spectrogram", "waveform", waveform, kind="real", layout="(..., samples)", min_ndim=1
    )
    if config.preemphasis:
        import torchaudio.functional as AF

        waveform = AF.preemphasis(waveform, coeff=config.preemphasis)
    mag = stft(waveform, config.stft).abs()
    if config.power != 1.0:
        mag = mag.pow(config.power)
    return torch.matmul(mel_filterbank(config, waveform.device, waveform.dtype), mag)


def log_mel_spectrogram(waveform: torch.Tensor, config: MelConfig | str) -> torch.Tensor:
    """Log-scaled mel spectrogram (..., n_mels, frames) as the front end ``config`` defines.

    ``"wav2lip_db"``: values in [-max_abs, max_abs]; ``"log"``: ``log(max(mel, floor))``.
    """
    if isinstance(config, str):
        config = get_mel_preset(config)
    mel = mel_spectrogram(waveform, config)
    if config.log == "log":
        return mel.clamp_min(config.floor).log()
    db = 20.0 * torch.log10(mel.clamp_min(config.floor)) - config.ref_db
    unit = ((db - config.min_db) / -config.min_db).clamp(0.0, 1.0)
    return (2.0 * unit - 1.0) * config.max_abs

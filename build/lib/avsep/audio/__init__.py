"""Audio DSP: STFT, paper presets, mel front ends, magnitude scales, log-frequency warp,
masks and multichannel Wiener EM.

Shapes follow docs/contracts.md: waveforms (..., L), spectrograms (..., F, N), masks
(..., S, C, F, N), Wiener filtering in norbert's order (..., N, F, C, S).
"""

from avsep.audio.logfreq import (
    SOP_LOG_BINS,
    LogFrequencyWarp,
    log_unwarp,
    log_unwarp_matrix,
    log_warp,
    log_warp_matrix,
)
from avsep.audio.masks import (
    apply_mask,
    bounded_complex_mask,
    ideal_binary_mask,
    ideal_ratio_mask,
    unbound_complex_mask,
)
from avsep.audio.mel import log_mel_spectrogram, mel_filterbank, mel_spectrogram
from avsep.audio.presets import (
    MEL_PRESETS,
    STFT_PRESETS,
    YNET_MASK_BOUND,
    MelConfig,
    get_mel_preset,
    get_stft_preset,
)
from avsep.audio.scales import (
    DbRange,
    PerFrequencyNormalizer,
    db_denormalize,
    db_normalize,
    inverse_log1p_magnitude,
    log1p_magnitude,
)
from avsep.audio.stft import STFTConfig, istft, stft
from avsep.audio.wiener import wiener

__all__ = [
    "MEL_PRESETS",
    "SOP_LOG_BINS",
    "STFT_PRESETS",
    "YNET_MASK_BOUND",
    "DbRange",
    "LogFrequencyWarp",
    "MelConfig",
    "PerFrequencyNormalizer",
    "STFTConfig",
    "apply_mask",
    "bounded_complex_mask",
    "db_denormalize",
    "db_normalize",
    "get_mel_preset",
    "get_stft_preset",
    "ideal_binary_mask",
    "ideal_ratio_mask",
    "inverse_log1p_magnitude",
    "istft",
    "log1p_magnitude",
    "log_mel_spectrogram",
    "log_unwarp",
    "log_unwarp_matrix",
    "log_warp",
    "log_warp_matrix",
    "mel_filterbank",
    "mel_spectrogram",
    "stft",
    "unbound_complex_mask",
    "wiener",
]

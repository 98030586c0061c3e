"""Audio DSP: STFT, magnitude scales, log-frequency warp, masks, Wiener EM."""

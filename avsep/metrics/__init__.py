"""Separation metrics: BSS Eval v4, SI-SDR, SD-SDR, PES/EPS, GNSDR, oracles."""

"""Validation examples as files: log-magnitude spectrogram PNGs and WAVs of the estimates.

For the first ``count`` items of the fixed validation set: ``example<i>.png`` (rows: the
mixture, then per source the reference beside the estimate) and ``example<i>_mixture.wav``,
``example<i>_<source>_estimate.wav``, ``example<i>_<source>_reference.wav`` (float WAV at the
model's sample rate, first channel). Matplotlib runs on the Agg backend (no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from avsep.audio.stft import stft
from avsep.platform.validation import to_device


def _log_magnitude(wave: torch.Tensor, model: Any) -> np.ndarray:
    """(L,) waveform -> (F, N) dB magnitude of its STFT."""
    spec = stft(wave.float().cpu(), model.spec.stft).abs()
    return (20 * torch.log10(spec + 1e-6)).numpy()


def _figure(path: Path, rows: list[tuple[str, torch.Tensor | None, torch.Tensor | None]],
            model: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 2.2 * len(rows)), squeeze=False)
    for (title, left, right), pair in zip(rows, axes, strict=True):
        for ax, wave, label in ((pair[0], left, "reference"), (pair[1], right, "estimate")):
            if wave is None:
                ax.axis("off")
                continue
            ax.imshow(_log_magnitude(wave, model), origin="lower", aspect="auto",
                      cmap="magma", vmin=-80, vmax=20)
            ax.set_title(f"{title} — {label}" if title != "mixture" else "mixture", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@torch.no_grad()
def write_examples(model: Any, dataset: Any, device: torch.device, wiener_iterations: int,
                   out_dir: Path, count: int) -> list[Path]:
    """Write PNG + WAV files for ``count`` validation items into ``out_dir``; returns paths."""
    import soundfile as sf

    if getattr(model, "task", "separation") != "separation" or count <= 0:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    rate = model.spec.stft.sample_rate
    names = list(getattr(model, "source_names", ())) or None
    written: list[Path] = []
    model.eval()
    for i in range(min(count, len(dataset))):
        item = dataset[i]
        batch = to_device({k: v.unsqueeze(0) for k, v in item.items()
                           if isinstance(v, torch.Tensor)}, device)
        estimates = model.separate(batch, wiener_iterations=wiener_iterations)[0].float().cpu()
        mixture = batch["mixture"][0, 0].float().cpu()
        references = batch["sources"][0].float().cpu()
        rows: list[tuple[str, torch.Tensor | None, torch.Tensor | None]] = [
            ("mixture", mixture, None)]
        files = {f"example{i}_mixture.wav": mixture}
        for s in range(estimates.shape[0]):
            name = names[s] if names and s < len(names) else f"source{s}"
            rows.append((name, references[s, 0] if s < references.shape[0] else None,
                         estimates[s, 0]))
            files[f"example{i}_{name}_estimate.wav"] = estimates[s, 0]
            if s < references.shape[0]:
                files[f"example{i}_{name}_reference.wav"] = references[s, 0]
        for filename, wave in files.items():
            sf.write(out_dir / filename, wave.numpy(), rate, subtype="FLOAT")
            written.append(out_dir / filename)
        png = out_dir / f"example{i}.png"
        _figure(png, rows, model)
        written.append(png)
    model.train()
    return written

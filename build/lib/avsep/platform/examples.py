"""Validation examples as files: log-magnitude spectrogram PNGs and WAVs of the estimates.

For the first ``count`` items of the fixed validation set: ``example<i>.png`` (rows: the
mixture, then per source present in the item the reference beside the estimate; the silent
slots of absent sources, which validation does not score, are not drawn; time in s, frequency
in Hz, one colour bar in dB, each estimate titled with its SI-SDR and the mixture's) and
``example<i>_mixture.wav``, ``example<i>_<source>_estimate.wav``,
``example<i>_<source>_reference.wav`` (float WAV at the model's sample rate, first channel).
Matplotlib runs on the Agg backend (no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from avsep.audio.stft import stft
from avsep.platform.validation import SILENT_ENERGY, si_sdr, to_device

#: colour range of the spectrograms (dB of the STFT magnitude)
DB_RANGE = (-80.0, 20.0)

Row = tuple[str, torch.Tensor | None, torch.Tensor | None]


def _log_magnitude(wave: torch.Tensor, model: Any) -> np.ndarray:
    """(L,) waveform -> (F, N) dB magnitude of its STFT."""
    spec = stft(wave.float().cpu(), model.spec.stft).abs()
    return (20 * torch.log10(spec + 1e-6)).numpy()


def score(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """SI-SDR (dB) of ``estimate`` against ``reference``, both (L,): the metric of
    ``val/sdr`` (:func:`avsep.platform.validation.si_sdr`)."""
    return float(si_sdr(reference.float(), estimate.float()))


def example_figure(rows: list[Row], model: Any) -> Any:
    """Spectrograms of one validation item: a row per ``(title, reference, estimate)`` (the
    mixture's row first, its estimate None). Every panel has a time axis (s) and a frequency
    axis (Hz); one colour bar (dB) serves all; a source's estimate is titled with its SI-SDR
    and the mixture's SI-SDR against the same reference (the baseline it must beat)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rate = model.spec.stft.sample_rate
    mixture = rows[0][1]
    height = 2.4 * len(rows)
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, height), squeeze=False)
    # fixed margins (in inches) instead of matplotlib's constrained layout, which doubled the
    # figure's time (a 3-row figure: 1.2 s against 0.6 s), paid per example at every epoch
    # that improves, in every trial
    fig.subplots_adjust(left=0.07, right=0.88, bottom=0.5 / height, top=1 - 0.3 / height,
                        hspace=0.55, wspace=0.22)
    image = None
    for (title, left, right), pair in zip(rows, axes, strict=True):
        for ax, wave, label in ((pair[0], left, "reference"), (pair[1], right, "estimate")):
            if wave is None:
                ax.axis("off")
                continue
            image = ax.imshow(_log_magnitude(wave, model), origin="lower", aspect="auto",
                              cmap="magma", vmin=DB_RANGE[0], vmax=DB_RANGE[1],
                              extent=(0.0, wave.shape[-1] / rate, 0.0, rate / 2))
            ax.set_xlabel("time (s)", fontsize=7)
            ax.set_ylabel("frequency (Hz)", fontsize=7)
            ax.tick_params(labelsize=6)
            if title == "mixture":
                ax.set_title("mixture", fontsize=8)
            elif label == "estimate" and left is not None and mixture is not None:
                ax.set_title(f"{title} estimate: SI-SDR {score(left, wave):.1f} dB (mixture "
                             f"{score(left, mixture):.1f} dB)", fontsize=8)
            else:
                ax.set_title(f"{title} {label}", fontsize=8)
    if image is not None:
        bar = fig.add_axes((0.91, 0.15, 0.015, 0.7))
        fig.colorbar(image, cax=bar, label="magnitude (dB)")
    return fig


def _name(names: list[str] | None, slot: int) -> str:
    return names[slot] if names and slot < len(names) else f"source{slot}"


def example_rows(mixture: torch.Tensor, references: torch.Tensor, estimates: torch.Tensor,
                 names: list[str] | None) -> list[Row]:
    """The figure's rows for mixture (L,), references (S_ref, C, L) and estimates (S, C, L),
    first channel: the mixture, then each source whose reference is not silent (validation's
    :data:`~avsep.platform.validation.SILENT_ENERGY`: a 13-instrument model's absent slots are
    left out) or that has no reference."""
    rows: list[Row] = [("mixture", mixture, None)]
    for s in range(estimates.shape[0]):
        reference = references[s, 0] if s < references.shape[0] else None
        if reference is None or float(reference.pow(2).mean()) > SILENT_ENERGY:
            rows.append((_name(names, s), reference, estimates[s, 0]))
    return rows


def _figure(path: Path, rows: list[Row], model: Any) -> None:
    import matplotlib.pyplot as plt

    fig = example_figure(rows, model)
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
        files = {f"example{i}_mixture.wav": mixture}
        for s in range(estimates.shape[0]):
            name = _name(names, s)
            files[f"example{i}_{name}_estimate.wav"] = estimates[s, 0]
            if s < references.shape[0]:
                files[f"example{i}_{name}_reference.wav"] = references[s, 0]
        for filename, wave in files.items():
            sf.write(out_dir / filename, wave.numpy(), rate, subtype="FLOAT")
            written.append(out_dir / filename)
        png = out_dir / f"example{i}.png"
        _figure(png, example_rows(mixture, references, estimates, names), model)
        written.append(png)
    model.train()
    return written

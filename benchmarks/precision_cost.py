"""What bf16 costs in separation quality: SI-SDR of fp32 against bf16 serving on the corpus.

For each registered model (default: the quick start's ``@champion`` and ``@champion-audio`` in
``$AVSEP_HOME``) and each song of the synthetic corpus (default: ``$AVSEP_HOME/corpus/singing``,
every split; the held-out ones flagged), the song's mixture (and its video with the boxes
sidecar, for an audio-visual model) goes through :class:`avsep.serve.engine.Separator` twice,
``precision="fp32"`` and ``precision="bf16"`` (torch backend both times, so only the precision
differs), and each stem is scored by SI-SDR against the song's reference stem. It prints the
per-song figures, the largest and the mean bf16 - fp32 difference, and saves them to
``benchmarks/results/<out>.json``.

    .venv/bin/python benchmarks/precision_cost.py [--models models:/avsep-av_singing@champion,...]
        [--tracking-uri sqlite:///.../mlflow.db] [--corpus .../corpus/singing]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from _common import save

SPLITS = ("train", "val", "test")


def songs(corpus: Path) -> list[tuple[str, Path]]:
    """(split, song folder) of every song with a mixture.wav, splits in :data:`SPLITS` order."""
    found = [(split, folder) for split in SPLITS if (corpus / split).is_dir()
             for folder in sorted((corpus / split).iterdir()) if (folder / "mixture.wav").is_file()]
    if not found:
        raise SystemExit(f"no songs under {corpus}/{{{','.join(SPLITS)}}}: run the quick start "
                         "(bash scripts/quickstart.sh) or pass --corpus")
    return found


def score(separator, folder: Path) -> dict[str, float]:
    """SI-SDR (dB) of each stem of ``folder``'s mixture against its reference (mono mean)."""
    from avsep.data.preprocess import read_sidecar, sidecar_path
    from avsep.data.video import open_video
    from avsep.metrics.sdr import si_sdr
    from avsep.serve.engine import Request, VideoInput

    mixture, rate = sf.read(folder / "mixture.wav", dtype="float32", always_2d=True)
    videos = []
    if separator.needs_video:
        video = folder / "video.mp4"
        videos = [VideoInput(open_video(video), read_sidecar(sidecar_path(video)))]
    stems = separator.separate(Request(audio=mixture.T, rate=rate, videos=videos))
    out = {}
    for name, estimate in stems.items():
        reference = folder / f"{name}.wav"
        if reference.is_file():
            truth, _ = sf.read(reference, dtype="float32", always_2d=True)
            out[name] = float(si_sdr(truth.mean(1), estimate.mean(0)[:len(truth)]))
    return out


def main() -> None:
    home = Path(os.environ.get("AVSEP_HOME", "avsep_runs")).resolve()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models:/avsep-av_singing@champion,"
                                            "models:/avsep-av_singing@champion-audio")
    parser.add_argument("--tracking-uri", default=f"sqlite:///{home / 'mlflow.db'}")
    parser.add_argument("--corpus", type=Path, default=home / "corpus" / "singing")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    parser.add_argument("--out", default="precision_cost")
    args = parser.parse_args()

    import torch

    from avsep.serve.engine import Separator, cpu_supports_bf16

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    figures: dict = {"corpus": str(args.corpus), "cpu_bf16": cpu_supports_bf16(), "models": {}}
    for uri in args.models.split(","):
        runs = {p: Separator.from_uri(uri, tracking_uri=args.tracking_uri, precision=p,
                                      backend="torch") for p in ("fp32", "bf16")}
        rows = []
        for split, folder in songs(args.corpus):
            fp32, bf16 = (score(runs[p], folder) for p in ("fp32", "bf16"))
            row = {"song": folder.name, "split": split, "fp32": fp32, "bf16": bf16,
                   "bf16_minus_fp32": {k: bf16[k] - fp32[k] for k in fp32}}
            rows.append(row)
            print(f"{uri} {split:5s} {folder.name}: " + ", ".join(
                f"{k} fp32 {fp32[k]:.3f} bf16 {bf16[k]:.3f} dB" for k in fp32), flush=True)
        gaps = np.array([v for r in rows for v in r["bf16_minus_fp32"].values()])
        summary = {"songs": len(rows), "largest_loss_db": float(max(0.0, -gaps.min())),
                   "largest_abs_change_db": float(np.abs(gaps).max()),
                   "mean_change_db": float(gaps.mean())}
        print(f"{uri}: bf16 - fp32 SI-SDR over {len(rows)} songs x stems: mean "
              f"{summary['mean_change_db']:+.4f} dB, largest loss {summary['largest_loss_db']:.4f}"
              f" dB, largest change {summary['largest_abs_change_db']:.4f} dB", flush=True)
        figures["models"][uri] = {"rows": rows, "summary": summary,
                                  "model": runs["fp32"].info()["model"]}
    figures["loadavg"] = os.getloadavg()
    save(args.out, figures)


if __name__ == "__main__":
    main()

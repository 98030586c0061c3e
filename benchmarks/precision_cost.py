"""What bf16 costs in separation quality: SI-SDR of fp32 against bf16 serving on the corpus.

For each registered model (default: the quick start's ``@champion`` and ``@champion-audio`` in
``$AVSEP_HOME``) and each song of the synthetic corpus (default: ``$AVSEP_HOME/corpus/singing``,
every split; the held-out ones flagged), the song's mixture (and its video with the boxes
sidecar, for an audio-visual model) goes through :class:`avsep.serve.engine.Separator` once per
engine of ``--engines`` (``backend:precision``; default torch fp32, torch bf16 and OpenVINO
bf16), and each stem is scored by SI-SDR against the song's reference stem. It prints the
per-song figures and, for every engine against the first (fp32) and OpenVINO bf16 against
torch bf16 (the issue-#21 rule for a faster path: SI-SDR change <= 0.01 dB on the quick start's
test song), the largest and the mean SI-SDR difference and the largest sample difference, and
saves them to ``benchmarks/results/<out>.json``.

    .venv/bin/python benchmarks/precision_cost.py [--models models:/avsep-av_singing@champion,...]
        [--tracking-uri sqlite:///.../mlflow.db] [--corpus .../corpus/singing]
        [--engines torch:fp32,torch:bf16,openvino:bf16]
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


def separate(separator, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """``folder``'s mixture separated: its stems {name: (C, L)} and the SI-SDR (dB) of each stem
    that has a reference (mono mean)."""
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
    scores = {}
    for name, estimate in stems.items():
        reference = folder / f"{name}.wav"
        if reference.is_file():
            truth, _ = sf.read(reference, dtype="float32", always_2d=True)
            scores[name] = float(si_sdr(truth.mean(1), estimate.mean(0)[:len(truth)]))
    return stems, scores


def comparisons(engines: list[str]) -> list[tuple[str, str]]:
    """(engine, baseline) pairs: every engine against the first, and OpenVINO bf16 against
    torch bf16 when both run."""
    pairs = [(engine, engines[0]) for engine in engines[1:]]
    if {"openvino:bf16", "torch:bf16"} <= set(engines):
        pairs.append(("openvino:bf16", "torch:bf16"))
    return pairs


def main() -> None:
    home = Path(os.environ.get("AVSEP_HOME", "avsep_runs")).resolve()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models:/avsep-av_singing@champion,"
                                            "models:/avsep-av_singing@champion-audio")
    parser.add_argument("--tracking-uri", default=f"sqlite:///{home / 'mlflow.db'}")
    parser.add_argument("--corpus", type=Path, default=home / "corpus" / "singing")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    parser.add_argument("--engines", default="torch:fp32,torch:bf16,openvino:bf16",
                        help="backend:precision runs, comma-separated; the first is the "
                             "baseline (default %(default)s)")
    parser.add_argument("--out", default="precision_cost")
    args = parser.parse_args()

    import torch

    from avsep.serve.engine import Separator, cpu_supports_bf16

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    pairs = comparisons(engines)
    figures: dict = {"corpus": str(args.corpus), "cpu_bf16": cpu_supports_bf16(),
                     "engines": engines, "models": {}}
    for uri in args.models.split(","):
        runs = {}
        for engine in engines:
            backend, precision = engine.split(":")
            runs[engine] = Separator.from_uri(uri, tracking_uri=args.tracking_uri,
                                              precision=precision, backend=backend)
        rows = []
        for split, folder in songs(args.corpus):
            out = {engine: separate(runs[engine], folder) for engine in engines}
            row = {"song": folder.name, "split": split,
                   "si_sdr": {engine: scores for engine, (_, scores) in out.items()},
                   "change": {}, "largest_sample_difference": {}}
            for engine, base in pairs:
                key = f"{engine} - {base}"
                row["change"][key] = {k: out[engine][1][k] - out[base][1][k]
                                      for k in out[base][1]}
                row["largest_sample_difference"][key] = max(
                    float(np.abs(out[engine][0][k] - out[base][0][k]).max())
                    for k in out[base][0])
            rows.append(row)
            print(f"{uri} {split:5s} {folder.name}: " + "; ".join(
                f"{engine} " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
                for engine, (_, scores) in out.items()) + " dB", flush=True)
        summary = {}
        for engine, base in pairs:
            key = f"{engine} - {base}"
            gaps = np.array([v for r in rows for v in r["change"][key].values()])
            test = [v for r in rows if r["split"] == "test" for v in r["change"][key].values()]
            summary[key] = {
                "songs": len(rows), "largest_loss_db": float(max(0.0, -gaps.min())),
                "largest_abs_change_db": float(np.abs(gaps).max()),
                "mean_change_db": float(gaps.mean()),
                "test_song_largest_abs_change_db": float(np.abs(test).max()) if test else None,
                "largest_sample_difference": max(r["largest_sample_difference"][key]
                                                 for r in rows)}
            print(f"{uri}: {key} SI-SDR over {len(rows)} songs x stems: mean "
                  f"{summary[key]['mean_change_db']:+.4f} dB, largest loss "
                  f"{summary[key]['largest_loss_db']:.4f} dB, largest change "
                  f"{summary[key]['largest_abs_change_db']:.4f} dB (test song "
                  f"{summary[key]['test_song_largest_abs_change_db']}), largest sample "
                  f"difference {summary[key]['largest_sample_difference']:.2e}", flush=True)
        figures["models"][uri] = {"rows": rows, "summary": summary,
                                  "model": runs[engines[0]].info()["model"]}
    figures["loadavg"] = os.getloadavg()
    save(args.out, figures)


if __name__ == "__main__":
    main()

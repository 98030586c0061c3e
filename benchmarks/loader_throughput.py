"""Samples per second of each mixing dataset from the prepared cache, with 0, 1 and 2 workers.

Builds one synthetic cache per dataset at the paper settings (``avsep.data.datasets.
synthetic_cache``), or reads a real ``avsep prepare`` output with ``--cache`` (then every kind
uses that cache with its sample rate and crop). Each figure is the steady-state rate of a
``DataLoader`` (batch 8, shuffled indices, default collate) after the first batch, which is
reported separately as the start-up time; torch runs one thread per process so that "per core"
means one CPU core. Beside each figure, the "DataLoader ceiling" is the rate of the same loader
over items of the same tensors that cost nothing to make: with workers, moving large items
through shared memory bounds the rate whatever the dataset does. Goal from issue 3: the
singing-voice AV loader >= 200 samples/s per core.

    .venv/bin/python benchmarks/loader_throughput.py [--cache DIR] [--seconds 3] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402  (torch before anything that may pull decord, see issue 3)
from _common import save  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from avsep.audio.stft import STFTConfig  # noqa: E402
from avsep.data.datasets import make_dataset  # noqa: E402
from avsep.data.datasets.synthetic_cache import make_demo_cache  # noqa: E402
from avsep.models.base import ModelSpec  # noqa: E402

# Paper settings per dataset kind: (spec, cache settings, dataset options).
CASES: dict[str, tuple[ModelSpec, dict[str, Any], dict[str, Any]]] = {
    # Li, Wang & Duan: 32 kHz stereo, 2.56 s, 64 mouth frames 64x64 RGB at 25 fps, v+ half
    "singing": (
        ModelSpec(STFTConfig(32000, 1024, 640), 2.56, 25.0, 64, (64, 64), 3, 2),
        {"sample_rate": 32000, "channels": 2, "crop": (64, 64), "instruments": ()},
        {"extra_vocal_share": 0.5},
    ),
    # Solos / Sound of Pixels: 11025 Hz mono, 6 s, 2..7 instruments, one player frame each
    "instruments": (
        ModelSpec(STFTConfig(11025, 1022, 256), 6.0, 25.0, 150, (64, 64), 3, 1),
        {"sample_rate": 11025, "channels": 1, "crop": (64, 64), "solos": 2, "ensembles": 2,
         "singers": {"train": 0}, "extra_vocals": 0},
        {"num_sources": (2, 7), "visual_context": "frame"},
    ),
    # Swaminathan & Lerch: 16 kHz mono, hop 320, activity labels, no video
    "vad": (
        ModelSpec(STFTConfig(16000, 1024, 320), 2.0, None, None, None, 3, 1),
        {"sample_rate": 16000, "channels": 1, "crop": (16, 16), "instruments": ()},
        {},
    ),
    # VocaLiST: 16 kHz mono, 5 frames (0.2 s) of 48x96 RGB mouth crops, offsets up to 15
    "lipsync": (
        ModelSpec(STFTConfig(16000, 800, 200), 0.2, 25.0, 5, (48, 96), 3, 1),
        {"sample_rate": 16000, "channels": 1, "crop": (48, 96), "instruments": ()},
        {},
    ),
}


def build_cache(root: Path, kind: str, seconds: float) -> Path:
    _, settings, _ = CASES[kind]
    settings = {"singers": {"train": 8}, "extra_vocals": 2, "seconds": seconds, **settings}
    return make_demo_cache(root / kind, **settings)


class ConstantItems(Dataset):
    """Items of the same tensors as ``item``, made for free: the DataLoader's own ceiling."""

    def __init__(self, item: dict[str, torch.Tensor]) -> None:
        self.item = item

    def __len__(self) -> int:
        return 100_000

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.item.items()}


def measure(dataset, workers: int, seconds: float, batch_size: int) -> dict[str, float]:
    """Start-up time (first batch) and steady samples/s over about ``seconds``."""
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
        worker_init_fn=lambda _: torch.set_num_threads(1),
    )
    start = time.perf_counter()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter() - start
    count, t0 = 0, time.perf_counter()
    for batch in iterator:
        count += batch["mixture"].shape[0]
        if time.perf_counter() - t0 >= seconds:
            break
    elapsed = time.perf_counter() - t0
    del iterator
    rate = count / elapsed
    return {
        "samples_per_s": rate,
        "samples_per_s_per_core": rate / max(1, workers),
        "first_batch_s": first,
        "samples": count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="a real `avsep prepare` output to read")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--kinds", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--track-seconds", type=float, default=20.0,
                        help="length of the synthetic tracks")
    args = parser.parse_args()
    torch.set_num_threads(1)

    figures: dict[str, Any] = {"batch_size": args.batch_size, "source": str(args.cache or
                               "synthetic cache at paper settings"), "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            spec, _, options = CASES[kind]
            if args.cache is None:
                t0 = time.perf_counter()
                cache = build_cache(Path(tmp), kind, args.track_seconds)
                print(f"{kind}: built synthetic cache in {time.perf_counter() - t0:.1f} s")
            else:
                cache = args.cache
            dataset = make_dataset(kind, cache, spec, "train", length=100_000, **options)
            rows, ceiling = {}, {}
            item = dataset[0]
            item_bytes = sum(v.numel() * v.element_size() for v in item.values())
            for workers in args.workers:
                rows[str(workers)] = row = measure(dataset, workers, args.seconds, args.batch_size)
                free = measure(ConstantItems(item), workers, args.seconds, args.batch_size)
                ceiling[str(workers)] = free["samples_per_s"]
                print(f"{kind:12s} workers={workers}: {row['samples_per_s']:8.1f} samples/s "
                      f"({row['samples_per_s_per_core']:7.1f} per core), first batch "
                      f"{row['first_batch_s']:.2f} s; DataLoader ceiling for "
                      f"{item_bytes / 1e6:.2f} MB items: {free['samples_per_s']:.0f}/s")
            figures["results"][kind] = {
                "spec": {"sample_rate": spec.stft.sample_rate, "clip_seconds": spec.clip_seconds,
                         "channels": spec.channels, "frames_per_clip": spec.frames_per_clip,
                         "crop": spec.crop},
                "options": {k: str(v) for k, v in options.items()},
                "item_megabytes": item_bytes / 1e6,
                "workers": rows,
                "dataloader_ceiling_samples_per_s": ceiling,
            }
    singing = figures["results"].get("singing", {}).get("workers", {})
    if singing:
        best = max(r["samples_per_s_per_core"] for r in singing.values())
        figures["singing_goal_met"] = best >= 200
        print(f"singing AV loader: best {best:.0f} samples/s per core (goal >= 200)")
    save("loader_throughput", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

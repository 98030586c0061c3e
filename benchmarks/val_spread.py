"""How much a trained model's validation score moves between validation seeds, per set size.

Issue 9 asks for a default ``data.val_length`` large enough that one trained model, scored on
two validation sets drawn with different seeds, moves by less than 0.3 dB. This script trains
one tiny model in-process (no Ray, no MLflow) on a prepared cache, then scores it on the
validation split drawn with ``--seeds`` seeds and reports, for each size N of ``--sizes``, the
mean SI-SDR (dB, over items and non-silent sources, as ``val/sdr@w0``) of every seed and the
spread between seeds: the largest and the mean absolute difference over seed pairs, and the
95th percentile of the pairwise difference. Item ``i`` of a validation set depends only on
``(seed, i)``, so the set of size N is the first N items of the largest one: every size is
scored from one pass per seed.

On the default corpus (the quick start's cache)::

    .venv/bin/avsep prepare --layout avsep_synth --root /work/demo/corpus/singing \\
        --out /tmp/cache --sample-rate 3200 --fps 25 --crop 16x16
    .venv/bin/python benchmarks/val_spread.py --data /tmp/cache --model mmdensenet

Prints a table and writes ``benchmarks/results/val_spread.json``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import save  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from avsep.config import ExperimentConfig  # noqa: E402
from avsep.models import build  # noqa: E402
from avsep.platform.data import build_dataset, make_loaders  # noqa: E402
from avsep.platform.validation import SILENT_ENERGY, estimates_per_wiener, si_sdr  # noqa: E402

THRESHOLD_DB = 0.3


def train(cfg: ExperimentConfig, epochs: int) -> tuple[Any, list[float]]:
    """A model of ``cfg`` trained for ``epochs`` with Adam; returns it and the epoch losses."""
    torch.manual_seed(cfg.train.seed)
    model = build(cfg.model.build_dict())
    loader, _, train_set = make_loaders(cfg, model)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    losses = []
    model.train()
    for epoch in range(epochs):
        train_set.set_epoch(epoch)
        total, count = 0.0, 0
        for batch in loader:
            loss = model.loss(batch, model(batch))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch["mixture"].shape[0]
            count += batch["mixture"].shape[0]
        losses.append(total / count)
        print(f"epoch {epoch + 1}: train loss {losses[-1]:.4f}", flush=True)
    return model, losses


@torch.no_grad()
def item_scores(model: Any, cfg: ExperimentConfig, seed: int, length: int) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """(sum of SI-SDR over scored sources, number of scored sources) per validation item."""
    model.eval()
    dataset = build_dataset(cfg, model, "val", seed=seed, length=length)
    sums, counts = [], []
    for batch in DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=False):
        out = model(batch)
        waves = estimates_per_wiener(model, batch, out, [0])[0]
        references = batch["sources"].float()
        scored = references.pow(2).mean(-1) > SILENT_ENERGY  # (B, S, C)
        values = torch.where(scored, si_sdr(references, waves.float()), torch.zeros(()))
        sums.append(values.flatten(1).sum(1).double().numpy())
        counts.append(scored.flatten(1).sum(1).double().numpy())
    return np.concatenate(sums), np.concatenate(counts)


def spread(means: list[float]) -> dict[str, float]:
    """Spread of per-seed means: max - min, and over seed pairs the mean, max and p95 |diff|."""
    diffs = np.array([abs(a - b) for a, b in itertools.combinations(means, 2)])
    return {"range_db": float(np.max(means) - np.min(means)), "std_db": float(np.std(means)),
            "pair_mean_abs_db": float(diffs.mean()), "pair_max_abs_db": float(diffs.max()),
            "pair_p95_abs_db": float(np.percentile(diffs, 95))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="prepared cache (or folder of caches)")
    parser.add_argument("--model", default="mmdensenet")
    parser.add_argument("--preset", default="tiny", choices=("tiny", "paper"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--sizes", default="8,16,32,64,128,256")
    parser.add_argument("--seeds", type=int, default=8, help="validation seeds 1..N")
    parser.add_argument("--options", default="{}", help="data.options as JSON")
    parser.add_argument("--name", default="val_spread", help="results/<name>.json")
    args = parser.parse_args(argv)
    import json

    torch.set_num_threads(max(1, torch.get_num_threads()))
    sizes = sorted(int(s) for s in args.sizes.split(","))
    cfg = ExperimentConfig.model_validate({
        "model": {"name": args.model, "preset": args.preset},
        "data": {"cache": args.data, "train_length": args.train_length,
                 "options": json.loads(args.options)},
        "train": {"lr": args.lr, "batch_size": args.batch_size, "epochs": args.epochs},
    })
    start = time.perf_counter()
    model, losses = train(cfg, args.epochs)
    trained_s = time.perf_counter() - start
    per_seed = {}
    for seed in range(1, args.seeds + 1):
        sums, counts = item_scores(model, cfg, seed, sizes[-1])
        per_seed[seed] = [float(sums[:n].sum() / max(1.0, counts[:n].sum())) for n in sizes]
        print(f"seed {seed}: " + "  ".join(f"N={n}: {v:6.2f}" for n, v in
                                          zip(sizes, per_seed[seed], strict=True)), flush=True)
    rows = []
    for k, n in enumerate(sizes):
        means = [per_seed[s][k] for s in per_seed]
        rows.append({"val_length": n, "mean_db": float(np.mean(means)), **spread(means),
                     "per_seed_db": means})
    print(f"\n{args.model} ({args.preset}), {args.epochs} epochs x {args.train_length} items, "
          f"{args.seeds} validation seeds; SI-SDR mean (dB) and its spread between seeds")
    print(f"{'N':>5} {'mean':>7} {'range':>7} {'pair mean':>10} {'pair p95':>9} {'pair max':>9}")
    for row in rows:
        print(f"{row['val_length']:>5} {row['mean_db']:7.2f} {row['range_db']:7.2f} "
              f"{row['pair_mean_abs_db']:10.2f} {row['pair_p95_abs_db']:9.2f} "
              f"{row['pair_max_abs_db']:9.2f}")
    enough = [r["val_length"] for r in rows if r["pair_p95_abs_db"] < THRESHOLD_DB]
    print(f"smallest size with p95 pairwise spread < {THRESHOLD_DB} dB: "
          f"{enough[0] if enough else 'none of ' + str(sizes)}")
    save(args.name, {
        "data": str(Path(args.data).resolve()), "model": args.model, "preset": args.preset,
        "epochs": args.epochs, "train_length": args.train_length, "train_losses": losses,
        "train_seconds": trained_s, "seeds": list(per_seed), "options": json.loads(args.options),
        "threshold_db": THRESHOLD_DB, "rows": rows,
        "smallest_size_below_threshold": enough[0] if enough else None,
    })


if __name__ == "__main__":
    main()

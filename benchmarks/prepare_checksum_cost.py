"""What recording file sizes and sha256 costs ``avsep prepare`` (issue 21, item 4).

Prepares the same corpus into fresh caches, alternately with the records (``record_files``, as
shipped) and without them (``record_files`` replaced by a no-op), ``--rounds`` times each, in
one process, so that both see the same machine load; prints and saves (``benchmarks/results/
prepare_checksum_cost.json``) wall and CPU seconds of each, their ratio, the bytes hashed and
the hashing throughput, and the machine's load average. It also times the first-read check a
run makes (``file_digest`` over every file of the cache, from the page cache).

    python benchmarks/prepare_checksum_cost.py --root CORPUS/singing [--layout avsep_synth]
        [--space av_singing] [--preset tiny] [--rounds 2]

CORPUS is ``avsep synth --out CORPUS`` (the quick start's 2-minute corpus by default).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import save


def _targets(out: Path, space: str, preset: str) -> list[Any]:
    from avsep.data.needs import needs_of_space
    from avsep.data.prepare import CacheTarget

    needs, _ = needs_of_space(space, preset)
    return [CacheTarget(out / n.name, n.settings, {"space": space, "preset": preset})
            for n in needs]


def _prepare(layout: str, root: Path, out: Path, space: str, preset: str) -> tuple[float, float]:
    from avsep.data.prepare import prepare_many

    wall, cpu = time.perf_counter(), time.process_time()
    prepare_many(layout, root, _targets(out, space, preset))
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="dataset copy (CORPUS/singing)")
    parser.add_argument("--layout", default="avsep_synth")
    parser.add_argument("--space", default="av_singing")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import avsep.data.prepare as prepare_module
    from avsep.data.integrity import file_digest

    recording = prepare_module.record_files
    times: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
    work = Path(tempfile.mkdtemp(prefix="checksum-cost-"))
    load_before = os.getloadavg()
    try:
        for r in range(args.rounds):
            for mode in ("without", "with") if r % 2 == 0 else ("with", "without"):
                prepare_module.record_files = recording if mode == "with" else (
                    lambda folder, prefix: {})
                out = work / f"{mode}{r}"
                times[mode].append(_prepare(args.layout, args.root, out, args.space,
                                            args.preset))
                if mode == "without":
                    shutil.rmtree(out)
        prepare_module.record_files = recording
        files = [p for p in (work / "with0").rglob("*.npy")]
        size = sum(p.stat().st_size for p in files)
        start = time.perf_counter()
        for path in files:
            file_digest(path)
        hash_s = time.perf_counter() - start
    finally:
        prepare_module.record_files = recording
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    best = {m: min(t[0] for t in v) for m, v in times.items()}
    cpu = {m: min(t[1] for t in v) for m, v in times.items()}
    figures = {
        "layout": args.layout, "space": args.space, "preset": args.preset,
        "rounds": args.rounds, "files": len(files), "bytes": size,
        "prepare_wall_s": times, "best_wall_s": best, "best_cpu_s": cpu,
        "wall_ratio_with_over_without": best["with"] / best["without"],
        "cpu_ratio_with_over_without": cpu["with"] / cpu["without"],
        "hash_all_files_s": hash_s, "hash_mb_per_s": size / 1e6 / hash_s if hash_s else None,
        "load_average_before": load_before, "load_average_after": load_after,
    }
    print(f"{len(files)} files, {size / 1e6:.1f} MB; prepare best of {args.rounds}: "
          f"{best['with']:.2f} s with records, {best['without']:.2f} s without "
          f"(x{figures['wall_ratio_with_over_without']:.3f} wall, "
          f"x{figures['cpu_ratio_with_over_without']:.3f} CPU); hashing every file once "
          f"{hash_s:.3f} s ({figures['hash_mb_per_s'] or 0:.0f} MB/s); load "
          f"{load_before[0]:.2f} -> {load_after[0]:.2f}")
    save("prepare_checksum_cost", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

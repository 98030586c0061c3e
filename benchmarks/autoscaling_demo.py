"""Autoscaling, shown: a GPU search scales cluster.yaml's GPU workers up from 0 and back down.

Ray's fake multi-node provider (``RAY_FAKE_CLUSTER=1``, provider ``fake_multinode``) runs the
real autoscaler on this machine with the node types of ``cluster.yaml`` (GPU counts kept, CPUs
capped by ``--cpu-cap``, idle timeout shortened by ``--idle-timeout-s``), inside a network
namespace of its own (root needed). A tiny ``av_singing`` search asks for one GPU per trial;
the figures come from ``ray.nodes()`` snapshots every ``--interval`` seconds:

* seconds from the search's start to the first GPU worker alive;
* seconds from the autoscaler's first pending GPU launch to that worker alive;
* peak GPU workers alive, GPU workers launched, the most trials running at once, and trials
  run per node type (Tune's trial pid -> Ray's actor table -> the node's type label);
* seconds from the last trial's end (and from the search's end) to 0 GPU workers.

Prints them and writes ``benchmarks/results/autoscaling_demo.json`` (figures, the fake config,
every snapshot). Run: ``.venv/bin/python benchmarks/autoscaling_demo.py`` (~2-4 min).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-yaml", type=Path, default=ROOT / "cluster.yaml")
    parser.add_argument("--state", type=Path, default=None,
                        help="working folder (default: a new /tmp/avsep-autoscaling-*)")
    parser.add_argument("--num-samples", type=int, default=3, help="trials (default 3)")
    parser.add_argument("--max-workers", type=int, default=2,
                        help="GPU workers at most (cluster.yaml's max_workers, capped; default 2)")
    parser.add_argument("--max-concurrent", type=int, default=None,
                        help="the search's --max-concurrent (default: --max-workers; 0: avsep's "
                        "own default, which sees 0 GPUs at the start under autoscaler v1)")
    parser.add_argument("--cpu-cap", type=int, default=1, help="CPUs per fake worker (default 1)")
    parser.add_argument("--idle-timeout-s", type=float, default=15.0,
                        help="idle seconds before a worker is removed (cluster.yaml: 10 min)")
    parser.add_argument("--interval", type=float, default=0.5, help="snapshot period, seconds")
    parser.add_argument("--name", default="avh4", help="namespace/bridge name (1-6 chars)")
    parser.add_argument("--subnet", default="10.231.84", help="first three octets of a /24")
    args = parser.parse_args(argv)

    from avsep.cluster import autoscaling_search, fake_autoscaler

    state = args.state or Path(tempfile.mkdtemp(prefix="avsep-autoscaling-"))
    cluster = fake_autoscaler.FakeCluster(
        fake_autoscaler.load_cluster_yaml(args.cluster_yaml), state, name=args.name,
        subnet=args.subnet, cpu_cap=args.cpu_cap, max_workers=args.max_workers,
        idle_timeout_s=args.idle_timeout_s)
    data = autoscaling_search.tiny_cache(Path(cluster.state.storage) / "cache")
    concurrent = args.max_workers if args.max_concurrent is None else args.max_concurrent
    out = autoscaling_search.run(cluster, data, num_samples=args.num_samples,
                                 max_concurrent=concurrent or None, interval_s=args.interval)
    figures = out["figures"]
    figures["scaled_down_from_cluster_yaml"] = fake_autoscaler.scaled_down(
        out["config"], fake_autoscaler.load_cluster_yaml(args.cluster_yaml))
    print(json.dumps(figures, indent=2, default=float))
    save("autoscaling_demo", {**figures, "gpu_type": out["gpu_type"], "config": out["config"],
                              "snapshots": out["snapshots"]})
    if figures["search_exit_code"] != 0:
        print(f"the search failed: see {out['search_log']}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()

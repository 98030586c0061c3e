"""The maximum size of an autoscaling cluster, read from its config (``cluster.yaml`` shape).

Ray 2.60's v1 autoscaler (what ``ray up`` runs) does not put its config in the GCS, so on a
``ray up`` head the driver reads ``~/ray_bootstrap_config.yaml``. The search uses the maximum
for the default ``--max-concurrent`` (:mod:`avsep.platform.ray_resources`) and for the
tracking-URI check (:mod:`avsep.platform.tune`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def bootstrap_config() -> dict[str, Any]:
    """The autoscaling config a ``ray up`` head keeps in ``~/ray_bootstrap_config.yaml``
    (``{}`` elsewhere)."""
    path = Path.home() / "ray_bootstrap_config.yaml"
    if not path.is_file():
        return {}
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def max_workers_by_type(config: dict[str, Any]) -> dict[str, int]:
    """Each worker type's most nodes: its ``max_workers`` (default: the global one, else 0),
    capped by the global ``max_workers``; the head type is not a worker type."""
    cap = config.get("max_workers")
    counts: dict[str, int] = {}
    for name, spec in (config.get("available_node_types") or {}).items():
        if name == config.get("head_node_type"):
            continue
        count = int(spec.get("max_workers", cap or 0))
        counts[name] = count if cap is None else min(count, int(cap))
    return counts


def max_nodes(config: dict[str, Any]) -> int:
    """Nodes at the maximum size: the head plus the workers, at most the global
    ``max_workers`` of them (1 for an empty config)."""
    workers = sum(max_workers_by_type(config).values())
    return 1 + min(workers, int(config.get("max_workers", workers)))


def max_resources(config: dict[str, Any]) -> dict[str, float]:
    """CPUs/GPUs at the maximum size, an upper bound: the head's ``resources`` plus each worker
    type's times its most nodes (:func:`max_workers_by_type`). Types without ``resources``
    count as 0 (the autoscaler fills those from the instance type, which this cannot know)."""
    types = config.get("available_node_types") or {}
    counts = {**max_workers_by_type(config), config.get("head_node_type"): 1}
    total = {key: sum(float((types[name].get("resources") or {}).get(key, 0)) * count
                      for name, count in counts.items() if name in types)
             for key in ("CPU", "GPU")}
    return {k: v for k, v in total.items() if v > 0}

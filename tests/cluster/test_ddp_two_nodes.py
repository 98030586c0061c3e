"""DDP across two nodes: a search trial with ``--workers-per-trial 2`` on the local cluster.
The trial (a thin driver launching a ``TorchTrainer``) sits on the head, pinned by the head's
``avsep_driver`` resource as on cluster.yaml's on-demand head; its two Ray Train workers take
one 1-CPU worker node each (gloo over the bridge); after training every parameter is identical
on both replicas."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tests.cluster.searches import trial_rows, trial_runs, tune_command

pytestmark = pytest.mark.slow


def _ranks_logged(node_folder: str) -> set[int]:
    """Ranks whose epoch lines the Ray Train workers of a node logged (the node's private
    /tmp/ray; Ray heads an actor's log with ``:actor_name:<class>``)."""
    ranks = set()
    for log in (Path(node_folder) / "ray").glob("session_*/logs/worker-*.out"):
        text = log.read_text(errors="replace")
        if ":actor_name:RayTrainWorker" in text:
            ranks |= {int(r) for r in re.findall(r"\[rank (\d+)\] epoch 1/1", text)}
    return ranks


def test_ddp_trial_spans_two_nodes_with_identical_replicas(local_cluster, cluster_data):
    from avsep.cluster import local
    from avsep.platform import checkpoint as ckpt

    state = local_cluster
    command = tune_command(state, cluster_data, "ddp2nodes", 1, 1, 1, "--workers-per-trial", "2")
    assert local.run_in_node(state, "head", command, timeout_s=420) == 0

    (trial_id, rows), = trial_rows(state, "ddp2nodes").items()
    assert rows[-1]["node_ip"] == state.head.address  # the trial's driver sits on the head
    # one Train worker on each worker node: each node's own logs hold exactly one rank
    w1, w2 = (_ranks_logged(n.folder) for n in state.nodes[1:])
    assert len(w1) == 1 and len(w2) == 1 and w1 | w2 == {0, 1}, (w1, w2)
    assert not _ranks_logged(state.head.folder)

    (run,) = trial_runs(state, "ddp2nodes")
    assert run.data.metrics["workers"] == 2
    # max over all parameters of (max - min over the two replicas), all-reduced after training
    assert run.data.metrics["ddp/replica_spread"] == 0.0
    train_run = Path(state.storage) / "ray_results" / f"{trial_id}-train"
    checkpoint = sorted(p for p in train_run.glob("checkpoint_*") if p.is_dir())[-1] \
        / ckpt.STATE_FILE
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["state"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())

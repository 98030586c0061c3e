"""A DDP trial granted GPUs that CUDA cannot see (a fake-GPU node: `fake_multinode`, or
`avsep cluster local up --num-gpus`) trains on the CPU over gloo instead of failing in NCCL.

Runs in its own process: it needs a Ray whose node advertises 2 GPUs, unlike the session's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import ray
    from avsep.config import merge, validate
    from avsep.platform.train_loop import RunContext
    from avsep.platform.trainer import ddp_backend, fit
    from tests.platform.conftest import TINY_TRAIN, write_tiny_cache

    root = Path(sys.argv[1])
    cache = write_tiny_cache(root / "cache")
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False)
    cfg = validate(merge(TINY_TRAIN, {"model": {"name": "mmdensenet", "preset": "tiny"},
                                      "data": {"cache": str(cache)}, "train": {"epochs": 1}}))
    backend = ddp_backend(1)
    result = fit(cfg, RunContext(), workers=2, gpus_per_worker=1, storage=root / "results",
                 name="fake_gpu")
    (root / "out.json").write_text(json.dumps({
        "backend": backend, "error": repr(result.error) if result.error else None,
        "metrics": {k: result.metrics.get(k) for k in ("workers", "epoch", "ddp/replica_spread")}
                   if result.metrics else None}))
""")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine's GPUs are real")
def test_ddp_on_fake_gpus_falls_back_to_gloo_on_the_cpu(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "RAY_CHDIR_TO_TRIAL_DIR": "0"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["backend"] == "gloo"
    assert out["error"] is None
    assert out["metrics"] == {"workers": 2, "epoch": 1, "ddp/replica_spread": 0.0}

"""Fixtures of the serving tests: a champion from a real tiny search, and a running Serve app.

``champion`` runs the real pipeline once per session: the session's ``avsep synth`` corpus (2
minutes, tests/conftest.py) -> ``avsep prepare`` at the tiny MMDenseNet's rate -> a one-trial
``av_singing`` search (the paper's audio-only point, 4 epochs: its best epoch was the 4th of 8
when it ran 8, and the learning-rate schedule reads only past validation losses, so the
champion is the same) on a local Ray with a sqlite MLflow store -> the registry's
``champion`` alias. ``served`` deploys it with Ray Serve on 127.0.0.1 next to an untrained
audio-visual model (for the video checks) under ``/av`` and an untrained label-conditioned
U-Net (13 instrument stems, for the label checks) under ``/cunet``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"max_upload_bytes": 3 * 1024 * 1024, "max_duration_s": 20.0}


@dataclass
class Champion:
    tracking_uri: str
    model_uri: str
    cache: Path
    corpus: Path


def _avsep(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "avsep.cli", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def champion(tmp_path_factory, synth_corpus) -> Champion:
    from avsep.models import build
    from avsep.platform.tune import SearchOptions, prepare, run

    root = tmp_path_factory.mktemp("serve-search")
    env = {**os.environ, "AVSEP_HOME": str(root), "TQDM_DISABLE": "1"}
    spec = build({"name": "mmdensenet", "preset": "tiny"}).spec
    _avsep("prepare", "--layout", "avsep_synth", "--root", str(synth_corpus / "singing"),
           "--out", str(root / "cache"), "--sample-rate", str(spec.stft.sample_rate),
           "--fps", "25", "--crop", "16x16", env=env)
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    options = SearchOptions(space="av_singing", data=str(root / "cache"), num_samples=1,
                            max_epochs=4, storage=str(root / "results"),
                            config=str(ROOT / "configs" / "quickstart.yaml"),
                            mlflow_uri=tracking_uri, register_as="serve-test",
                            check_samples=2, max_concurrent=1)
    outcome = run(prepare(options))
    assert outcome.champion_version, "the tiny search registered no champion"
    return Champion(tracking_uri, "models:/serve-test@champion", root / "cache", synth_corpus)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def av_package(tmp_path_factory) -> Path:
    """An untrained tiny AV MMDenseNet package: enough to check the video rules."""
    from avsep.models import build
    from avsep.models.package import save_model_package

    config = {"name": "av_mmdensenet", "preset": "tiny"}
    return save_model_package(build(config), config, tmp_path_factory.mktemp("av") / "pkg")


@pytest.fixture(scope="session")
def cunet_package(tmp_path_factory) -> Path:
    """An untrained tiny label-conditioned U-Net package (13 URMP instrument stems)."""
    from avsep.models import build
    from avsep.models.package import save_model_package

    config = {"name": "cunet", "preset": "tiny", "conditioning": "label_multiply",
              "context": "labels"}
    return save_model_package(build(config), config, tmp_path_factory.mktemp("cunet") / "pkg")


@pytest.fixture(scope="module")
def served(champion, av_package, cunet_package):
    """Base URL of a real Serve app on 127.0.0.1 (champion at /, AV model at /av, a
    label-conditioned U-Net at /cunet). Module-scoped: Serve's replicas hold CPUs of the local
    Ray, so they must be gone before later tests' searches ask for them."""
    import ray
    from ray import serve

    from avsep.serve.app import build_app
    from avsep.serve.launch import app_args, start_local

    port = _free_port()
    start_local(app_args(champion.model_uri, champion.tracking_uri, "1", 0.0, LIMITS, True, 16),
                "127.0.0.1", port, num_cpus=2)
    serve.run(build_app(app_args(str(av_package), None, "1", 0.0, LIMITS, True, 16)),
              name="av", route_prefix="/av")
    serve.run(build_app(app_args(str(cunet_package), None, "1", 0.0, LIMITS, True, 16,
                                 cpus_per_replica=0.0)), name="cunet", route_prefix="/cunet")
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{url}/healthz", timeout=60).json() == {"status": "ok"}
    yield url
    serve.shutdown()
    ray.shutdown()

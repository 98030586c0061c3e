"""`avsep doctor`: versions, devices, a Ray start-and-stop, and where MLflow stores runs."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time

HELP = "check the installation: versions, devices, a local Ray start-and-stop, the MLflow store"

PACKAGES = ("torch", "torchaudio", "torchvision", "ray", "optuna", "mlflow", "decord", "av",
            "soundfile", "numpy", "scipy", "sklearn", "fastapi", "pydantic")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray start-and-stop check")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
            versions[name] = getattr(module, "__version__", "installed")
        except Exception as err:  # noqa: BLE001 - report any import failure
            versions[name] = f"MISSING ({type(err).__name__}: {err})"
    return versions


def _devices() -> dict[str, object]:
    import torch

    info: dict[str, object] = {"cpu_threads": torch.get_num_threads(),
                               "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["bf16"] = torch.cuda.is_bf16_supported()
    return info


def _ray_check() -> dict[str, object]:
    import ray

    start = time.perf_counter()
    # a new local Ray: a stale /tmp/ray/ray_current_cluster is never joined
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        value = ray.get(ray.remote(lambda x: x * 2).remote(21))
        resources = ray.cluster_resources()
    finally:
        ray.shutdown()
    return {"ok": value == 42, "seconds": round(time.perf_counter() - start, 2),
            "resources": {k: v for k, v in resources.items() if k in ("CPU", "GPU", "memory")}}


def run(args: argparse.Namespace) -> int:
    from avsep import settings
    from avsep.tracking.store import resolve_tracking_uri

    report: dict[str, object] = {"versions": _versions(), "devices": _devices()}
    report["mlflow_tracking_uri"] = resolve_tracking_uri()
    report["artifacts"] = str(settings.default_artifact_root())
    if not args.no_ray:
        report["ray"] = _ray_check()
    missing = [k for k, v in report["versions"].items() if v.startswith("MISSING")]
    ok = not missing and (args.no_ray or report["ray"]["ok"])
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("avsep doctor")
        for name, version in report["versions"].items():
            print(f"  {name:<12} {version}")
        print(f"  devices      {report['devices']}")
        if "ray" in report:
            ray_info = report["ray"]
            print(f"  ray          start/task/stop {'ok' if ray_info['ok'] else 'FAILED'} "
                  f"in {ray_info['seconds']} s, resources {ray_info['resources']}")
        print(f"  mlflow       runs go to {report['mlflow_tracking_uri']}")
        print(f"               artifacts in {report['artifacts']}")
        print("  result       " + ("ok" if ok else f"problems: missing {missing}"))
    return 0 if ok else 1

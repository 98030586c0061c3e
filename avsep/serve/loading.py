"""Resolve a model URI to a loaded zoo model: ``models:/NAME@alias``, ``runs:/…`` or a folder."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from avsep.models.package import load_model_package


def fetch_package(uri: str, target: Path, tracking_uri: str | None = None) -> Path:
    """Download an MLflow model URI's files into ``target`` (or check a local folder)."""
    local = Path(uri).expanduser()
    if "://" not in uri and ":/" not in uri[:8]:
        if not local.exists():
            raise FileNotFoundError(f"{uri}: no such model folder, and not an MLflow URI "
                                    "(expected models:/NAME@champion or runs:/RUN_ID/model)")
        return local.resolve()
    import mlflow

    from avsep import settings
    from avsep.platform.mlflow_utils import configure

    configure(tracking_uri or settings.default_mlflow_uri())
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target)))
    except Exception as err:  # noqa: BLE001 - MLflow raises many kinds; say which URI failed
        raise ValueError(f"could not fetch {uri} from the MLflow store at "
                         f"{mlflow.get_tracking_uri()}: {err}") from err


def load_model(uri: str, tracking_uri: str | None = None,
               device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model in eval mode, its package payload) for ``uri``; weights via safetensors only.

    A downloaded package lives in a temporary folder only while it is read: the weights are
    in memory afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="avsep-model-") as tmp:
        folder = fetch_package(uri, Path(tmp), tracking_uri)
        model, payload = load_model_package(folder, device=device)
    if uri.startswith("models:/"):
        payload.setdefault("version", _registry_version(uri))
    return model, payload


def _registry_version(uri: str) -> str | None:
    """The registered version number a ``models:/NAME@alias`` or ``models:/NAME/N`` URI names."""
    import mlflow

    ref = uri[len("models:/"):]
    client = mlflow.MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = ref.partition("/")
        return version or None
    except Exception:  # noqa: BLE001 - the version is informative only
        return None

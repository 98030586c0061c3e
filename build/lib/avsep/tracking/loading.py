"""Resolve a model URI to a loaded zoo model: ``models:/NAME@alias``, ``runs:/…`` or a folder.

The MLflow store is the one every command uses (``--mlflow-uri``, then ``MLFLOW_TRACKING_URI``,
then the embedded default: :func:`avsep.tracking.store.resolve_tracking_uri`). Every
failure is a :class:`ModelLoadError` whose message says what is missing and the command or
option that fixes it, so ``avsep serve`` can refuse before deploying anything.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from avsep.models.package import load_model_package
from avsep.tracking.registry import CHAMPION, CHAMPION_AUDIO


class ModelLoadError(ValueError):
    """A model URI cannot be loaded; the message names the cause and the fix."""


def _tune_hint(name: str) -> str:
    """The command that registers ``name``'s champion (``avsep-SPACE`` is tune's default)."""
    if name.startswith("avsep-"):
        return f"`avsep tune --space {name[len('avsep-'):]}`"
    return f"`avsep tune --space SPACE --register-as {name}`"


def _sqlite_path(store: str) -> Path | None:
    return Path(store[len("sqlite:///"):]) if store.startswith("sqlite:///") else None


def explain_registry_miss(uri: str, store: str) -> str | None:
    """Why ``models:/NAME@alias`` (or ``/VERSION``) is not in ``store``, or None if it is."""
    import mlflow

    ref = uri[len("models:/"):]
    name, alias = ref.split("@", 1) if "@" in ref else (ref.partition("/")[0], None)
    client = mlflow.MlflowClient(tracking_uri=store, registry_uri=store)
    try:
        known = sorted(m.name for m in client.search_registered_models())
    except Exception:  # noqa: BLE001 - an unreadable store: the caller reports MLflow's error
        return None
    if name not in known:
        others = (f"it holds {', '.join(f'models:/{n}@champion' for n in known)}; pass one with "
                  "--model, or " if known else "it holds no registered model; ")
        return (f"no registered model {name!r} in the MLflow store {store} ({others}create "
                f"{name}@champion with {_tune_hint(name)}, or point at the store your search "
                "wrote with --mlflow-uri URI or MLFLOW_TRACKING_URI)")
    if alias is not None:
        try:
            client.get_model_version_by_alias(name, alias)
        except Exception:  # noqa: BLE001 - RESOURCE_DOES_NOT_EXIST
            versions = [v.version for v in client.search_model_versions(f"name='{name}'")]
            listed = ", ".join(map(str, sorted(versions, key=int))) or "none"
            if alias == CHAMPION_AUDIO:
                return (f"registered model {name!r} in {store} has no audio-only champion "
                        f"(@{CHAMPION_AUDIO}; versions: {listed}): no search registered under "
                        f"{name!r} has had an audio-only trial that beat the mixture. Run "
                        f"{_tune_hint(name)} over a space with audio-only models (e.g. "
                        "av_singing, whose `modality` includes audio), or use "
                        f"models:/{name}@{CHAMPION} with a video")
            return (f"registered model {name!r} in {store} has no alias {alias!r} (versions: "
                    f"{listed}); use --model models:/{name}/VERSION, or register a champion "
                    f"with {_tune_hint(name)}")
    return None


def fetch_package(uri: str, target: Path, tracking_uri: str | None = None) -> Path:
    """Download an MLflow model URI's files into ``target`` (or check a local folder)."""
    local = Path(uri).expanduser()
    if "://" not in uri and ":/" not in uri[:8]:
        if not local.exists():
            raise ModelLoadError(f"{uri}: no such model folder, and not an MLflow URI (expected "
                                 "models:/NAME@champion, runs:/RUN_ID/model or a package folder "
                                 "written by `avsep train`/`avsep tune`)")
        return local.resolve()
    import mlflow

    from avsep.tracking.store import configure, resolve_tracking_uri

    store = resolve_tracking_uri(tracking_uri)
    database = _sqlite_path(store)
    if database is not None and not database.is_file():  # MLflow would create an empty one
        raise ModelLoadError(
            f"{uri}: the MLflow store {store} does not exist (no search has written to it); "
            "point at the store your search used with --mlflow-uri URI or MLFLOW_TRACKING_URI, "
            "or create a champion with `avsep tune --space SPACE`")
    configure(store)
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target)))
    except Exception as err:  # noqa: BLE001 - MLflow raises many kinds; say which URI failed
        reason = explain_registry_miss(uri, store) if uri.startswith("models:/") else None
        raise ModelLoadError(reason or f"could not fetch {uri} from the MLflow store at "
                                       f"{store}: {err}") from err


def load_model(uri: str, tracking_uri: str | None = None,
               device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model in eval mode, its package payload) for ``uri``; weights via safetensors only.

    A downloaded package lives in a temporary folder only while it is read: the weights are
    in memory afterwards. Raises :class:`ModelLoadError`.
    """
    with tempfile.TemporaryDirectory(prefix="avsep-model-") as tmp:
        folder = fetch_package(uri, Path(tmp), tracking_uri)
        try:
            model, payload = load_model_package(folder, device=device)
        except Exception as err:  # noqa: BLE001 - corrupt or foreign package: say which
            raise ModelLoadError(f"{uri}: the model package could not be loaded ({err}); "
                                 "re-register it from its run, or pass another --model") from err
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

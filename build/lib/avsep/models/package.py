"""A *model package*: the folder that holds one trained zoo model, safe to load.

Layout (what the platform registers in MLflow and what ``avsep serve`` loads)::

    <dir>/config.json          {"model": <config for models.build>, "sources": [...],
                                "spec": {...}, "task": str, "data_kind": str, "metrics": {...},
                                "preprocessing": {...}, "wiener_iterations": int}
    <dir>/weights.safetensors  the state dict (tensors only: loading executes no pickled code)

``preprocessing`` (optional) is what the model was trained on, read from the prepared cache's
``index.json`` (:class:`avsep.data.preprocess.Preprocessing`: audio rate and channels, video
fps, crop, channels, mouth scale, detector stride, and the crop methods of the cache's sources);
serving applies exactly those to a user's video. ``wiener_iterations`` (optional) is the Wiener
count the model was validated at: the default of ``avsep separate``, ``avsep serve`` and the
pyfunc.

``load_model_package`` accepts the folder itself or any folder above it (MLflow downloads a
registered model's files into nested folders), as long as exactly one package is inside.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


def describe_contract(model: torch.nn.Module) -> dict[str, Any]:
    """The input contract of ``model``: task, inputs, sources and its ModelSpec as plain data."""
    spec = asdict(model.spec)
    return {
        "task": model.task,
        "data_kind": model.data_kind,
        "inputs": list(model.inputs),
        "sources": list(model.source_names),
        "spec": spec,
    }


def save_model_package(
    model: torch.nn.Module,
    model_config: dict[str, Any],
    directory: Path | str,
    metrics: dict[str, float] | None = None,
    preprocessing: dict[str, Any] | None = None,
    wiener_iterations: int | None = None,
) -> Path:
    """Write ``model``'s weights and config to ``directory``; returns the folder.

    ``preprocessing``: :meth:`avsep.data.preprocess.Preprocessing.to_json` of the cache it was
    trained on; ``wiener_iterations``: the Wiener count it was validated at (module docstring).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(directory / WEIGHTS_FILE)
    payload = {"model": dict(model_config), **describe_contract(model), "metrics": metrics or {}}
    if preprocessing is not None:
        payload["preprocessing"] = dict(preprocessing)
    if wiener_iterations is not None:
        if int(wiener_iterations) < 0:
            raise ValueError(f"wiener_iterations must be >= 0, got {wiener_iterations}")
        payload["wiener_iterations"] = int(wiener_iterations)
    (directory / CONFIG_FILE).write_text(json.dumps(payload, indent=2, default=str))
    return directory


def find_package(root: Path | str) -> Path:
    """The one folder under ``root`` (or ``root`` itself) holding config.json + weights."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such model package folder")
    hits = sorted({p.parent for p in root.rglob(WEIGHTS_FILE) if (p.parent / CONFIG_FILE).exists()})
    if len(hits) != 1:
        raise ValueError(
            f"{root}: expected exactly one model package ({CONFIG_FILE} + {WEIGHTS_FILE}), "
            f"found {len(hits)}"
        )
    return hits[0]


def load_model_package(root: Path | str, device: str | torch.device = "cpu"):
    """Build the model described by the package under ``root`` and load its weights.

    Returns ``(model, payload)`` with the model in eval mode on ``device`` and the parsed
    config.json payload.
    """
    from avsep.models.registry import build

    folder = find_package(root)
    payload = json.loads((folder / CONFIG_FILE).read_text())
    model = build(payload["model"])
    state = load_file(str(folder / WEIGHTS_FILE), device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{folder}: weights do not match the model config "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    return model.to(device).eval(), payload

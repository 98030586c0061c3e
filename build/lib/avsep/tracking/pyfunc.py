"""The champion as an MLflow Model: a ``pyfunc`` wrapper around the avsep model package.

The package folder (``config.json`` + ``weights.safetensors``, :mod:`avsep.models.package`) is
the model's artifact ``artifacts/<package folder>/``: weights stay safetensors, and ``avsep
serve`` finds the same package inside the downloaded model folder. Beside it,
``artifacts/avsep-<version>-py3-none-any.whl`` (:mod:`avsep.tracking.wheel`) is the model's
requirement, so an environment manager other than ``local`` installs the exact avsep that
registered it (docs/serve.md). ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` run
:class:`AvsepPyfunc`.

Input (one row per request; the signature states it)::

    mixture      list[float]   mono waveform (L,) at ``sample_rate`` (a list, or a 1-D numpy
                               array: ``predict({"mixture": array, "sample_rate": 16000})``)
    sample_rate  int           Hz; resampled to the model's rate and back
    labels       str, optional "violin,flute" for label-conditioned models (selects the stems)
    video        str, optional base64 of a ``.npy`` uint8 array (T, H, W, 3) spanning the audio,
                               required by audio-visual models (:func:`encode_video`)

Output: one row per request, one column per returned stem, each a list (C, L) of floats at the
request's rate, at the Wiener count the package was validated at.

Why this module reaches into ``avsep.serve``: inference is the serving engine,
:class:`avsep.serve.engine.Separator` (the preprocessing the package records, chunking,
cross-fades, Wiener, resampling), and the pyfunc must give the same stems as ``avsep serve``.
``tracking`` sits below ``serve`` (DESIGN.md "Where the next capabilities live"), so the engine
is imported only inside :meth:`AvsepPyfunc.load_context` / :meth:`AvsepPyfunc.predict`, that
is, only in a process that runs the model; importing any ``avsep.tracking`` module (to
register, log or load packages) imports neither ``avsep.serve`` nor ``avsep.platform``. The
model is logged "from code" (:mod:`avsep.tracking.pyfunc_entry`): nothing pickled is stored or
executed.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE_ARTIFACT = "package"
WHEEL_ARTIFACT = "avsep_wheel"
EXAMPLE_SECONDS = 0.5


def _video(text: Any) -> list[np.ndarray]:
    if not isinstance(text, str) or not text:
        return []
    frames = np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"video must be a uint8 (T, H, W, 3) .npy array, got {frames.dtype} "
                         f"{frames.shape}")
    return [frames]


def encode_video(frames: np.ndarray) -> str:
    """(T, H, W, 3) uint8 -> the base64 ``.npy`` text of the ``video`` input column."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(frames, dtype=np.uint8), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a pinned dependency
    PythonModel = object  # type: ignore[assignment,misc]


class AvsepPyfunc(PythonModel):
    """``mlflow.pyfunc`` model over one avsep package (see the module docstring)."""

    def load_context(self, context: Any) -> None:
        # the inference engine belongs to serving (module docstring): imported here, in the
        # process that runs the model, so that importing avsep.tracking never imports serve
        from avsep.models.package import load_model_package
        from avsep.serve.engine import Separator

        model, payload = load_model_package(Path(context.artifacts[PACKAGE_ARTIFACT]))
        self.payload = payload
        self.separator = Separator(model, payload)

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201 - MLflow
        # reads a signature from type hints and would ignore the declared one
        """Rows (a DataFrame, a dict or a list of dicts; see the module docstring) -> a
        DataFrame of stems, one row each. Bad input raises ValueError naming the fix."""
        import pandas as pd

        from avsep.serve.engine import Request, parse_labels

        rows = []
        for record in records(model_input):
            check_row(record, self.payload)
            labels = parse_labels(record.get("labels") or None)
            request = Request(audio=mixture_of(record), rate=int(record["sample_rate"]),
                              videos=_video(record.get("video")), labels=labels,
                              wiener_iterations=int(self.payload.get("wiener_iterations", 0)))
            stems = self.separator.separate(request)
            if labels:  # a labelled request gets exactly its stems
                stems = {k: v for k, v in stems.items() if k in labels}
            rows.append({k: v.tolist() for k, v in stems.items()})
        return pd.DataFrame(rows)


def records(model_input: Any) -> list[dict[str, Any]]:
    """The request rows of ``model_input``: a pandas DataFrame (one row per request; what
    ``mlflow.pyfunc`` hands over after checking the signature, also for a dict input), a dict
    (one request) or a list of dicts."""
    import pandas as pd

    if isinstance(model_input, pd.DataFrame):
        return model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        return [model_input]
    if isinstance(model_input, list) and all(isinstance(r, dict) for r in model_input):
        return list(model_input)
    raise ValueError(f"expected a DataFrame with the columns mixture, sample_rate (labels, video "
                     f"optional), or a dict of them, got {type(model_input).__name__}; e.g. "
                     "{'mixture': np.ndarray (L,), 'sample_rate': 16000}")


def mixture_of(record: Mapping[str, Any]) -> np.ndarray:
    """The row's ``mixture`` (a list or a numpy array of L floats) as float32 (1, L)."""
    audio = np.asarray(record.get("mixture"), dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"mixture must be one mono waveform of L floats (a list or a 1-D numpy "
                         f"array), got shape {audio.shape}; average stereo channels first")
    return audio.reshape(1, -1)


def check_row(record: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    """ValueError naming the fix when ``record`` lacks what the package's model needs."""
    if record.get("sample_rate") is None:
        raise ValueError("each row needs sample_rate (Hz of its mixture), e.g. "
                         f"{payload['spec']['stft']['sample_rate']}")
    video = record.get("video")
    if "video" in payload.get("inputs", ()) and not (isinstance(video, str) and video):
        raise ValueError("this model is audio-visual: give each row a `video` (base64 .npy of "
                         "uint8 frames (T, H, W, 3) spanning the audio; "
                         "avsep.tracking.pyfunc.encode_video makes it), or load the audio-only "
                         "champion of the same registered model, models:/NAME@champion-audio")


def signature(sources: list[str]) -> Any:
    """The model signature: the input columns above; one (C, L) float list per source."""
    from mlflow.models import ModelSignature
    from mlflow.types import DataType
    from mlflow.types.schema import Array, ColSpec, Schema

    inputs = Schema([ColSpec(Array(DataType.double), "mixture"),
                     ColSpec(DataType.long, "sample_rate"),
                     ColSpec(DataType.string, "labels", required=False),
                     ColSpec(DataType.string, "video", required=False)])
    outputs = Schema([ColSpec(Array(Array(DataType.double)), s, required=False)
                      for s in sources])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(payload: dict[str, Any]) -> Any:
    """A short request that fits the package's contract (a 440 Hz tone; mid-grey video)."""
    import pandas as pd

    spec = payload["spec"]
    rate = int(spec["stft"]["sample_rate"])
    t = np.arange(int(rate * EXAMPLE_SECONDS)) / rate
    row: dict[str, Any] = {"mixture": (0.1 * np.sin(2 * np.pi * 440 * t)).tolist(),
                           "sample_rate": rate}
    if "labels" in payload.get("inputs", []):
        row["labels"] = ",".join(payload["sources"][:2])
    if "video" in payload.get("inputs", []):
        frames = int(np.ceil(EXAMPLE_SECONDS * float(spec["fps"]))) + 1
        size = tuple(spec.get("crop") or (32, 32))
        row["video"] = encode_video(np.full((frames, *size, 3), 128, np.uint8))
    return pd.DataFrame([row])


def log_pyfunc(package: Path, run_id: str, name: str = "pyfunc",
               workdir: Path | None = None) -> str:
    """Log the package under ``package`` as a pyfunc model of run ``run_id``; returns its
    model URI (for :func:`mlflow.register_model`). The tracking URI must be configured.

    Its requirements are one line: the wheel of the running avsep (:mod:`avsep.tracking.wheel`),
    logged as the artifact ``artifacts/<wheel>``; the wheel pins avsep's own dependencies."""
    import json
    import tempfile

    import mlflow

    from avsep.models.package import CONFIG_FILE, find_package
    from avsep.tracking.wheel import build_wheel

    folder = find_package(package)
    payload = json.loads((folder / CONFIG_FILE).read_text())
    with tempfile.TemporaryDirectory(prefix="avsep-wheel-", dir=workdir) as tmp, \
            mlflow.start_run(run_id=run_id):
        wheel = build_wheel(tmp)
        info = mlflow.pyfunc.log_model(
            name=name, python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
            artifacts={PACKAGE_ARTIFACT: str(folder), WHEEL_ARTIFACT: str(wheel)},
            signature=signature(list(payload["sources"])), input_example=input_example(payload),
            pip_requirements=[f"artifacts/{wheel.name}"])
    return info.model_uri

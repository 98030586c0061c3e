"""The validated experiment config: data, audio, model, train and eval sections (pydantic v2).

One :class:`ExperimentConfig` describes one training run. It is plain data: a search space
only picks values for it (``{"experiment": {...}}``), ``--config FILE`` (YAML or JSON) gives the
base values, and :func:`merge` lays one over the other. Every validation problem is raised as a
:class:`ConfigError` whose message names the source (file or "search space") and each bad field
with what was expected.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(ValueError):
    """A config that cannot be used; the message says where and what was expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the prepared cache is and how many items an epoch draws.

    ``options`` go to ``make_dataset(kind, cache, spec, split, **options)`` (e.g.
    ``extra_vocal_share``, ``num_sources``, ``curriculum``, ``vad_perturbation``, ``snr_db``).
    """

    cache: Path | None = Field(None, description="prepared cache folder (avsep prepare --out)")
    train_length: int = Field(64, ge=1, description="training items per epoch")
    val_length: int = Field(192, ge=1, description="items of the fixed validation set (192: "
                            "a model's val SI-SDR moves < 0.3 dB between validation seeds, "
                            "benchmarks/val_spread.py)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("cache")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(value).expanduser().resolve()


class AudioConfig(_Section):
    """Waveform handling around the model: white-noise augmentation of training mixtures."""

    noise_snr_db: float | None = Field(None, gt=0, le=120,
                                       description="SNR (dB) of added noise; None = off")


class ModelConfig(BaseModel):
    """``models.build`` input: ``name``, ``preset`` and the family's own options (extra keys)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    preset: Literal["tiny", "paper"] = "tiny"

    def build_dict(self) -> dict[str, Any]:
        """The mapping ``avsep.models.build`` takes (name, preset and every option)."""
        return self.model_dump()


class TrainConfig(_Section):
    """Optimiser, learning-rate schedule, length and stopping rule of a run.

    ``lr_schedule``: ``"none"`` keeps ``lr``; ``"plateau_half"`` halves it whenever the
    validation loss has not improved for ``lr_patience`` epochs since its last best or the last
    halving (Slizovskaia et al.: halved after 25k iterations without validation gain).
    ``patience``: early stopping after that many epochs without a validation-loss gain (Li et
    al.: 10). See :mod:`avsep.platform.optim`.
    """

    optimizer: Literal["adam", "adadelta"] = Field(
        "adam", description="adam, or adadelta (Swaminathan & Lerch's detector; lr 1.0)")
    lr: float = Field(1e-3, gt=0, le=1)
    batch_size: int = Field(4, ge=1, le=4096)
    epochs: int = Field(2, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(5.0, gt=0)
    lr_schedule: Literal["none", "plateau_half"] = Field(
        "none", description="plateau_half: halve lr after lr_patience epochs w/o val gain")
    lr_patience: int = Field(5, ge=1, description="plateau_half: epochs without a validation-"
                             "loss gain before the learning rate halves")
    patience: int = Field(10, ge=1, description="early stop after this many epochs w/o gain")
    seed: int = 0
    amp: bool = Field(True, description="bf16 autocast when on a GPU (ignored on CPU)")


class EvalConfig(_Section):
    """Validation: the Wiener iteration counts scored from one forward pass, the metric."""

    wiener_iterations: list[int] = Field(default_factory=lambda: [0])
    metric: Literal["si_sdr"] = "si_sdr"
    examples: int = Field(2, ge=0, description="validation examples saved as PNG + WAV")

    @field_validator("wiener_iterations")
    @classmethod
    def _counts(cls, value: list[int]) -> list[int]:
        if not value or any(v < 0 for v in value):
            raise ValueError("expected a non-empty list of iteration counts >= 0, e.g. [0, 1, 2]")
        return sorted(set(value))


class ExperimentConfig(_Section):
    """One training run: ``data``, ``audio``, ``model``, ``train``, ``eval``."""

    model: ModelConfig
    data: DataConfig = Field(default_factory=DataConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else in ``override`` replaces ``base``."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _describe(err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        got = problem.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {where}: {problem['msg']}{shown}")
    return "\n".join(lines)


def validate(raw: Mapping[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate ``raw``; a :class:`ConfigError` lists every bad field of ``source``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping with sections "
                          f"model/data/audio/train/eval, got {type(raw).__name__}")
    if "model" not in raw:
        raise ConfigError(f"{source}: missing section 'model' (e.g. model: {{name: cunet}})")
    try:
        return ExperimentConfig.model_validate(dict(raw))
    except ValidationError as err:
        raise ConfigError(f"{source}: invalid experiment config\n{_describe(err)}") from None


def read_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or JSON config file into a dict (not validated)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        elif path.suffix == ".json":
            raw = json.loads(text)
        else:
            raise ConfigError(f"{path}: expected a .yaml, .yml or .json file")
    except (json.JSONDecodeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{path}: cannot parse: {err}") from None
    except Exception as err:  # yaml.YAMLError has no common base we can import lazily
        raise ConfigError(f"{path}: cannot parse: {err}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got "
                          f"{type(raw).__name__}")
    return raw


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, Mapping) else v
            for k, v in values.items() if v is not None}


def load(path: str | Path | None = None, **overrides: Any) -> ExperimentConfig:
    """Load ``path`` (optional), deep-merge ``overrides`` (section dicts; ``None`` values are
    ignored, so unset command-line flags keep the file's values) and validate."""
    raw = read_file(path) if path else {}
    raw = merge(raw, _drop_none(overrides))
    return validate(raw, str(path) if path else "config")

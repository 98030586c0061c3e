"""Which caches a model or a search space needs, and the folder name of each.

A model's :class:`~avsep.models.base.ModelSpec` fixes what its cache must hold: the audio
sample rate, and for a model that sees video the crop (H, W), the video channels and a frame
rate at least its own (the datasets pick the nearest cached frame for each model frame, so a
cache at a higher fps feeds a model at a lower one). :func:`needs_of_space` samples a space's
define-by-run function (its paper points plus ``SAMPLES`` seeded random draws), builds every
distinct model on the meta device (no memory) and groups the specs:

* models that see video share one cache per ``(sample rate, audio channels, crop, video
  channels)``, at the highest fps any of them needs;
* audio-only models read any cache at their sample rate and audio channels (one with video
  too), so they get an audio-only cache only when no video cache has them.

Each cache's clip length is the longest of its models' clips (``--min-seconds``: every track
kept in it can feed every one of them).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

from avsep.data.prepare import PrepareSettings

SAMPLES = 64  # random draws of a space, on top of its paper points
FPS_TOLERANCE = 1e-6


@dataclass
class CacheNeed:
    """One cache to write: its settings, clip length and the models that read it."""

    settings: PrepareSettings
    clip_seconds: float
    models: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return cache_name(self.settings)


def _number(value: float) -> str:
    return format(float(value), ".10g")


def cache_name(settings: PrepareSettings) -> str:
    """``sr4000_mono_fps5.859375_crop16x16`` (``_gray`` for luma only), ``sr16000_mono_audio``
    (``_stereo`` for 2 channels, nothing when the channels are left as the files have them)."""
    name = f"sr{settings.sample_rate}"
    if settings.channels is not None:
        name += {1: "_mono", 2: "_stereo"}[settings.channels]
    if settings.fps is None or settings.crop is None:
        return f"{name}_audio"
    name += f"_fps{_number(settings.fps)}_crop{settings.crop[0]}x{settings.crop[1]}"
    return name + ("_gray" if settings.video_channels == 1 else "")


def settings_flags(settings: PrepareSettings) -> list[str]:
    """The ``avsep prepare`` flags that write a cache with ``settings``."""
    flags = ["--sample-rate", str(settings.sample_rate)]
    if settings.channels is not None:
        flags += ["--channels", str(settings.channels)]
    if settings.fps is not None and settings.crop is not None:
        crop = f"{settings.crop[0]}x{settings.crop[1]}"
        flags += ["--fps", _number(settings.fps), "--crop", crop]
        if settings.video_channels == 1:
            flags.append("--gray")
    return flags


def spec_settings(spec: Any) -> PrepareSettings:
    """The cache settings a model of ``spec`` needs (no video when it has no crop)."""
    crop = tuple(int(v) for v in spec.crop) if spec.crop and spec.fps else None
    return PrepareSettings(int(spec.stft.sample_rate), float(spec.fps) if crop else None,
                           crop, int(spec.video_channels),  # type: ignore[arg-type]
                           int(spec.channels))


def _build_spec(model: dict[str, Any]) -> Any:
    import torch

    from avsep.config import validate
    from avsep.models import build

    cfg = validate({"model": model}, f"model {model.get('name')!r}")
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # e.g. "random weights": irrelevant for the spec
        return build(cfg.model.build_dict()).spec


def group_needs(specs: list[tuple[str, Any]]) -> list[CacheNeed]:
    """Group ``(label, spec)`` pairs into the fewest caches (module docstring)."""
    video: dict[tuple[Any, ...], CacheNeed] = {}
    audio: dict[tuple[int, int | None], CacheNeed] = {}
    for label, spec in specs:
        settings = spec_settings(spec)
        clip = float(spec.clip_seconds)
        if settings.fps is None:
            need = audio.setdefault((settings.sample_rate, settings.channels),
                                    CacheNeed(settings, clip))
        else:
            key = (settings.sample_rate, settings.channels, settings.crop,
                   settings.video_channels)
            need = video.setdefault(key, CacheNeed(settings, clip))
            if settings.fps > need.settings.fps + FPS_TOLERANCE:  # type: ignore[operator]
                need.settings = settings
        need.clip_seconds = max(need.clip_seconds, clip)
        if label not in need.models:
            need.models.append(label)
    needs = list(video.values())
    rates = {(n.settings.sample_rate, n.settings.channels) for n in needs}
    for rate, need in audio.items():
        if rate in rates:  # a video cache at this rate feeds the audio-only models too
            for other in needs:
                if (other.settings.sample_rate, other.settings.channels) == rate:
                    other.clip_seconds = max(other.clip_seconds, need.clip_seconds)
                    other.models += [m for m in need.models if m not in other.models]
                    break
        else:
            needs.append(need)
    return sorted(needs, key=lambda n: n.name)


def needs_of_model(name: str, preset: str, options: dict[str, Any] | None = None
                   ) -> list[CacheNeed]:
    """The one cache model ``name`` needs at ``preset``."""
    model = {"name": name, "preset": preset, **(options or {})}
    return group_needs([(name, _build_spec(model))])


def sampled_models(space: Any, samples: int = SAMPLES, seed: int = 0) -> list[dict[str, Any]]:
    """The distinct ``model`` sections a space produces: its paper points, then ``samples``
    seeded random draws of its define-by-run function."""
    seen: dict[str, dict[str, Any]] = {}
    for experiment in space.sample(samples, seed):
        model = dict(experiment["model"])
        seen.setdefault(json.dumps(model, sort_keys=True, default=str), model)
    return list(seen.values())


def needs_of_space(space_name: str, preset: str, samples: int = SAMPLES,
                   base_model: dict[str, Any] | None = None,
                   ) -> tuple[list[CacheNeed], list[tuple[dict[str, Any], str]]]:
    """Every cache the models of search space ``space_name`` need at ``preset``, and the
    sampled models that did not build, with the reason (e.g. a pre-trained arm whose
    checkpoint option is not set: ``base_model`` holds options every model gets first, as the
    ``model`` section of ``avsep tune --config``)."""
    specs, failed = _space_specs(space_name, preset, samples, base_model)
    return group_needs(specs), failed


def upstream_spaces(space_name: str) -> list[str]:
    """The spaces whose champions ``space_name`` builds on (its module's ``STAGES``, e.g.
    ``vocalist`` before ``vocalist_ynet``), upstream first, each once."""
    import importlib

    from avsep.search_spaces import get

    module = importlib.import_module(get(space_name).function.__module__)
    found: list[str] = []
    for stage in getattr(module, "STAGES", ()):
        for name in [*upstream_spaces(stage["space"]), stage["space"]]:
            if name not in found:
                found.append(name)
    return found


def _space_specs(space_name: str, preset: str, samples: int,
                 base_model: dict[str, Any] | None) -> tuple[list[tuple[str, Any]], list]:
    """(model name, spec) of every sampled model of the space and of its upstream stages'
    spaces (their searches run first on the same data), and the samples that did not build."""
    from avsep.config import merge
    from avsep.search_spaces import get

    specs, failed = [], []
    for name in [*upstream_spaces(space_name), space_name]:
        for model in sampled_models(get(name), samples):
            full = merge(base_model or {}, {**model, "preset": preset})
            try:
                specs.append((str(model["name"]), _build_spec(full)))
            except (ValueError, KeyError, TypeError, OSError) as err:
                failed.append((full, str(err)))
    return specs, failed


__all__ = ["CacheNeed", "cache_name", "group_needs", "needs_of_model", "needs_of_space",
           "sampled_models", "settings_flags", "spec_settings"]

"""Find the prepared cache that fits a model; when none does, say the command that writes it.

``data.cache`` (``--data``) is one prepared cache (``avsep prepare --out CACHE``) or a folder of
caches (``DATA/<name>/index.json``, what ``avsep prepare --space`` writes): each model reads
the cache whose sample rate matches its ``spec`` and, for a model that sees video, whose crop
and video channels match and whose fps is at least the model's. One search can so span model
families with different sample rates (the ``zoo`` space).

Every "no cache fits" error ends with the ``avsep prepare`` command that writes the missing
cache, built from the layout, dataset root and split policy the existing caches' indexes
record (placeholders only for caches that do not record them). The cache picked for a model
has its files' recorded sizes checked (:mod:`avsep.data.integrity`).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsep.data.integrity import PLACEHOLDER_LAYOUT, PLACEHOLDER_ROOT, check_sizes

FPS_TOLERANCE = 1e-6


class DataPathError(FileNotFoundError):
    """The data folder is missing, is not a prepared cache, or fits no model."""


@dataclass(frozen=True)
class CacheInfo:
    """What a cache's index.json says about its contents and where they came from."""

    path: Path
    sample_rate: int
    fps: float | None
    crop: tuple[int, ...] | None
    video_channels: int | None
    splits: set[str]
    layout: str | None = None
    root: str | None = None
    split_policy: dict[str, Any] = field(default_factory=dict)
    channels: int | None = None  # the channels setting (None: as the dataset's files have them)
    audio_channels: int | None = None  # the setting, else the count all its tracks share

    def describe(self) -> str:
        return (f"{self.path} ({self.sample_rate} Hz, crop {self.crop}, fps {self.fps}, "
                f"splits {sorted(self.splits)})")


def _read_index(index: Path) -> CacheInfo:
    try:
        raw = json.loads(index.read_text())
        tracks = raw.get("tracks", [])
        channels = counts = raw.get("channels")
        if channels is None:  # an index without the setting: its tracks' common count
            found = {t.get("channels") for t in tracks} - {None}
            counts = found.pop() if len(found) == 1 else None
        return CacheInfo(path=index.parent, sample_rate=int(raw["sample_rate"]),
                         fps=raw.get("fps"), crop=tuple(raw["crop"]) if raw.get("crop") else None,
                         video_channels=raw.get("video_channels"),
                         splits={t.get("split") for t in tracks},
                         layout=raw.get("layout"), root=raw.get("root"),
                         split_policy=dict(raw.get("split_policy") or {}),
                         channels=channels, audio_channels=counts)
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as err:
        raise DataPathError(f"{index}: not a valid cache index ({type(err).__name__}: {err}); "
                            f"delete that folder and write it again with "
                            f"`{_first_prepare(index.parent)}`") from None


def _first_prepare(root: Path) -> str:
    return (f"avsep prepare --layout {PLACEHOLDER_LAYOUT} --root {PLACEHOLDER_ROOT} --out "
            f"{shlex.quote(str(root))} --space SPACE --preset tiny")


def find_caches(root: Path | str | None) -> list[CacheInfo]:
    """The caches at ``root`` (itself a cache, or a folder of caches); errors say what is wrong."""
    if root is None:
        raise DataPathError("no data folder given: pass --data CACHE (made by `avsep prepare "
                            "--layout LAYOUT --root DATASET --out CACHE --space SPACE`) or set "
                            "data.cache in the config")
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataPathError(f"{root}: data folder not found (expected a prepared cache, or a "
                            f"folder of caches); write one with `{_first_prepare(root)}`")
    indexes = [root / "index.json"] if (root / "index.json").is_file() else \
        sorted(root.glob("*/index.json"))
    if not indexes:
        raise DataPathError(f"{root}: no index.json here or in its subfolders; it is not a "
                            f"prepared cache. Write one with `{_first_prepare(root)}`")
    return [_read_index(i) for i in indexes]


def _video_reason(cache: CacheInfo, spec: Any) -> str | None:
    if cache.crop is None or tuple(cache.crop) != tuple(spec.crop):
        return f"crop {cache.crop}, model needs {list(spec.crop)}"
    if cache.video_channels is not None and cache.video_channels != spec.video_channels:
        return f"{cache.video_channels} video channels, model needs {spec.video_channels}"
    if cache.fps is None or float(cache.fps) + FPS_TOLERANCE < float(spec.fps):
        return f"video at {cache.fps} fps, model needs at least {spec.fps} fps"
    return None


def _fits(cache: CacheInfo, spec: Any, splits: tuple[str, ...]) -> str | None:
    """Why ``cache`` cannot feed a model of ``spec`` (None when it can)."""
    if cache.sample_rate != spec.stft.sample_rate:
        return f"sample rate {cache.sample_rate} Hz, model needs {spec.stft.sample_rate} Hz"
    if cache.audio_channels is not None and cache.audio_channels != spec.channels:
        return f"{cache.audio_channels} audio channel(s), model needs {spec.channels}"
    if spec.fps is not None and spec.crop is not None:
        reason = _video_reason(cache, spec)
        if reason is not None:
            return reason
    missing = [s for s in splits if s not in cache.splits]
    if missing:
        return f"no tracks in split(s) {missing}"
    return None


def _source_flags(caches: list[CacheInfo]) -> list[str]:
    """``--layout L --root R`` (+ split flags) from the first cache that records them."""
    known = next((c for c in caches if c.layout and c.root), None)
    if known is None:
        return ["--layout", PLACEHOLDER_LAYOUT, "--root", PLACEHOLDER_ROOT]
    flags = ["--layout", str(known.layout), "--root", str(known.root)]
    return flags + _split_flags(known.split_policy)


def _split_flags(policy: dict[str, Any]) -> list[str]:
    from avsep.data.splits import SplitPolicy

    return SplitPolicy.from_json(policy).cli_flags() if policy.get("name") else []


def fix_command(root: Path | str, caches: list[CacheInfo], spec: Any,
                space: str | None = None, preset: str | None = None) -> str:
    """The ``avsep prepare`` command(s) that write a cache fitting ``spec`` where ``--data
    root`` finds it (the folder of caches, or beside a single cache)."""
    from avsep.data.needs import cache_name, settings_flags, spec_settings

    root = Path(root).expanduser().resolve()
    single = (root / "index.json").is_file()
    folder = root.parent if single else root
    settings = spec_settings(spec)
    source = _source_flags(caches)
    lines = ["avsep prepare " + shlex.join(
        source + ["--out", str(folder / cache_name(settings))] + settings_flags(settings))]
    if space:
        lines.append("or every cache the space needs: avsep prepare " + shlex.join(
            source + ["--out", str(folder), "--space", space, "--preset", preset or "tiny"]))
    text = "write the missing cache with:\n  " + "\n  ".join(lines)
    if single:
        text += f"\nthen pass --data {shlex.quote(str(folder))} (the folder of caches)"
    return text


def _split_fix(root: Path | str, cache: CacheInfo, missing: list[str]) -> str:
    """The command that re-prepares ``cache`` so that it has the ``missing`` splits."""
    from avsep.data.needs import settings_flags
    from avsep.data.prepare import PrepareSettings

    settings = PrepareSettings(cache.sample_rate, cache.fps,
                               tuple(cache.crop) if cache.crop else None,  # type: ignore[arg-type]
                               int(cache.video_channels or 3), cache.channels)
    layout = cache.layout or PLACEHOLDER_LAYOUT
    policy = cache.split_policy.get("name")
    if policy == "hash":
        how = ["--split-fractions", "0.6,0.2,0.2"]
        note = (" (the dataset may hold too few pieces/performers for disjoint splits; "
                "--splits FILE assigns them by hand)")
    else:
        how, note = ["--split-policy", "hash"], ""
    cmd = shlex.join(["avsep", "prepare", "--layout", layout, "--root",
                      cache.root or PLACEHOLDER_ROOT, "--out", str(cache.path)]
                     + settings_flags(settings) + how)
    return f"{cache.path} has no {missing} tracks; re-split it with:\n  {cmd}{note}"


def resolve_cache(root: Path | str | None, spec: Any,
                  splits: tuple[str, ...] = ("train", "val"), *,
                  space: str | None = None, preset: str | None = None) -> Path:
    """The cache under ``root`` that fits a model of ``spec``, the lowest-fps one when several
    do; else a :class:`DataPathError` with a reason per cache and the command that fixes it
    (``space``/``preset`` add the ``--space`` form of that command).

    The files of the chosen cache's ``splits`` are checked against the sizes its index records
    (:func:`avsep.data.integrity.check_sizes`, one ``stat`` each), so ``train``, ``tune``,
    ``eval`` and ``reproduce``, which all pick their cache here before they start, stop on a
    truncated or missing file with a :class:`~avsep.data.integrity.CacheIntegrityError` naming
    it and the ``avsep prepare`` command that rewrites it."""
    caches = find_caches(root)
    fitting = [c for c in caches if _fits(c, spec, splits) is None]
    if fitting:
        chosen = min(fitting, key=lambda c: float(c.fps or 0.0)).path
        check_sizes(chosen, splits)  # before the run reads it: CacheIntegrityError names the fix
        return chosen
    reasons = [f"  {c.path}: {_fits(c, spec, splits)}" for c in caches]
    almost = [c for c in caches if _fits(c, spec, ()) is None]
    if almost:
        missing = [s for s in splits if s not in almost[0].splits]
        fix = _split_fix(root, almost[0], missing)  # type: ignore[arg-type]
    else:
        fix = fix_command(root, caches, spec, space, preset)  # type: ignore[arg-type]
    raise DataPathError(f"no prepared cache under {root} fits the model (sample rate "
                        f"{spec.stft.sample_rate} Hz, crop {spec.crop}, fps {spec.fps}):\n"
                        + "\n".join(reasons) + "\n" + fix)


__all__ = ["CacheInfo", "DataPathError", "find_caches", "fix_command", "resolve_cache"]

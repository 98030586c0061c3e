"""Dataset layout readers: one module per on-disk layout (see docs/contracts.md).

Each module exposes ``read(root, *, skip_bad=False, **options) -> (records, problems)``.
Modules are imported on first use, so a layout whose reader is missing or broken does not stop
the others from working.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

from avsep.data.records import Problem, TrackRecord

# layout name -> module that reads it
LAYOUTS: dict[str, str] = {
    "musdb18": "avsep.data.layouts.musdb18",
    "urmp": "avsep.data.layouts.urmp",
    "solos": "avsep.data.layouts.solos",
    "acappella": "avsep.data.layouts.acappella",
    "mir1k": "avsep.data.layouts.mir1k",
    "ursing": "avsep.data.layouts.ursing",
    "avsep_synth": "avsep.data.layouts.avsep_synth",
}


def get_layout(name: str) -> ModuleType:
    """The reader module of layout ``name``; ValueError listing valid names otherwise."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; valid layouts: {', '.join(LAYOUTS)}")
    try:
        return importlib.import_module(LAYOUTS[name])
    except ModuleNotFoundError as err:
        if err.name == LAYOUTS[name]:
            raise ValueError(f"layout {name!r} is not available yet ({LAYOUTS[name]} "
                             "is missing)") from err
        raise


def read_layout(name: str, root: Path | str,
                **options: Any) -> tuple[list[TrackRecord], list[Problem]]:
    """``LAYOUTS[name].read(Path(root), **options)``; an option the reader does not take is a
    ValueError naming the options it does take."""
    read = get_layout(name).read
    params = inspect.signature(read).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            known = [k for k, p in params.items() if p.kind is p.KEYWORD_ONLY]
            raise ValueError(f"layout {name!r} has no option(s) {unknown}; its options: {known}")
    return read(Path(root), **options)


__all__ = ["LAYOUTS", "get_layout", "read_layout"]

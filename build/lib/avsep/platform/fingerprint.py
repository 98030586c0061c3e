"""The data fingerprint of a search: what its validation score depends on besides the model.

The champion guard (:mod:`avsep.tracking.registry`) compares fingerprints as opaque strings:
a champion validated on other data is not dethroned by a higher number. The fingerprint is
computed here, where the caches are known, and handed to the guard in its
:class:`~avsep.tracking.registry.Candidate`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def data_fingerprint(base: Mapping[str, Any]) -> str:
    """sha256 (16 hex) of the cache index(es) under ``data.cache``, the split scored (``val``),
    ``data.val_length``, the dataset options (seeds, sources, shares) and ``train.seed``.
    ``base`` is an experiment config dict."""
    from avsep.config import DataConfig
    from avsep.platform.caches import find_caches

    data = dict(base.get("data", {}))
    digest = hashlib.sha256()
    for cache in sorted(find_caches(data.get("cache")), key=lambda c: str(c.path)):
        digest.update(hashlib.sha256((Path(cache.path) / "index.json").read_bytes()).digest())
    val_length = data.get("val_length", DataConfig.model_fields["val_length"].default)
    digest.update(json.dumps({"split": "val", "val_length": val_length,
                              "options": data.get("options", {}),
                              "seed": base.get("train", {}).get("seed", 0)},
                             sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]

"""The champion guard: which searches register a model version, and which move ``@champion``.

Rules (one implementation for every search):

1. **Baseline.** A version is registered only when the best trial beats the mixture taken as
   the estimate on the validation set (``val/sdri`` > 0 at the registered epoch, see
   :mod:`avsep.platform.validation`). Models without that baseline (non-separators) skip it.
2. **Comparable champions.** ``@champion`` moves to the new version only when there is no
   champion yet, or the current one was chosen on the same objective *and* the same data
   fingerprint (:func:`data_fingerprint`) and the new value is strictly better, or ``force``.
   Otherwise the version is registered and the alias stays.

Every version carries the tags ``objective``, ``objective_value``, ``data_fingerprint``,
``val_sdr_mixture`` and ``val_sdri``; :func:`register` returns a :class:`Verdict` whose
``message`` says which case happened. A separator is registered as the pyfunc of
:mod:`avsep.platform.pyfunc` around the run's model package; a model with no stems to serve
(task ``sync``: VocaLiST) as the package folder itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsep.platform.objectives import Objective

CHAMPION = "champion"


def data_fingerprint(base: Mapping[str, Any]) -> str:
    """sha256 (16 hex) of what the validation score depends on besides the model: the cache
    index(es) under ``data.cache``, the split scored (``val``), ``data.val_length`` and the
    dataset options (seeds, sources, shares). ``base`` is an experiment config dict."""
    from avsep.config import DataConfig
    from avsep.platform.data import find_caches

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


@dataclass
class Candidate:
    """The best trial of a search at its registered epoch."""

    run_id: str
    objective: Objective
    value: float
    fingerprint: str
    sdr_mixture: float | None = None  # val/sdr_mixture at that epoch (None: no baseline)
    sdri: float | None = None  # val/sdri at that epoch

    def tags(self) -> dict[str, str]:
        tags = {"objective": str(self.objective), "objective_value": f"{self.value:.6g}",
                "data_fingerprint": self.fingerprint}
        if self.sdri is not None:
            tags.update(val_sdr_mixture=f"{self.sdr_mixture:.6g}", val_sdri=f"{self.sdri:.6g}")
        return tags


@dataclass
class Verdict:
    """What :func:`decide` (and :func:`register`) concluded."""

    register: bool
    promote: bool
    reason: str
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        if not self.register:
            return f"not registered: {self.reason}"
        if self.promote:
            return f"registered version {self.version} and promoted it to @{CHAMPION} " \
                   f"({self.reason})"
        return f"registered version {self.version}; @{CHAMPION} kept because {self.reason}"


def decide(candidate: Candidate, current: Mapping[str, str] | None, force: bool = False
           ) -> Verdict:
    """The guard's rules (module docstring); ``current``: the champion version's tags or None."""
    if candidate.sdri is not None and not candidate.sdri > 0:
        return Verdict(False, False, f"below the mixture baseline: val/sdri "
                                     f"{candidate.sdri:+.2f} dB (val/sdr_mixture "
                                     f"{candidate.sdr_mixture:.2f} dB)")
    if current is None:
        return Verdict(True, True, "no champion yet")
    if force:
        return Verdict(True, True, "--force")
    if current.get("objective") != str(candidate.objective):
        return Verdict(True, False, f"the champion was chosen on {current.get('objective')!r}, "
                                    f"this search on {str(candidate.objective)!r} (use --force "
                                    "to promote anyway)")
    if current.get("data_fingerprint") != candidate.fingerprint:
        return Verdict(True, False, f"the champion was validated on other data (fingerprint "
                                    f"{current.get('data_fingerprint')} != "
                                    f"{candidate.fingerprint}; use --force to promote anyway)")
    old = float(current.get("objective_value", "nan"))
    sign = 1.0 if candidate.objective.mode == "max" else -1.0
    if math.isfinite(old) and not sign * (candidate.value - old) > 0:
        return Verdict(True, False, f"the new model is not better: {candidate.objective} "
                                    f"{old:.4g} (champion) vs {candidate.value:.4g} (new)")
    return Verdict(True, True, f"{candidate.objective} {candidate.value:.4g} beats the "
                               f"champion's {old:.4g}")


def current_champion(client: Any, name: str) -> Mapping[str, str] | None:
    """The tags of ``name@champion`` (with ``version``), or None when there is none."""
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:  # noqa: BLE001 - RESOURCE_DOES_NOT_EXIST (no model or no alias)
        return None
    return {**version.tags, "version": str(version.version)}


def register(uri: str, candidate: Candidate, name: str, force: bool = False,
             tags: Mapping[str, str] | None = None, description: str | None = None,
             workdir: Path | None = None) -> Verdict:
    """Apply the guard to ``candidate``; register its pyfunc model and move the alias when the
    verdict says so. The run's ``model`` artifact (the package) is downloaded to ``workdir``."""
    import tempfile

    import mlflow

    from avsep.models.package import CONFIG_FILE, find_package
    from avsep.platform.mlflow_utils import MODEL_ARTIFACT, configure
    from avsep.platform.pyfunc import log_pyfunc

    configure(uri)
    client = mlflow.MlflowClient()
    current = current_champion(client, name)
    verdict = decide(candidate, current, force)
    if current is not None:
        verdict.extra["previous_version"] = current["version"]
    if not verdict.register:
        return verdict
    all_tags = {**{k: str(v) for k, v in (tags or {}).items()}, **candidate.tags()}
    with tempfile.TemporaryDirectory(prefix="avsep-champion-", dir=workdir) as tmp:
        package = find_package(mlflow.artifacts.download_artifacts(
            run_id=candidate.run_id, artifact_path=MODEL_ARTIFACT, dst_path=tmp))
        task = json.loads((package / CONFIG_FILE).read_text()).get("task")
        if task == "separation":
            version = mlflow.register_model(log_pyfunc(package, candidate.run_id), name,
                                            tags=all_tags)
        else:  # no stems to serve (e.g. a lip-sync model): the package folder itself
            try:
                client.get_registered_model(name)
            except Exception:  # noqa: BLE001 - RESOURCE_DOES_NOT_EXIST
                client.create_registered_model(name)
            source = f"{client.get_run(candidate.run_id).info.artifact_uri}/{MODEL_ARTIFACT}"
            version = client.create_model_version(name, source=source, run_id=candidate.run_id,
                                                  tags=all_tags)
    verdict.version = str(version.version)
    if description:
        client.update_model_version(name, verdict.version, description=description)
    if verdict.promote:
        client.set_registered_model_alias(name, CHAMPION, verdict.version)
    return verdict

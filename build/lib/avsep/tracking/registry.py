"""The champion guard: which searches register a model version, and which aliases move.

One registered model (``avsep-<space>`` by default) holds the best model of each input
contract under its own alias:

* ``@champion`` (:data:`CHAMPION`): the best model overall;
* ``@champion-audio`` (:data:`CHAMPION_AUDIO`): the best separator whose inputs hold no
  ``video`` (it serves a plain song). When the overall winner is audio-only, both aliases point
  at its version.

Rules (one implementation for every search), applied per alias:

1. **Baseline.** A version is registered only when the candidate beats the mixture taken as
   the estimate on the validation set (``val/sdri`` > 0 at the registered epoch, computed by
   ``avsep.platform.validation``). Models without that baseline (non-separators) skip it.
2. **Comparable champions.** An alias moves to the new version only when it points nowhere
   yet, or its version was chosen on the same objective *and* the same data fingerprint and
   the new value is strictly better, or ``force``. Otherwise the alias stays.
3. **One search, two contracts.** :func:`register_champions` takes a search's trials best
   first. The first is registered (rule 1) and guarded for every alias its contract may hold
   (:func:`aliases_for`). When it needs video, the best audio-only separator after it is
   guarded for ``@champion-audio`` and registered only when that alias moves to it.

Every version carries the tags ``objective``, ``objective_value``, ``data_fingerprint``,
``val_sdr_mixture``, ``val_sdri`` and ``inputs``; :func:`register` and
:func:`register_champions` return a :class:`Registration` whose ``message`` says which case
happened for each alias. A separator is registered as the pyfunc of
:mod:`avsep.tracking.pyfunc` around the run's model package; a model with no stems to serve
(task ``sync``: VocaLiST) as the package folder itself.

The fingerprint and the objective are data here: the caller (``avsep.platform``) computes
them, so this package imports nothing from ``platform`` or ``serve``.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

CHAMPION = "champion"
CHAMPION_AUDIO = "champion-audio"
ALIASES = (CHAMPION, CHAMPION_AUDIO)


class ObjectiveLike(Protocol):
    """A search objective: ``str()`` gives ``"METRIC:MODE"`` and ``mode`` is ``"max"`` or
    ``"min"`` (``avsep.platform.objectives.Objective`` is one)."""

    mode: str


def aliases_for(contract: Mapping[str, Any]) -> tuple[str, ...]:
    """The aliases a model package may hold, from its ``config.json`` payload (``task``,
    ``inputs``): every model ``@champion``; a separator without ``video`` also
    ``@champion-audio``."""
    audio_only = contract.get("task") == "separation" and "video" not in contract.get("inputs", ())
    return (CHAMPION, CHAMPION_AUDIO) if audio_only else (CHAMPION,)


@dataclass
class Candidate:
    """One trial of a search at its registered epoch. ``tags`` and ``description`` are extra
    version tags (space, study, trial) and the version's description."""

    run_id: str
    objective: ObjectiveLike
    value: float
    fingerprint: str
    sdr_mixture: float | None = None  # val/sdr_mixture at that epoch (None: no baseline)
    sdri: float | None = None  # val/sdri at that epoch
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None

    def version_tags(self, contract: Mapping[str, Any]) -> dict[str, str]:
        """The tags of the version registered from this candidate (``contract``: its package's
        config.json payload)."""
        tags = {**{k: str(v) for k, v in self.tags.items()}, "objective": str(self.objective),
                "objective_value": f"{self.value:.6g}", "data_fingerprint": self.fingerprint,
                "inputs": ",".join(contract.get("inputs", ()))}
        if self.sdri is not None:
            tags.update(val_sdr_mixture=f"{self.sdr_mixture:.6g}", val_sdri=f"{self.sdri:.6g}")
        return tags


@dataclass
class Verdict:
    """What :func:`decide` concluded for one alias (``version``: set once registered)."""

    register: bool
    promote: bool
    reason: str
    version: str | None = None
    alias: str = CHAMPION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        if not self.register:
            return f"not registered: {self.reason}"
        if self.promote:
            return f"registered version {self.version} and promoted it to @{self.alias} " \
                   f"({self.reason})"
        return f"registered version {self.version}; @{self.alias} kept because {self.reason}"


@dataclass
class Registration:
    """The verdicts of one search, one per alias considered (``@champion`` first). The
    properties read the ``@champion`` verdict, as a search's headline."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)

    @property
    def main(self) -> Verdict:
        return self.verdicts[CHAMPION]

    @property
    def register(self) -> bool:
        return self.main.register

    @property
    def promote(self) -> bool:
        return self.main.promote

    @property
    def version(self) -> str | None:
        return self.main.version

    @property
    def reason(self) -> str:
        return self.main.reason

    def moved(self) -> dict[str, str]:
        """``{alias: version}`` of every alias this registration moved."""
        return {a: str(v.version) for a, v in self.verdicts.items() if v.promote}

    @property
    def message(self) -> str:
        """One clause per alias, e.g. ``registered version 3 and promoted it to @champion
        (...); @champion-audio: registered version 2; @champion-audio kept because ...``."""
        parts = [self.main.message]
        for alias, verdict in self.verdicts.items():
            if alias != CHAMPION:
                parts.append(f"@{alias}: {verdict.message}")
        return "; ".join(parts)


def decide(candidate: Candidate, current: Mapping[str, str] | None, force: bool = False,
           alias: str = CHAMPION) -> Verdict:
    """The guard's rules 1-2 (module docstring) for ``alias``; ``current``: the tags of the
    version the alias points at, or None."""
    if candidate.sdri is not None and not candidate.sdri > 0:
        return Verdict(False, False, f"below the mixture baseline: val/sdri "
                                     f"{candidate.sdri:+.2f} dB (val/sdr_mixture "
                                     f"{candidate.sdr_mixture:.2f} dB)", alias=alias)
    if current is None:
        return Verdict(True, True, f"no @{alias} yet", alias=alias)
    if force:
        return Verdict(True, True, "--force", alias=alias)
    if current.get("objective") != str(candidate.objective):
        return Verdict(True, False, f"@{alias} was chosen on {current.get('objective')!r}, "
                                    f"this search on {str(candidate.objective)!r} (use --force "
                                    "to promote anyway)", alias=alias)
    if current.get("data_fingerprint") != candidate.fingerprint:
        return Verdict(True, False, f"@{alias} was validated on other data (fingerprint "
                                    f"{current.get('data_fingerprint')} != "
                                    f"{candidate.fingerprint}; use --force to promote anyway)",
                       alias=alias)
    old = float(current.get("objective_value", "nan"))
    sign = 1.0 if candidate.objective.mode == "max" else -1.0
    if math.isfinite(old) and not sign * (candidate.value - old) > 0:
        return Verdict(True, False, f"the new model is not better: {candidate.objective} "
                                    f"{old:.4g} (@{alias}) vs {candidate.value:.4g} (new)",
                       alias=alias)
    return Verdict(True, True, f"{candidate.objective} {candidate.value:.4g} beats "
                               f"@{alias}'s {old:.4g}", alias=alias)


def current_champion(client: Any, name: str, alias: str = CHAMPION) -> Mapping[str, str] | None:
    """The tags of ``name@alias`` (with ``version``), or None when there is none."""
    try:
        version = client.get_model_version_by_alias(name, alias)
    except Exception:  # noqa: BLE001 - RESOURCE_DOES_NOT_EXIST (no model or no alias)
        return None
    return {**version.tags, "version": str(version.version)}


def run_contract(run_id: str, workdir: Path | None = None) -> dict[str, Any] | None:
    """The ``config.json`` payload of run ``run_id``'s model package (task, inputs, sources,
    spec), or None when the run logged none. Reads that one file, not the weights."""
    import mlflow

    from avsep.models.package import CONFIG_FILE
    from avsep.tracking.store import MODEL_ARTIFACT

    with tempfile.TemporaryDirectory(prefix="avsep-contract-", dir=workdir) as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=f"{MODEL_ARTIFACT}/{CONFIG_FILE}", dst_path=tmp)
        except Exception:  # noqa: BLE001 - no package logged (MLflow raises several kinds)
            return None
        return json.loads(Path(path).read_text())


def register(uri: str, candidate: Candidate, name: str, force: bool = False,
             tags: Mapping[str, str] | None = None, description: str | None = None,
             workdir: Path | None = None) -> Registration:
    """Apply the guard to one ``candidate`` for every alias its contract may hold; register
    it and move the aliases the verdicts allow. ``tags``/``description`` add to the
    candidate's own."""
    if tags or description:
        candidate = replace(candidate, tags={**candidate.tags, **(tags or {})},
                            description=description or candidate.description)
    return register_champions(uri, [candidate], name, force=force, workdir=workdir)


def register_champions(uri: str, ranked: Iterable[Candidate], name: str, force: bool = False,
                       workdir: Path | None = None,
                       outage_limit_s: float | None = None) -> Registration:
    """Rule 3 of the module docstring over a search's candidates, best first (an iterator is
    read only as far as needed). Raises ValueError when ``ranked`` is empty or its first
    candidate logged no model package. A tracking server that is away is waited for first, up
    to ``outage_limit_s`` (default 600 s; :func:`avsep.tracking.spool.wait_for_server`)."""
    import mlflow

    from avsep.tracking.spool import DEFAULT_OUTAGE_LIMIT_S, wait_for_server
    from avsep.tracking.store import configure

    wait_for_server(uri, outage_limit_s or DEFAULT_OUTAGE_LIMIT_S)
    configure(uri)
    client = mlflow.MlflowClient()
    candidates = iter(ranked)
    best = next(candidates, None)
    contract = None if best is None else run_contract(best.run_id, workdir)
    if best is None or contract is None:
        where = "no candidate was given" if best is None else \
            f"run {best.run_id} has no model/config.json artifact"
        raise ValueError(f"register_champions needs a first candidate whose run logged a model "
                         f"package (the `model` artifact): {where}")
    aliases = aliases_for(contract)
    outcome = Registration(_guard(client, best, contract, name, aliases, force, workdir,
                                  register_kept=True))
    if contract.get("task") == "separation" and CHAMPION_AUDIO not in aliases:
        outcome.verdicts[CHAMPION_AUDIO] = _audio_runner_up(client, candidates, name, force,
                                                            workdir)
    return outcome


def _audio_runner_up(client: Any, candidates: Iterable[Candidate], name: str, force: bool,
                     workdir: Path | None) -> Verdict:
    """The ``@champion-audio`` verdict of the best audio-only separator in ``candidates``."""
    for candidate in candidates:
        contract = run_contract(candidate.run_id, workdir)
        if contract is not None and CHAMPION_AUDIO in aliases_for(contract):
            verdicts = _guard(client, candidate, contract, name, (CHAMPION_AUDIO,), force,
                              workdir, register_kept=False)
            return verdicts[CHAMPION_AUDIO]
    return Verdict(False, False, "no audio-only model among this search's trials",
                   alias=CHAMPION_AUDIO)


def _guard(client: Any, candidate: Candidate, contract: Mapping[str, Any], name: str,
           aliases: tuple[str, ...], force: bool, workdir: Path | None,
           register_kept: bool) -> dict[str, Verdict]:
    """Decide each alias for ``candidate``; register it when some verdict registers it (or,
    with ``register_kept=False``, only when an alias moves to it); move those aliases."""
    verdicts = {}
    for alias in aliases:
        current = current_champion(client, name, alias)
        verdicts[alias] = decide(candidate, current, force, alias)
        if current is not None:
            verdicts[alias].extra["previous_version"] = current["version"]
    wanted = any(v.promote for v in verdicts.values()) or (
        register_kept and any(v.register for v in verdicts.values()))
    if not wanted:
        for verdict in verdicts.values():
            if verdict.register:  # guarded, but nothing would point at the new version
                verdict.register, verdict.reason = False, \
                    f"@{verdict.alias} stays at version {verdict.extra['previous_version']}: " \
                    f"{verdict.reason}"
        return verdicts
    version = _register_version(client, candidate, contract, name, workdir)
    for alias, verdict in verdicts.items():
        verdict.version = version
        if verdict.promote:
            client.set_registered_model_alias(name, alias, version)
    return verdicts


def _register_version(client: Any, candidate: Candidate, contract: Mapping[str, Any],
                      name: str, workdir: Path | None) -> str:
    """Register ``candidate``'s run as a new version of ``name``; returns its number. A
    separator becomes a pyfunc model; another model its package folder."""
    import mlflow

    from avsep.models.package import find_package
    from avsep.tracking.pyfunc import log_pyfunc
    from avsep.tracking.store import MODEL_ARTIFACT

    tags = candidate.version_tags(contract)
    if contract.get("task") == "separation":
        with tempfile.TemporaryDirectory(prefix="avsep-champion-", dir=workdir) as tmp:
            package = find_package(mlflow.artifacts.download_artifacts(
                run_id=candidate.run_id, artifact_path=MODEL_ARTIFACT, dst_path=tmp))
            version = mlflow.register_model(log_pyfunc(package, candidate.run_id, workdir=workdir),
                                            name, tags=tags)
    else:  # no stems to serve (e.g. a lip-sync model): the package folder itself
        try:
            client.get_registered_model(name)
        except Exception:  # noqa: BLE001 - RESOURCE_DOES_NOT_EXIST
            client.create_registered_model(name)
        source = f"{client.get_run(candidate.run_id).info.artifact_uri}/{MODEL_ARTIFACT}"
        version = client.create_model_version(name, source=source, run_id=candidate.run_id,
                                              tags=tags)
    if candidate.description:
        client.update_model_version(name, str(version.version),
                                    description=candidate.description)
    return str(version.version)


def champion_lines(uri: str, name: str) -> list[str]:
    """One line per alias of registered model ``name``: the version it points at (inputs,
    objective value) or that it points nowhere yet, e.g.
    ``models:/avsep-av_singing@champion-audio = version 2 (inputs mixture; val/sdr:max 6.1)``."""
    import mlflow

    from avsep.tracking.store import configure

    configure(uri)
    client = mlflow.MlflowClient()
    lines = []
    for alias in ALIASES:
        tags = current_champion(client, name, alias)
        if tags is None:
            what = "audio-only separator" if alias == CHAMPION_AUDIO else "model"
            lines.append(f"models:/{name}@{alias}: none yet (registered by a search whose best "
                         f"{what} beats the mixture)")
        else:
            lines.append(f"models:/{name}@{alias} = version {tags['version']} (inputs "
                         f"{tags.get('inputs') or '?'}; {tags.get('objective', '?')} "
                         f"{tags.get('objective_value', '?')})")
    return lines

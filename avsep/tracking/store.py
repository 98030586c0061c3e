"""MLflow: store checks, one run per trial, artifacts, and the model registry.

* :func:`check_tracking_uri` runs before any trial: a sqlite store's folder must be writable, a
  server must answer ``/health`` within a few seconds, the plain ``./mlruns`` file store is
  refused (current MLflow no longer supports it).
* :class:`RunLogger` is used by rank 0 of a training run: params (the flattened experiment
  config), per-epoch metrics, tags (space, study, code version), artifacts. MLflow metric names
  may not contain ``@``, so ``val/sdr@w1`` is logged as ``val/sdr_w1``.
* the champion guard and registration live in :mod:`avsep.tracking.registry`; the pyfunc
  model in :mod:`avsep.tracking.pyfunc`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

MODEL_ARTIFACT = "model"


class TrackingError(RuntimeError):
    """The MLflow tracking URI cannot be used; the message says why."""


def resolve_tracking_uri(explicit: str | None = None, root: Path | None = None) -> str:
    """The tracking URI every command uses, by MLflow's own precedence.

    ``explicit`` (``--mlflow-uri``) first, then ``$MLFLOW_TRACKING_URI``, then the embedded
    default ``sqlite:///<root or $AVSEP_HOME>/mlflow.db``. Not checked: see
    :func:`check_tracking_uri`.
    """
    from avsep import settings

    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or settings.default_mlflow_uri(root)


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> str:
    """Return ``uri`` when MLflow can use it, else raise :class:`TrackingError`."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.is_absolute():
            raise TrackingError(f"{uri}: use an absolute sqlite path (sqlite:////abs/mlflow.db); "
                                "Ray Tune changes each trial's working directory")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TrackingError(f"{uri}: cannot create {path.parent}: {err}") from None
        return uri
    if is_tracking_server(uri):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310
                if reply.status != 200:
                    raise TrackingError(f"{uri}: MLflow server answered {reply.status} on /health")
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise TrackingError(f"{uri}: MLflow server unreachable ({err}); start it (e.g. "
                                "`mlflow server` on the head node) or pass another --mlflow-uri"
                                ) from None
        return uri
    if uri.startswith(("postgresql", "mysql", "mssql", "databricks")):
        return uri
    raise TrackingError(f"{uri}: unsupported MLflow tracking URI; expected sqlite:////abs/path.db, "
                        "http(s)://server:port or a database URI (the ./mlruns file store is "
                        "refused by current MLflow)")


def check_cluster_tracking_uri(uri: str, nodes: int) -> str:
    """Refuse a tracking URI that trials on other nodes cannot reach: a sqlite file (each node
    would write its own) or a loopback server, when the Ray cluster has ``nodes`` > 1."""
    if nodes <= 1:
        return uri
    host = urllib.parse.urlparse(uri).hostname or ""
    if uri.startswith("sqlite:") or host in ("localhost", "::1") or host.startswith("127."):
        raise TrackingError(f"{uri}: trials on the other {nodes - 1} node(s) of this Ray cluster "
                            "cannot reach it; start `mlflow server` on the head bound to its "
                            "routable address and pass --mlflow-uri http://<head ip>:5000")
    return uri


def mlflow_metric_name(name: str) -> str:
    """``val/sdr@w1`` -> ``val/sdr_w1`` (MLflow forbids ``@`` in metric names)."""
    return name.replace("@", "_")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}``; lists become JSON strings."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list | tuple) else value
    return flat


def code_version(root: Path | None = None) -> str:
    """The git commit of the code (with ``-dirty`` when modified), or the package version."""
    from avsep import __version__

    root = root or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"avsep-{__version__}"


def is_tracking_server(uri: str) -> bool:
    """Whether ``uri`` names an MLflow tracking server (``http(s)://``), not a store."""
    return uri.startswith(("http://", "https://"))


def is_local_store(uri: str) -> bool:
    """Whether ``uri`` is a sqlite store: no server that could be away, so its errors are
    raised at once instead of waited out."""
    return uri.startswith("sqlite:")


@contextlib.contextmanager
def environment_restored(*names: str) -> Iterator[None]:
    """The environment variables ``names`` are put back as they were (set or unset) when the
    block ends, whatever it wrote to them."""
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def configure(uri: str) -> None:
    """Point MLflow's tracking and registry at ``uri`` in this process only.

    ``mlflow.set_tracking_uri`` and ``set_registry_uri`` also write ``$MLFLOW_TRACKING_URI`` and
    ``$MLFLOW_REGISTRY_URI``, which :func:`resolve_tracking_uri` reads as the user's choice: a
    second command in the same process (a notebook, a test) would then use the first one's store
    instead of its own default. The environment is put back as it was; avsep hands the URI to
    its subprocesses and trials explicitly.
    """
    import mlflow

    with environment_restored("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)


def experiment_id(uri: str, name: str, artifact_root: Path | None = None) -> str:
    """The id of experiment ``name`` (created with its artifacts under ``artifact_root``)."""
    import mlflow

    configure(uri)
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = str(artifact_root / name) if artifact_root else None
    try:
        # the UI then opens the experiment in its "Model training" mode (runs table, charts)
        # instead of the GenAI mode, whose first page is an empty "Traces" list
        return client.create_experiment(name, artifact_location=location,
                                        tags={"mlflow.experimentKind": "custom_model_development"})
    except Exception:  # noqa: BLE001 - a concurrent trial created it first
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class RunLogger:
    """One MLflow run (created, or resumed by id) written through the client API.

    With ``spool_root`` and a tracking server (any URI but ``sqlite:``), every record goes to
    the run's :class:`~avsep.tracking.spool.Spool` in ``spool_root/<run id>`` first and is
    delivered from there in order: while the server is away the caller goes on, and
    :meth:`finish` (or :meth:`drain`) waits for delivery up to ``outage_limit_s``. A logger
    opened on a run whose spool holds records (a trial restored from its checkpoint) delivers
    them first. Without a spool each record is sent at once, retried the same way
    (:func:`~avsep.tracking.spool.patiently`). Creating the run needs the server: that call
    waits up to the limit too. Past the limit: :class:`~avsep.tracking.spool.TrackingOutageError`.
    """

    def __init__(self, uri: str, experiment: str, run_name: str, tags: Mapping[str, str],
                 artifact_root: Path | None = None, run_id: str | None = None,
                 spool_root: Path | None = None, outage_limit_s: float | None = None) -> None:
        import mlflow

        from avsep.tracking.spool import DEFAULT_OUTAGE_LIMIT_S, OutageClock, Spool, patiently

        configure(uri)
        self.client = mlflow.MlflowClient()
        self.clock = OutageClock(uri, outage_limit_s or DEFAULT_OUTAGE_LIMIT_S)
        self.call = (lambda fn, *a: fn(*a)) if is_local_store(uri) else \
            (lambda fn, *a: patiently(self.clock, fn, *a))
        if run_id is None:
            exp = self.call(experiment_id, uri, experiment, artifact_root)
            run_id = self.call(lambda: self.client.create_run(
                exp, run_name=run_name, tags=dict(tags)).info.run_id)
        self.run_id = run_id
        self.spool = None
        if spool_root is not None and not is_local_store(uri):
            self.spool = Spool(Path(spool_root) / run_id)
            self.clock.where = str(self.spool.folder)
            self.deliver(block=False)

    def _submit(self, op: dict[str, Any], files: Path | None = None) -> None:
        if self.spool is None:
            self.call(apply_record, self.client, self.run_id, op, files)
            return
        self.spool.append(op, files)
        self.deliver(block=False)

    def deliver(self, block: bool = True) -> int:
        """Send the spooled records (``block``: until none is left, up to the outage limit);
        returns how many are still pending (0 without a spool)."""
        from avsep.tracking.spool import deliver

        if self.spool is None:
            return 0
        return deliver(self.spool, lambda op, files: apply_record(self.client, self.run_id, op,
                                                                  files), self.clock, block)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._submit({"op": "params", "params": {k: str(v)[:6000] for k, v in params.items()}})

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        import time

        now = int(time.time() * 1000)
        batch = [[mlflow_metric_name(k), float(v), now, step] for k, v in metrics.items()
                 if isinstance(v, int | float) and not isinstance(v, bool)]
        self._submit({"op": "metrics", "metrics": batch})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._submit({"op": "tags", "tags": {k: str(v) for k, v in tags.items()}})

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        """Upload ``folder``'s files (the spool keeps a copy: the caller may delete it)."""
        self._submit({"op": "artifacts", "path": artifact_path}, Path(folder))

    def log_dict(self, payload: Mapping[str, Any], filename: str) -> None:
        self._submit({"op": "dict", "payload": dict(payload), "filename": filename})

    def finish(self, status: str = "FINISHED") -> None:
        """Record the run's final status and wait until every record is delivered."""
        self._submit({"op": "terminate", "status": status})
        self.deliver(block=True)


def apply_record(client: Any, run_id: str, record: Mapping[str, Any],
                 files: Path | None) -> None:
    """Send one :class:`RunLogger` record (``record["op"]``: params, metrics, tags, dict,
    artifacts or terminate) of run ``run_id`` through ``client``. Params the run already holds
    are skipped (a resumed run logs its config again)."""
    from mlflow.entities import Metric, Param, RunTag

    op = record["op"]
    if op == "params":
        existing = client.get_run(run_id).data.params
        todo = [Param(k, v) for k, v in record["params"].items() if k not in existing]
        for start in range(0, len(todo), 100):
            client.log_batch(run_id, params=todo[start:start + 100])
    elif op == "metrics":
        client.log_batch(run_id, metrics=[Metric(k, v, ts, step)
                                          for k, v, ts, step in record["metrics"]])
    elif op == "tags":
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in record["tags"].items()])
    elif op == "dict":
        client.log_dict(run_id, record["payload"], record["filename"])
    elif op == "artifacts":
        if files is None:
            raise TrackingError(f"run {run_id}: spooled artifact record {record.get('seq')} "
                                "lost its files; its folder was removed by hand")
        client.log_artifacts(run_id, str(files), record["path"])
    elif op == "terminate":
        client.set_terminated(run_id, record["status"])
    else:
        raise TrackingError(f"run {run_id}: unknown tracking record {op!r}")


def replay_spools(uri: str, root: Path, clock: Any) -> int:
    """Deliver what trials left in their spools under ``root`` (one folder per run id) to the
    server at ``uri``; returns how many records were replayed. See
    :func:`avsep.tracking.spool.replay_folder`."""
    import mlflow

    from avsep.tracking.spool import replay_folder

    configure(uri)
    client = mlflow.MlflowClient()
    return replay_folder(root, lambda run_id: lambda op, files: apply_record(
        client, run_id, op, files), clock)

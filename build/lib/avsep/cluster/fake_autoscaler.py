"""Ray's fake multi-node autoscaler with ``cluster.yaml``'s node types, in a namespace of its own.

Ray's ``fake_multinode`` provider (``RAY_FAKE_CLUSTER=1 ray start --head
--autoscaling-config=...``) runs the real autoscaler (the head's ``monitor.py``): when tasks or
trials ask for resources the cluster lacks, it "launches" a node of a fitting type, which is
a new raylet on this machine advertising that type's CPUs and GPUs (GPUs as plain resources:
nothing needs CUDA), and it terminates the node after ``idle_timeout_minutes`` without work.

:func:`fake_config` derives that config from ``cluster.yaml`` so the two cannot drift: the
node-type names, ``min_workers``/``max_workers`` and GPU counts are kept; CPU counts are capped
(``cpu_cap``, default 1) so a few nodes fit a 2-core box; the idle timeout and the overall
``max_workers`` may be shortened for a demo. The head's type is renamed ``ray.head.default``
(the provider's fixed name). Each worker type carries the label ``avsep-node-type=<name>``.

:class:`FakeCluster` runs it on one Linux machine inside one network namespace and one private
mount namespace (``/tmp/ray`` and ``HOME`` private), on its own bridge (see
:mod:`avsep.cluster.local`: the same layout, one node), so it never joins or collides with
another Ray on the machine. The fake nodes are processes of the head's namespace (they share
its address and file system); ``down`` kills every process in the namespace and removes it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsep.cluster import local, netns

HEAD_TYPE = "ray.head.default"  # the fake provider tags its head with this type name
TYPE_LABEL = "avsep-node-type"
OBJECT_STORE_BYTES = 100_000_000

# vCPUs and GPUs of the AWS instance types a cluster.yaml node type may name without explicit
# ``resources`` (on AWS Ray asks EC2; offline this table stands in). Extend it for new types.
INSTANCE_TYPES: dict[str, dict[str, int]] = {
    "m6i.large": {"CPU": 2}, "m6i.xlarge": {"CPU": 4}, "m6i.2xlarge": {"CPU": 8},
    "m6i.4xlarge": {"CPU": 16}, "m6i.8xlarge": {"CPU": 32},
    "g5.xlarge": {"CPU": 4, "GPU": 1}, "g5.2xlarge": {"CPU": 8, "GPU": 1},
    "g5.4xlarge": {"CPU": 16, "GPU": 1}, "g5.8xlarge": {"CPU": 32, "GPU": 1},
    "g5.12xlarge": {"CPU": 48, "GPU": 4}, "g5.24xlarge": {"CPU": 96, "GPU": 4},
    "g5.48xlarge": {"CPU": 192, "GPU": 8},
    "g6.xlarge": {"CPU": 4, "GPU": 1}, "g6.12xlarge": {"CPU": 48, "GPU": 4},
    "g4dn.xlarge": {"CPU": 4, "GPU": 1}, "g4dn.12xlarge": {"CPU": 48, "GPU": 4},
    "p3.2xlarge": {"CPU": 8, "GPU": 1}, "p3.8xlarge": {"CPU": 32, "GPU": 4},
    "p4d.24xlarge": {"CPU": 96, "GPU": 8},
}


class FakeClusterError(RuntimeError):
    """The fake autoscaling cluster cannot be configured or started; the message names the fix."""


@dataclass(frozen=True)
class NodeType:
    """One ``available_node_types`` entry of cluster.yaml, with its real CPU/GPU counts."""

    name: str
    head: bool
    cpus: int
    gpus: int
    min_workers: int
    max_workers: int
    instance_type: str | None
    custom: dict[str, int] = field(default_factory=dict)  # other resources, e.g. avsep_driver


def load_cluster_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not Path(path).exists():
        raise FakeClusterError(f"{path}: no such cluster config; pass the project's cluster.yaml")
    return yaml.safe_load(Path(path).read_text())


def node_types(cluster: dict[str, Any]) -> list[NodeType]:
    """The node types of a ``ray up`` config, head first. CPU/GPU counts come from the type's
    ``resources`` when it names them, else from its ``node_config.InstanceType``
    (:data:`INSTANCE_TYPES`)."""
    types = cluster.get("available_node_types") or {}
    head = cluster.get("head_node_type")
    if head not in types:
        raise FakeClusterError(f"head_node_type {head!r} is not one of available_node_types "
                               f"{sorted(types)}; fix cluster.yaml")
    out = []
    for name, spec in types.items():
        resources = dict(spec.get("resources") or {})
        instance = (spec.get("node_config") or {}).get("InstanceType")
        known = INSTANCE_TYPES.get(instance, {}) if instance else {}
        if not ({"CPU", "GPU"} & set(resources)) and instance and not known:
            raise FakeClusterError(
                f"node type {name!r}: instance type {instance!r} is not in "
                "avsep.cluster.fake_autoscaler.INSTANCE_TYPES; add its vCPUs/GPUs there or set "
                f"available_node_types.{name}.resources in cluster.yaml")
        cpus = int(resources.get("CPU", known.get("CPU", 0)))
        gpus = int(resources.get("GPU", known.get("GPU", 0)))
        custom = {k: int(v) for k, v in resources.items()
                  if k not in ("CPU", "GPU", "memory", "object_store_memory")}
        out.append(NodeType(name=name, head=name == head, cpus=cpus, gpus=gpus,
                            min_workers=int(spec.get("min_workers", 0)),
                            max_workers=int(spec.get("max_workers", cluster.get("max_workers", 0))),
                            instance_type=instance, custom=custom))
    return sorted(out, key=lambda t: not t.head)


def fake_config(cluster: dict[str, Any], gcs_address: str, cpu_cap: int = 1,
                max_workers: int | None = None, idle_timeout_s: float | None = None) -> dict:
    """The ``fake_multinode`` autoscaling config for ``cluster`` (a parsed cluster.yaml).

    Kept from cluster.yaml: node-type names, GPU counts, custom resources (e.g. the head's
    ``avsep_driver``), ``min_workers``, ``max_workers``
    (capped by ``max_workers`` when given), ``upscaling_speed`` and the idle timeout (replaced
    by ``idle_timeout_s`` when given). Changed: worker CPUs are ``min(real, cpu_cap)``; each
    worker has a 100 MB object store; the head's type is named ``ray.head.default``.
    ``gcs_address``: ``host:port`` of the head, where the fake nodes register.
    """
    if cpu_cap < 1:
        raise FakeClusterError(f"cpu_cap {cpu_cap}: use >= 1 (a worker needs a CPU for a trial)")
    if max_workers is not None and max_workers < 1:
        raise FakeClusterError(f"max_workers {max_workers}: use >= 1")
    types = node_types(cluster)
    head = types[0]
    available: dict[str, Any] = {
        HEAD_TYPE: {"resources": {"CPU": head.cpus, "GPU": head.gpus, **head.custom},
                    "node_config": {}, "max_workers": 0}}
    for t in types[1:]:
        most = t.max_workers if max_workers is None else min(t.max_workers, max_workers)
        available[t.name] = {
            "resources": {"CPU": min(t.cpus, cpu_cap), "GPU": t.gpus, **t.custom,
                          "object_store_memory": OBJECT_STORE_BYTES},
            "labels": {TYPE_LABEL: t.name}, "node_config": {},
            "min_workers": min(t.min_workers, most), "max_workers": most}
    total = int(cluster.get("max_workers", 0))
    idle_min = cluster.get("idle_timeout_minutes", 5) if idle_timeout_s is None \
        else idle_timeout_s / 60.0
    return {
        "cluster_name": f"{cluster.get('cluster_name', 'avsep')}-fake",
        "max_workers": total if max_workers is None else min(total, max_workers),
        "upscaling_speed": cluster.get("upscaling_speed", 1.0),
        "idle_timeout_minutes": idle_min,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True,
                     "gcs_address": gcs_address},
        "available_node_types": available, "head_node_type": HEAD_TYPE,
        "auth": {}, "docker": {}, "file_mounts": {}, "cluster_synced_files": [],
        "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
        "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": []}


def scaled_down(config: dict, cluster: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per worker type, what :func:`fake_config` changed from cluster.yaml (real vs fake CPUs,
    GPUs, max_workers), for the demo's record."""
    real = {t.name: t for t in node_types(cluster)}
    out = {}
    for name, spec in config["available_node_types"].items():
        if name == HEAD_TYPE:
            continue
        t = real[name]
        out[name] = {"instance_type": t.instance_type, "cpus_real": t.cpus,
                     "cpus_fake": spec["resources"]["CPU"], "gpus": spec["resources"]["GPU"],
                     "max_workers_real": t.max_workers, "max_workers_fake": spec["max_workers"]}
    return out


class FakeCluster:
    """Ray's fake autoscaling cluster in network namespace ``avsep-<name>-head`` on bridge
    ``avb-<name>`` (``<subnet>.1``), the head at ``<subnet>.10``; state under ``state_dir``."""

    def __init__(self, config_of_cluster: dict[str, Any], state_dir: Path, name: str = "avh4",
                 subnet: str = "10.231.84", cpu_cap: int = 1, max_workers: int | None = None,
                 idle_timeout_s: float | None = None) -> None:
        state_dir = Path(state_dir).resolve()
        # the local cluster's layout with one node (the head): its namespace, folders, env
        self.state = local.plan(name, 1, subnet, state_dir / "storage", state_dir)
        self.state.nodes = self.state.nodes[:1]
        self.config = fake_config(config_of_cluster, self.state.ray_address, cpu_cap=cpu_cap,
                                  max_workers=max_workers, idle_timeout_s=idle_timeout_s)
        self.config_path = state_dir / "fake_autoscaling.json"

    @property
    def head(self) -> local.Node:
        return self.state.head

    @property
    def address(self) -> str:
        return self.state.ray_address

    def env(self) -> dict[str, str]:
        """Environment of every process of the cluster: the head's private HOME (token), token
        auth, the driver's RAY_ADDRESS."""
        return local.node_env(self.state, self.head, {
            "RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "token",
            "AVSEP_STORAGE": self.state.storage})

    def command(self, command: list[str]) -> list[str]:
        """``command`` wrapped to run in the cluster's network and mount namespaces."""
        return local.node_command(self.state, self.head, command)

    def up(self, timeout_s: float = 180.0) -> None:
        """Create the namespace, start the head with the fake autoscaler; return when the head's
        port answers. On failure everything started so far is removed."""
        ok, reason = netns.namespaces_permitted()
        if not ok:
            raise FakeClusterError(reason)
        if self.head.namespace in netns.existing_namespaces() or \
                netns.link_exists(self.state.bridge):
            raise FakeClusterError(
                f"{self.head.namespace} or {self.state.bridge} already exists: a fake cluster "
                f"named {self.state.name!r} runs; stop it (FakeCluster.down, or `ip netns pids "
                f"{self.head.namespace}` then `ip netns del {self.head.namespace}`) or pick "
                "another name/subnet")
        state_dir = Path(self.state.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        Path(self.state.storage).mkdir(parents=True, exist_ok=True)
        self.state.save()
        self.config_path.write_text(json.dumps(self.config, indent=2))
        try:
            netns.add_bridge(self.state.bridge, f"{self.state.subnet}.1/24")
            for sub in ("home", "ray"):
                (Path(self.head.folder) / sub).mkdir(parents=True, exist_ok=True)
            netns.add_node(self.head.namespace, self.head.veth, self.state.bridge,
                           f"{self.head.address}/24")
            # a default route: Ray finds a fake node's own address by a UDP "connect" to an
            # outside address (no packet is sent); without a route it falls back to 127.0.0.1
            subprocess.run(["ip", "-n", self.head.namespace, "route", "add", "default", "via",
                            f"{self.state.subnet}.1"], check=True, capture_output=True)
            self._start_head(timeout_s)
        except BaseException:
            self.down()
            raise

    def _start_head(self, timeout_s: float) -> None:
        env = self.env()
        env.pop("RAY_ADDRESS")
        done = subprocess.run(self.command(["ray", "get-auth-token", "--generate"]), env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise FakeClusterError(f"`ray get-auth-token --generate` failed: {done.stderr}")
        head = dict(self.config["available_node_types"][HEAD_TYPE]["resources"])
        custom = {k: v for k, v in head.items() if k not in ("CPU", "GPU")}
        # the autoscaler checks demands every second (Ray's AutoscalingCluster does the same)
        env.update({"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"})
        log = Path(self.head.folder) / "ray.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                self.command(["ray", "start", "--head", "--block",
                              "--node-ip-address", self.head.address,
                              "--port", str(local.RAY_PORT),
                              f"--autoscaling-config={self.config_path}",
                              "--num-cpus", str(head["CPU"]), "--num-gpus", str(head["GPU"]),
                              *(["--resources", json.dumps(custom)] if custom else []),
                              "--object-store-memory", str(OBJECT_STORE_BYTES),
                              "--include-dashboard=false", "--disable-usage-stats"]),
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        local.wait_until("Ray head", lambda: local.port_open(self.head.address, local.RAY_PORT),
                    timeout_s, log, proc)

    def run(self, command: list[str], timeout_s: float | None = None,
            log: Path | None = None) -> int:
        """Run ``command`` as a driver in the head's namespace; its exit code."""
        out = open(log, "ab") if log else None  # noqa: SIM115 (closed below)
        try:
            return subprocess.run(self.command(command), env=self.env(), timeout=timeout_s,
                                  stdout=out, stderr=subprocess.STDOUT if out else None
                                  ).returncode
        finally:
            if out:
                out.close()

    def watch(self, out: Path, interval_s: float = 0.5) -> subprocess.Popen:
        """Start the watcher (:func:`node_snapshot` every ``interval_s``, a JSON line each, to
        ``out``) as a Ray driver in the head's namespace; stop it with :meth:`stop_watch`."""
        log = open(Path(self.head.folder) / "watch.log", "ab")  # noqa: SIM115 (child keeps it)
        proc = subprocess.Popen(
            self.command([sys.executable, "-m", "avsep.cluster.fake_autoscaler", "watch",
                          str(out), str(interval_s)]),
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return proc

    @staticmethod
    def stop_watch(proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
        """Ask the watcher to finish (SIGINT: it writes its last line and leaves Ray)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def down(self) -> list[int]:
        """Kill every process of the namespace (head, autoscaler, fake nodes, drivers: all
        started by this cluster), remove the namespace and links. Returns the signalled pids."""
        return local.down(self.state)


# --- the watcher: runs inside the namespace as a Ray driver -------------------------------


def node_snapshot() -> dict[str, Any]:
    """Alive Ray nodes by type (``ray.nodes()``: the head by its empty label, workers by their
    ``avsep-node-type`` label), every node ever registered by type (``seen``: dead ones too),
    and the autoscaler's own view (its last status report: active and pending nodes per
    type)."""
    import ray

    alive: dict[str, int] = {}
    seen: dict[str, int] = {}
    for node in ray.nodes():
        kind = (node.get("Labels") or {}).get(TYPE_LABEL, HEAD_TYPE)
        seen[kind] = seen.get(kind, 0) + 1
        if node.get("Alive"):
            alive[kind] = alive.get(kind, 0) + 1
    return {"t": time.time(), "alive": alive, "seen": seen, "autoscaler": autoscaler_view()}


def autoscaler_view() -> dict[str, Any]:
    """Active and pending nodes per type, from the status the autoscaler writes to the GCS each
    update (what ``ray status`` prints); {} before its first report."""
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    if not raw:
        return {}
    report = json.loads(raw).get("autoscaler_report") or {}
    pending: dict[str, int] = {}
    for _ip, kind, *_ in report.get("pending_nodes") or []:
        pending[kind] = pending.get(kind, 0) + 1
    for kind, count in (report.get("pending_launches") or {}).items():
        pending[kind] = pending.get(kind, 0) + int(count)
    return {"active": dict(report.get("active_nodes") or {}), "pending": pending}


def trial_nodes(pids: list[int]) -> dict[int, str]:
    """The node type each of ``pids`` (Tune's ``pid`` of a trial) ran on: the actor table keeps
    dead actors with their pid and node id."""
    import ray
    from ray._private import state

    kinds = {n["NodeID"]: (n.get("Labels") or {}).get(TYPE_LABEL, HEAD_TYPE)
             for n in ray.nodes()}
    by_pid = {}
    for actor in state.actors().values():
        pid = actor.get("Pid")
        node = (actor.get("Address") or {}).get("NodeID")
        if pid in pids and node in kinds:
            by_pid[pid] = kinds[node]
    return by_pid


def _watch(out: Path, interval_s: float) -> None:
    """Append :func:`node_snapshot` to ``out`` every ``interval_s`` until SIGINT/SIGTERM; then,
    when ``out.with_suffix('.pids')`` lists trial pids, their node types (:func:`trial_nodes`)."""
    import ray

    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False, configure_logging=False)
    with open(out, "a") as f:
        while not stop["now"]:
            f.write(json.dumps(node_snapshot()) + "\n")
            f.flush()
            time.sleep(interval_s)
        requests = out.with_suffix(".pids")
        if requests.exists():  # the trials' pids -> node types, asked for by the caller
            pids = [int(p) for p in requests.read_text().split()]
            f.write(json.dumps({"t": time.time(), "trial_nodes": trial_nodes(pids)}) + "\n")
    ray.shutdown()


def read_watch(path: Path) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The watcher's snapshots, and its closing pid -> node-type map ({} when not asked)."""
    rows, trials = [], {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "trial_nodes" in row:
            trials = {int(k): v for k, v in row["trial_nodes"].items()}
        else:
            rows.append(row)
    return rows, trials


def summarize(rows: list[dict[str, Any]], gpu_type: str, start: float, search_end: float,
              last_trial_end: float | None = None) -> dict[str, Any]:
    """Figures of one run from the watcher's snapshots (``ray.nodes()`` counts, the
    autoscaler's pending launches): GPU workers alive at ``start``; seconds from ``start``, and
    from the autoscaler's first pending GPU launch, to the first alive GPU worker; the peak;
    GPU workers ever launched; the count in the last snapshot; the seconds from ``search_end``
    (and ``last_trial_end``) to the snapshot where the last GPU worker was gone. NaN where a
    moment was not seen."""
    def gpus(row):
        return row["alive"].get(gpu_type, 0)

    def pending(row):
        return (row.get("autoscaler") or {}).get("pending", {}).get(gpu_type, 0)

    before = [gpus(r) for r in rows if r["t"] <= start]
    first_up = next((r["t"] for r in rows if r["t"] >= start and gpus(r) > 0), math.nan)
    demand = next((r["t"] for r in rows if r["t"] >= start and (pending(r) or gpus(r))),
                  math.nan)
    busy = [i for i, r in enumerate(rows) if gpus(r) > 0]
    zero = rows[busy[-1] + 1]["t"] if busy and busy[-1] + 1 < len(rows) else math.nan
    ended = math.nan if last_trial_end is None else last_trial_end
    return {"gpu_workers_before": before[-1] if before else 0,
            "seconds_to_first_gpu_worker": first_up - start,
            "seconds_first_launch_to_first_gpu_worker": first_up - demand,
            "peak_gpu_workers": max((gpus(r) for r in rows), default=0),
            "gpu_workers_launched": rows[-1].get("seen", {}).get(gpu_type, 0) if rows else 0,
            "gpu_workers_at_end": gpus(rows[-1]) if rows else 0,
            "seconds_search_end_to_zero_gpu_workers": zero - search_end,
            "seconds_last_trial_end_to_zero_gpu_workers": zero - ended}


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most of the ``(start, end)`` intervals open at one moment (trials running at once)."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


if __name__ == "__main__":  # python -m avsep.cluster.fake_autoscaler watch OUT INTERVAL
    if len(sys.argv) != 4 or sys.argv[1] != "watch":
        sys.exit("usage: python -m avsep.cluster.fake_autoscaler watch OUT.jsonl INTERVAL_S")
    _watch(Path(sys.argv[2]), float(sys.argv[3]))

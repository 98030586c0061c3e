"""``avsep cluster local``: start, inspect, preempt and stop a head + N workers on one machine.

Layout: bridge ``avb-<name>`` at ``<subnet>.1`` in the root namespace; the head at
``<subnet>.10`` and worker *i* at ``<subnet>.(10+i)``, each in namespace ``avsep-<name>-<node>``.
Every process of a node runs under ``ip netns exec NS unshare -m`` with the node's private
folder bound over ``/tmp/ray`` and ``HOME`` set to the node's private home, so each node has
its own Ray session folder and auth token copy. The state (addresses, namespaces, links,
folders) is written to ``<state>/cluster.json``; ``down`` reads it, kills every process inside
those namespaces (only what the cluster started) and removes the namespaces, veths and bridge.
The head serves the dashboard and job API (``ray job submit``) on ``<head>:8265``;
:func:`kill_node` preempts a worker (SIGKILL to every process in its namespace) as a spot
reclaim would.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from avsep.cluster import netns

RAY_PORT = 6379
DASHBOARD_PORT = 8265
MLFLOW_PORT = 5000
OBJECT_STORE_BYTES = 100_000_000


class ClusterError(RuntimeError):
    """The local cluster cannot start or be reached; the message names the fix."""


@dataclass
class Node:
    name: str  # "head", "w1", "w2", ...
    address: str
    namespace: str
    veth: str
    folder: str  # private folder: home/, ray/ (bound over /tmp/ray), logs


@dataclass
class ClusterState:
    name: str
    subnet: str
    bridge: str
    storage: str
    state_dir: str
    nodes: list[Node] = field(default_factory=list)

    @property
    def head(self) -> Node:
        return self.nodes[0]

    @property
    def ray_address(self) -> str:
        return f"{self.head.address}:{RAY_PORT}"

    @property
    def mlflow_uri(self) -> str:
        return f"http://{self.head.address}:{MLFLOW_PORT}"

    @property
    def dashboard_address(self) -> str:
        """The head's dashboard / job API (``ray job submit --address``)."""
        return f"http://{self.head.address}:{DASHBOARD_PORT}"

    @property
    def token_path(self) -> str:
        return str(Path(self.head.folder) / "home" / ".ray" / "auth_token")

    def driver_env(self) -> dict[str, str]:
        """What a driver needs to use the cluster (printed by ``up`` and set by ``exec``)."""
        return {"RAY_ADDRESS": self.ray_address, "RAY_AUTH_MODE": "token",
                "MLFLOW_TRACKING_URI": self.mlflow_uri, "AVSEP_STORAGE": self.storage,
                "RAY_CHDIR_TO_TRIAL_DIR": "0"}

    def job_env(self) -> dict[str, str]:
        """What ``ray job submit`` needs from the machine's own namespace (no Ray node there):
        the head's job API and its token by path."""
        return {"RAY_ADDRESS": self.dashboard_address, "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": self.token_path}

    def node(self, name: str) -> Node:
        """The node called ``name`` (head, w1, w2, ...)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"node {name!r}: use one of {', '.join(n.name for n in self.nodes)}")

    def save(self) -> None:
        path = Path(self.state_dir) / "cluster.json"
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> ClusterState:
        path = state_dir / "cluster.json"
        if not path.exists():
            raise ClusterError(f"no local cluster recorded in {state_dir}; start one with "
                               f"`avsep cluster local up --state {state_dir} --storage DIR`")
        data = json.loads(path.read_text())
        nodes = [Node(**n) for n in data.pop("nodes")]
        return cls(**data, nodes=nodes)


def plan(name: str, workers: int, subnet: str, storage: Path, state_dir: Path) -> ClusterState:
    """The addresses, namespace and link names of a cluster (nothing is created)."""
    if not (1 <= len(name) <= 6 and name.isalnum()):
        raise ClusterError(f"--name {name!r}: use 1-6 letters/digits (Linux link names are "
                           "limited to 15 characters)")
    if not 1 <= workers <= 20:
        raise ClusterError(f"--workers {workers}: use 1..20")
    parts = subnet.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ClusterError(f"--subnet {subnet!r}: give the first three octets of a private /24, "
                           "e.g. --subnet 10.231.77")
    names = ["head"] + [f"w{i}" for i in range(1, workers + 1)]
    nodes = [Node(name=n, address=f"{subnet}.{10 + i}", namespace=f"avsep-{name}-{n}",
                  veth=f"avv{name}{i}", folder=str(state_dir / "nodes" / n))
             for i, n in enumerate(names)]
    return ClusterState(name=name, subnet=subnet, bridge=f"avb-{name}", storage=str(storage),
                        state_dir=str(state_dir), nodes=nodes)


def node_command(state: ClusterState, node: Node, command: list[str]) -> list[str]:
    """``command`` run inside ``node``'s network namespace, in a private mount namespace where
    the node's folder is bound over ``/tmp/ray``."""
    ray_dir = Path(node.folder) / "ray"
    script = (f"mkdir -p /tmp/ray && mount --bind {shlex.quote(str(ray_dir))} /tmp/ray && "
              f"exec {shlex.join(command)}")
    return ["ip", "netns", "exec", node.namespace, "unshare", "-m", "--propagation", "private",
            "bash", "-c", script]


def node_env(state: ClusterState, node: Node, extra: dict[str, str] | None = None
             ) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)
    venv_bin = str(Path(sys.executable).parent)
    # every node shares the machine's hostname, which resolves to 127.0.0.1 or the machine's
    # own address: Gloo (DDP on CPU) would advertise that to its peers (seen: "connectFullMesh
    # failed ... remote=[127.0.0.1]"), so it is told the node's interface; RAY_ADDRESS keeps
    # any ray.init() inside a node (Train's helpers) on this cluster, not another one
    # found by scanning the machine's processes
    env.update({"HOME": str(Path(node.folder) / "home"), "RAY_AUTH_MODE": "token",
                "RAY_CHDIR_TO_TRIAL_DIR": "0", "RAY_USAGE_STATS_ENABLED": "0",
                "GLOO_SOCKET_IFNAME": "eth0", "RAY_ADDRESS": state.ray_address,
                "PATH": f"{venv_bin}:{env.get('PATH', '')}"})
    env.update(extra or {})
    return env


def _spawn(state: ClusterState, node: Node, command: list[str], log: str
           ) -> subprocess.Popen:
    out = open(Path(node.folder) / log, "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(node_command(state, node, command), env=node_env(state, node),
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    return proc


def wait_until(what: str, ready, timeout_s: float, log: Path,
               proc: subprocess.Popen | None = None) -> None:
    """Poll ``ready()`` each second until it is true; a :class:`ClusterError` with the tail of
    ``log`` after ``timeout_s``, or as soon as ``proc`` (the process that should get ready)
    exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            timeout_s = time.monotonic() - deadline + timeout_s
            break
        time.sleep(1.0)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ClusterError(f"{what} not ready after {timeout_s:.0f} s; log {log}:\n{tail}")


def port_open(host: str, port: int) -> bool:
    """Whether a TCP connection to ``host:port`` opens within 2 s."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _mlflow_healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(uri + "/health", timeout=3) as reply:  # noqa: S310
            return reply.status == 200
    except OSError:
        return False


def alive_nodes(state: ClusterState) -> list[str]:
    """Addresses of the Ray nodes the head reports alive (the dashboard's state API, with the
    head's token); [] while the head or its dashboard is not up."""
    try:
        token = Path(state.token_path).read_text().strip()
        request = urllib.request.Request(f"{state.dashboard_address}/api/v0/nodes?limit=1000",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            nodes = json.loads(reply.read())["data"]["result"]["result"]
    except (OSError, ValueError, KeyError):
        return []
    return sorted(n["node_ip"] for n in nodes if n.get("state") == "ALIVE")


def up(state: ClusterState, num_gpus: int = 0, timeout_s: float = 300.0) -> ClusterState:
    """Create the bridge and namespaces, start the Ray head, the MLflow server and the workers;
    return when every node is alive. On failure everything started so far is removed."""
    ok, reason = netns.namespaces_permitted()
    if not ok:
        raise ClusterError(reason)
    clash = {n.namespace for n in state.nodes} & netns.existing_namespaces()
    if clash or netns.link_exists(state.bridge):
        raise ClusterError(f"a local cluster named {state.name!r} already exists ({state.bridge}, "
                           f"{sorted(clash)}); stop it with `avsep cluster local down --state "
                           f"{state.state_dir}` or pick another --name/--subnet")
    if state.subnet in netns.subnets_in_use():
        raise ClusterError(f"--subnet {state.subnet}: a link here already has an address in "
                           f"{state.subnet}.0/24 (`ip -4 addr`); pick another --subnet, e.g. "
                           f"--subnet {netns.free_subnet()}")
    Path(state.state_dir).mkdir(parents=True, exist_ok=True)
    Path(state.storage).mkdir(parents=True, exist_ok=True)
    state.save()
    try:
        netns.add_bridge(state.bridge, f"{state.subnet}.1/24")
        for node in state.nodes:
            for sub in ("home", "ray", "mlflow/artifacts"):
                (Path(node.folder) / sub).mkdir(parents=True, exist_ok=True)
            netns.add_node(node.namespace, node.veth, state.bridge, f"{node.address}/24")
        _start_head(state, timeout_s)
        token = Path(state.token_path)
        for node in state.nodes[1:]:
            target = Path(node.folder) / "home" / ".ray"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(token, target / "auth_token")
            _spawn(state, node, ["ray", "start", "--block", "--address", state.ray_address,
                                 "--node-ip-address", node.address, "--num-cpus", "1",
                                 "--num-gpus", str(int(num_gpus)),
                                 "--object-store-memory", str(OBJECT_STORE_BYTES),
                                 "--disable-usage-stats"], "ray.log")
        everyone = sorted(n.address for n in state.nodes)
        wait_until(f"{len(state.nodes)} Ray nodes", lambda: alive_nodes(state) == everyone,
              timeout_s, Path(state.nodes[-1].folder) / "ray.log")
    except BaseException:
        down(state)
        raise
    return state


def _start_head(state: ClusterState, timeout_s: float) -> None:
    head = state.head
    # the head's token: Ray 2.60 turns token auth on at `ray start --head`; every node and
    # driver needs RAY_AUTH_MODE=token and a copy of this file
    done = subprocess.run(node_command(state, head, ["ray", "get-auth-token", "--generate"]),
                          env=node_env(state, head), capture_output=True, text=True)
    if done.returncode != 0 or not Path(state.token_path).exists():
        raise ClusterError(f"`ray get-auth-token --generate` failed in the head: {done.stderr}")
    from avsep.platform.ray_resources import DRIVER_RESOURCE

    # no CPU: no trial lands on the head; DRIVER_RESOURCE: the drivers of DDP trials (and their
    # Train controllers) do, as on cluster.yaml's on-demand head, where no preemption takes them
    proc = _spawn(state, head, ["ray", "start", "--head", "--block",
                                "--node-ip-address", head.address, "--port", str(RAY_PORT),
                         "--num-cpus", "0", "--resources", json.dumps({DRIVER_RESOURCE: 1000}),
                         "--object-store-memory", str(OBJECT_STORE_BYTES),
                         "--include-dashboard=true", "--dashboard-host", head.address,
                         "--dashboard-port", str(DASHBOARD_PORT),
                         "--disable-usage-stats"], "ray.log")
    log = Path(head.folder) / "ray.log"
    wait_until("Ray head", lambda: port_open(head.address, RAY_PORT) and
          port_open(head.address, DASHBOARD_PORT) and Path(state.token_path).exists(),
          timeout_s, log, proc)
    store = Path(head.folder) / "mlflow"
    proc = _spawn(state, head, ["mlflow", "server", "--host", head.address,
                                "--port", str(MLFLOW_PORT),
                         "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
                         "--serve-artifacts", "--artifacts-destination", str(store / "artifacts"),
                         "--allowed-hosts", f"{head.address}:{MLFLOW_PORT},{head.address}",
                         "--workers", "1"], "mlflow.log")
    wait_until("MLflow server", lambda: _mlflow_healthy(state.mlflow_uri), timeout_s,
          Path(head.folder) / "mlflow.log", proc)


def status(state: ClusterState) -> dict:
    """Namespaces present, process counts, alive Ray nodes and MLflow health."""
    present = netns.existing_namespaces()
    nodes = {n.name: {"address": n.address, "namespace": n.namespace,
                      "up": n.namespace in present,
                      "processes": len(netns.namespace_pids(n.namespace))
                      if n.namespace in present else 0} for n in state.nodes}
    alive = alive_nodes(state) if state.head.namespace in present else []
    for node in state.nodes:
        nodes[node.name]["ray_alive"] = node.address in alive
    return {"nodes": nodes, "ray_nodes_alive": len(alive), "dashboard": state.dashboard_address,
            "mlflow_healthy": _mlflow_healthy(state.mlflow_uri), **state.driver_env(),
            "token": state.token_path}


def down(state: ClusterState, grace_s: float = 10.0) -> list[int]:
    """Kill every process inside the cluster's namespaces (TERM, then KILL after ``grace_s``),
    remove the namespaces, veths and bridge. Returns the pids it signalled."""
    present = netns.existing_namespaces()
    mine = [n.namespace for n in state.nodes if n.namespace in present]
    signalled: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [p for ns in mine for p in netns.namespace_pids(ns)]
        for pid in pids:
            try:
                os.kill(pid, sig)
                signalled.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 5.0)
        while pids and time.monotonic() < deadline:
            if not any(netns.namespace_pids(ns) for ns in mine):
                break
            time.sleep(0.5)
    for node in state.nodes:
        netns.remove_namespace(node.namespace)
        netns.remove_link(node.veth)
    netns.remove_link(state.bridge)
    return sorted(set(signalled))


def kill_node(state: ClusterState, node_name: str) -> list[int]:
    """Preempt worker ``node_name`` as a spot reclaim would: SIGKILL every process inside its
    namespace (raylet, workers, trial processes; by pid), leaving its namespace and link in
    place. Returns the pids killed. The head cannot be killed this way."""
    node = state.node(node_name)
    if node is state.head:
        raise ClusterError("the head holds the GCS, the driver and MLflow: kill a worker "
                           f"({', '.join(n.name for n in state.nodes[1:])}) or use `down`")
    killed: list[int] = []
    for _ in range(5):  # a dying raylet may still fork; sweep until the namespace is empty
        pids = netns.namespace_pids(node.namespace)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    return sorted(set(killed))


def popen_in_node(state: ClusterState, node_name: str, command: list[str],
                  env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start ``command`` in node ``node_name`` with the driver's environment (see
    :func:`run_in_node`) plus ``env``, and return at once; the process's pid is the command's
    own (``ip netns exec``, ``unshare`` and ``bash -c 'exec ...'`` each replace themselves)."""
    node = state.node(node_name)
    return subprocess.Popen(node_command(state, node, command),
                            env=node_env(state, node, {**state.driver_env(), **(env or {})}),
                            **kwargs)


def run_in_node(state: ClusterState, node_name: str, command: list[str],
                timeout_s: float | None = None) -> int:
    """Run ``command`` in node ``node_name`` (default the head) with the driver's environment
    (RAY_ADDRESS, token auth, MLFLOW_TRACKING_URI, AVSEP_STORAGE); return its exit code."""
    proc = popen_in_node(state, node_name, command)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise

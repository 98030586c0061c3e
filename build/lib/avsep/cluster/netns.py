"""Linux network namespaces on a private bridge: create, list and remove them with ``ip``.

Only names this module was given are touched; every call is a plain ``ip`` command (root).
"""

from __future__ import annotations

import os
import subprocess


class NetnsError(RuntimeError):
    """A namespace operation failed or is not permitted; the message says why."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done


def namespaces_permitted() -> tuple[bool, str]:
    """Whether ``ip netns add`` works here; (False, reason) when not (not root, no ``ip``).
    The probe namespace is named after this process, so two checks at once do not collide."""
    probe = f"avsep-probe-{os.getpid()}"
    try:
        done = _ip("netns", "add", probe, check=False)
    except FileNotFoundError:
        return False, "the `ip` command (iproute2) is not installed"
    if done.returncode != 0:
        return False, f"`ip netns add` is not permitted here ({done.stderr.strip()}); run as root"
    _ip("netns", "del", probe, check=False)
    return True, ""


def existing_namespaces() -> set[str]:
    return {line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()}


def subnets_in_use() -> set[str]:
    """The first three octets (``"10.231.78"``) of every IPv4 address on this namespace's links,
    from ``ip -4 -o addr show``; a bridge on one of them would clash with that link's routes."""
    found = set()
    for line in _ip("-4", "-o", "addr", "show").stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            address = fields[fields.index("inet") + 1].split("/")[0]
            found.add(address.rsplit(".", 1)[0])
    return found


def free_subnet(prefix: str = "10.231", first: int = 100) -> str:
    """The first ``<prefix>.N`` (N from ``first`` to 254) that no link here uses."""
    used = subnets_in_use()
    for third in range(first, 255):
        if f"{prefix}.{third}" not in used:
            return f"{prefix}.{third}"
    raise NetnsError(f"every {prefix}.{first}-254 /24 is in use here; pick a --subnet by hand")


def link_exists(name: str) -> bool:
    return _ip("link", "show", name, check=False).returncode == 0


def add_bridge(bridge: str, address: str) -> None:
    """Bridge ``bridge`` in the root namespace with ``address`` (CIDR), up."""
    _ip("link", "add", bridge, "type", "bridge")
    _ip("addr", "add", address, "dev", bridge)
    _ip("link", "set", bridge, "up")


def add_node(namespace: str, veth: str, bridge: str, address: str) -> None:
    """Namespace ``namespace`` whose ``eth0`` (``address``, CIDR) is plugged into ``bridge``
    through the veth pair ``veth``/``veth+'p'``; loopback up."""
    peer = veth + "p"
    _ip("netns", "add", namespace)
    _ip("link", "add", veth, "type", "veth", "peer", "name", peer)
    _ip("link", "set", peer, "netns", namespace)
    _ip("-n", namespace, "link", "set", peer, "name", "eth0")
    _ip("-n", namespace, "addr", "add", address, "dev", "eth0")
    _ip("-n", namespace, "link", "set", "eth0", "up")
    _ip("-n", namespace, "link", "set", "lo", "up")
    _ip("link", "set", veth, "master", bridge)
    _ip("link", "set", veth, "up")


def namespace_pids(namespace: str) -> list[int]:
    """Pids of every process inside ``namespace`` (all started by the cluster)."""
    done = _ip("netns", "pids", namespace, check=False)
    return [int(p) for p in done.stdout.split() if p.isdigit()]


def remove_namespace(namespace: str) -> None:
    _ip("netns", "del", namespace, check=False)


def remove_link(name: str) -> None:
    if link_exists(name):
        _ip("link", "del", name, check=False)

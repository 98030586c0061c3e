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

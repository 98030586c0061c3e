"""`avsep cluster local up|status|down|exec|kill`: a real multi-node Ray cluster on this machine.

See :mod:`avsep.cluster.local` and docs/cluster.md ("A local cluster on one machine").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "a local multi-node Ray cluster (network namespaces) with an MLflow server on the head"
DEFAULT_STATE = "/tmp/avsep-cluster"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    local = kinds.add_parser("local", help="head + N workers in network namespaces (root)")
    actions = local.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (("up", "start the cluster"), ("status", "show the cluster"),
                            ("down", "stop it and remove its namespaces and links"),
                            ("exec", "run a command in a node with the driver's environment"),
                            ("kill", "preempt a worker node: SIGKILL its processes (by pid)")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--state", default=DEFAULT_STATE,
                            help=f"folder of the cluster's state and node folders "
                                 f"(default {DEFAULT_STATE})")
        if name == "up":
            action.add_argument("--workers", type=int, default=2, help="worker nodes (default 2)")
            action.add_argument("--storage", required=True,
                                help="shared storage folder of all nodes (absolute)")
            action.add_argument("--num-gpus", type=int, default=0,
                                help="GPUs each worker advertises (scheduling tests)")
            action.add_argument("--name", default="local", help="cluster name (1-6 alnum)")
            action.add_argument("--subnet", default="10.231.77",
                                help="private /24 of the bridge (first three octets)")
            action.add_argument("--timeout", type=float, default=300.0,
                                help="seconds to wait for each service")
        if name == "kill":
            action.add_argument("node", help="worker node name: w1, w2, ...")
        if name == "exec":
            action.add_argument("--node", default="head", help="node name: head, w1, w2, ...")
            action.add_argument("cmd", nargs=argparse.REMAINDER,
                                help="the command, after --")


def run(args: argparse.Namespace) -> int:
    from avsep.cluster import local

    state_dir = Path(args.state).absolute()
    try:
        if args.action == "up":
            storage = Path(args.storage)
            if not storage.is_absolute():
                raise local.ClusterError(f"--storage {args.storage}: give an absolute path")
            state = local.plan(args.name, args.workers, args.subnet, storage, state_dir)
            local.up(state, num_gpus=args.num_gpus, timeout_s=args.timeout)
            print(json.dumps(local.status(state), indent=2))
            print("\n# a driver runs in the head's namespace:\n"
                  f"avsep cluster local exec --state {state_dir} -- avsep tune ...\n"
                  "# or submit it as a Ray job from this machine:\n"
                  + " ".join(f"{k}={v}" for k, v in state.job_env().items())
                  + " ray job submit -- avsep tune ...")
            return 0
        state = local.ClusterState.load(state_dir)
        if args.action == "status":
            print(json.dumps(local.status(state), indent=2))
            return 0
        if args.action == "down":
            pids = local.down(state)
            print(f"stopped {len(pids)} process(es); removed {len(state.nodes)} namespace(s) "
                  f"and bridge {state.bridge}")
            return 0
        if args.action == "kill":
            pids = local.kill_node(state, args.node)
            print(f"killed {len(pids)} process(es) of node {args.node} "
                  f"({state.node(args.node).address}); `avsep cluster local down` removes it")
            return 0
        command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not command:
            raise local.ClusterError("give the command after --, e.g. "
                                     "`avsep cluster local exec -- ray status`")
        return local.run_in_node(state, args.node, command)
    except local.ClusterError as err:
        print(f"avsep cluster: {err}", file=sys.stderr)
        return 2

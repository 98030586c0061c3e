"""A real multi-node Ray cluster on one Linux machine, for development, tests and demos.

``avsep cluster local up`` starts a head and N worker nodes, each in its own network namespace
(own address on a private bridge, so 127.0.0.1 on a worker is not the head) and its own mount
namespace (a private ``/tmp/ray`` and ``HOME``), plus a real ``mlflow server`` on the head. The
nodes share only a declared storage folder, as NFS would. Nothing in :mod:`avsep.platform`
imports this package.
"""

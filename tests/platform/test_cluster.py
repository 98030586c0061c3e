"""cluster.yaml is a valid Ray autoscaler config (offline: Ray's JSON schema + its own checks)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_matches_ray_schema(cluster):
    jsonschema.validate(cluster, SCHEMA)


def test_cluster_yaml_passes_ray_validation_after_defaults(cluster):
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(cluster))
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"


def test_cluster_shape_cpu_head_autoscaling_gpu_workers(cluster):
    types = cluster["available_node_types"]
    head = types[cluster["head_node_type"]]
    assert head["resources"]["CPU"] == 0  # no training on the head
    assert head["resources"]["avsep_driver"] >= 1  # DDP trials' drivers pinned to the head
    assert "InstanceMarketOptions" not in head["node_config"]  # on-demand, not spot
    assert not head["node_config"]["InstanceType"].startswith(("g", "p"))
    workers = [t for n, t in types.items() if n != cluster["head_node_type"]]
    assert len(workers) == 1 and workers[0]["min_workers"] == 0
    assert workers[0]["node_config"]["InstanceType"].startswith(("g", "p"))  # GPU family
    setup = " ".join(cluster["setup_commands"])
    assert "pip install" in setup and "~/avsep" in setup  # installs the project
    assert "s3://" in setup  # shared storage for Tune results
    assert "mlflow server" in " ".join(cluster["head_setup_commands"])


def test_schema_rejects_a_broken_config(cluster):
    broken = copy.deepcopy(cluster)
    broken["available_node_types"]["gpu_worker"]["min_workers"] = "zero"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_max_resources_of_cluster_yaml_counts_the_autoscaling_maximum():
    """`ray up`'s v1 autoscaler keeps its config in ~/ray_bootstrap_config.yaml, not the GCS:
    the default concurrency reads the maximum from it (head + each type x max_workers)."""
    import yaml

    from avsep.platform.cluster_size import max_resources

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "cluster.yaml").read_text())
    head = config["head_node_type"]
    config["available_node_types"][head]["resources"] = {"CPU": 0}
    for name, spec in config["available_node_types"].items():
        if name != head:
            spec["resources"] = {"CPU": 4, "GPU": 1}
            spec["max_workers"] = 3
    config["max_workers"] = 2  # the global cap wins over the type's 3
    workers = len(config["available_node_types"]) - 1
    assert max_resources(config) == {"CPU": 8.0 * workers, "GPU": 2.0 * workers}


def test_max_nodes_of_cluster_yaml_counts_workers_the_head_may_grow():
    """A search on a `ray up` head that has no worker yet is checked against the nodes the
    cluster may grow to, so a sqlite or loopback tracking URI is refused before trials start."""
    import yaml

    from avsep.platform.cluster_size import max_nodes
    from avsep.tracking.store import TrackingError, check_cluster_tracking_uri

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "cluster.yaml").read_text())
    gpu = config["available_node_types"]["gpu_worker"]
    assert max_nodes(config) == 1 + min(gpu["max_workers"], config["max_workers"])
    assert max_nodes({}) == 1
    with pytest.raises(TrackingError, match="--mlflow-uri http://<head ip>:5000"):
        check_cluster_tracking_uri("sqlite:////tmp/x.db", max_nodes(config))

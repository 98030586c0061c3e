"""`avsep serve --export` writes a config that Ray's own `serve deploy` schema accepts."""

from __future__ import annotations

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from avsep.cli import main
from avsep.serve.app import build_app


def test_exported_config_validates_against_serve_schema(tmp_path):
    path = tmp_path / "serve_config.yaml"
    assert main(["serve", "--export", str(path), "--model", "models:/avsep-x@champion",
                 "--replicas", "auto", "--gpus-per-replica", "1", "--host", "0.0.0.0",
                 "--max-upload-mb", "10"]) == 0
    config = yaml.safe_load(path.read_text())
    schema = ServeDeploySchema.model_validate(config)
    app = schema.applications[0]
    assert app.import_path == "avsep.serve.app:build_app" and app.route_prefix == "/"
    assert app.args["num_replicas"] == "auto" and app.args["gpus_per_replica"] == 1.0
    assert app.args["limits"]["max_upload_bytes"] == 10 * 1024 * 1024
    assert config["http_options"] == {"host": "0.0.0.0", "port": 8000}
    bound = build_app(app.args)  # the builder accepts exactly these args
    assert bound is not None


@pytest.mark.parametrize("flags, message", [
    (["--replicas", "zero"], "--replicas must be a positive integer or 'auto'"),
    (["--gpus-per-replica", "-1"], "--gpus-per-replica must be >= 0"),
])
def test_bad_serve_options_are_refused(tmp_path, capsys, flags, message):
    assert main(["serve", "--export", str(tmp_path / "c.yaml"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.yaml").exists()

"""The model package the train loop saves records what serving needs: the preprocessing of the
cache it trained on and the Wiener count its epoch was ranked at."""

from __future__ import annotations

import json

import mlflow

from avsep.data.preprocess import cache_preprocessing
from avsep.models.package import CONFIG_FILE
from avsep.platform.train_loop import validated_wiener
from tests.platform.test_train_loop import _cfg, _run, mlflow_uri  # noqa: F401 - fixture


def test_the_package_records_the_cache_and_the_objectives_wiener_count(tiny_cache, tmp_path,
                                                                       mlflow_uri):  # noqa: F811
    state = _run(_cfg(tiny_cache, epochs=1), tmp_path, mlflow_uri, experiment="records",
                 objective="val/sdr@w1")
    path = mlflow.artifacts.download_artifacts(run_id=state["state"]["mlflow_run_id"],
                                               artifact_path=f"model/{CONFIG_FILE}",
                                               dst_path=str(tmp_path / "dl"),
                                               tracking_uri=mlflow_uri)
    payload = json.loads(open(path).read())
    assert payload["wiener_iterations"] == 1  # the objective's count, not the best one's
    recorded = payload["preprocessing"]
    assert recorded == cache_preprocessing(tiny_cache).to_json()
    index = json.loads((tiny_cache / "index.json").read_text())
    assert recorded["sample_rate"] == index["sample_rate"] and recorded["fps"] == index["fps"]


def test_the_validated_wiener_count():
    from avsep.platform.objectives import parse

    metrics = {"val/sdr": 3.0, "val/wiener": 2.0}
    assert validated_wiener(metrics, None) == 2
    assert validated_wiener(metrics, parse("val/sdr@w0")[0]) == 0
    assert validated_wiener(metrics, parse("val/loss")[0]) == 2
    assert validated_wiener({"val/loss": 1.0}, None) is None  # a model without Wiener

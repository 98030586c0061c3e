"""The per-worker training loop outside Ray (LocalSession): metrics, checkpoints, resume,
divergence, MLflow logging, and Wiener scoring from one forward pass."""

from __future__ import annotations

import math

import mlflow
import pytest
import torch

from avsep.config import merge, validate
from avsep.models import build
from avsep.platform import checkpoint as ckpt
from avsep.platform.data import make_loaders
from avsep.platform.train_loop import (
    DivergedError,
    RunContext,
    _train_epoch,
    make_config,
    train_loop_per_worker,
)
from avsep.platform.validation import si_sdr
from avsep.platform.validation import validate as run_validation
from tests.platform.conftest import TINY_TRAIN


def _cfg(cache, **train):
    raw = merge(TINY_TRAIN, {"model": {"name": "mmdensenet", "preset": "tiny"},
                             "data": {"cache": str(cache)}, "train": train,
                             "eval": {"wiener_iterations": [0, 1, 2]}})
    return validate(raw)


def _run(cfg, root, uri=None, experiment="t", **run) -> dict:
    """Train ``cfg`` with checkpoints in ``root``; returns the checkpoint's state dict."""
    context = RunContext(local_root=str(root), mlflow_uri=uri, mlflow_experiment=experiment,
                         artifact_root=str(root / "art"), tags={"space": "test"}, **run)
    train_loop_per_worker(make_config(cfg, context))
    return torch.load(root / "checkpoint" / ckpt.STATE_FILE, weights_only=True)


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def test_si_sdr_closed_form():
    torch.manual_seed(1)
    s = torch.randn(4000)
    s = s - s.mean()
    noise = torch.randn(4000)
    noise = noise - noise.mean()
    noise = noise - (noise @ s) / (s @ s) * s  # orthogonal to s
    noise = noise * (s.norm() / noise.norm()) * 10 ** (-12 / 20)  # 12 dB below s
    assert si_sdr(s, 3 * s + 3 * noise).item() == pytest.approx(12.0, abs=1e-3)


def test_train_one_epoch_then_resume_to_two(tiny_cache, tmp_path, mlflow_uri):
    first = _run(_cfg(tiny_cache, epochs=1), tmp_path, mlflow_uri)
    assert [h["epoch"] for h in first["state"]["history"]] == [1.0]
    run_id = first["state"]["mlflow_run_id"]
    second = _run(_cfg(tiny_cache, epochs=2), tmp_path, mlflow_uri)
    history = second["state"]["history"]
    assert [h["epoch"] for h in history] == [1.0, 2.0]  # epoch 1 was not trained again
    assert second["state"]["mlflow_run_id"] == run_id  # the resumed run logs to the same run
    changed = [not torch.equal(first["model"][k], v) for k, v in second["model"].items()
               if v.is_floating_point()]
    assert any(changed)
    for report in history:
        for key in ("train/loss", "val/loss", "val/sdr@w0", "val/sdr@w1", "val/sdr@w2",
                    "val/sdr", "model/params", "model/latency_ms"):
            assert math.isfinite(report[key]), key
        assert report["val/sdr"] == max(report[f"val/sdr@w{k}"] for k in range(3))

    client = mlflow.MlflowClient(mlflow_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "mmdensenet"
    assert run.data.tags["space"] == "test" and run.data.tags["code_version"]
    curve = client.get_metric_history(run_id, "val/sdr_w1")
    assert [m.step for m in curve] == [1, 2]
    assert curve[-1].value == pytest.approx(history[-1]["val/sdr@w1"])
    files = {a.path for a in client.list_artifacts(run_id, "examples")}
    assert {"examples/example0.png", "examples/example0_vocals_estimate.wav"} <= files
    model_files = {a.path for a in client.list_artifacts(run_id, "model")}
    assert {"model/config.json", "model/weights.safetensors"} <= model_files


def test_training_goes_on_while_the_tracking_server_is_away(tiny_cache, tmp_path, mlflow_uri):
    """A run resumed against a server that is gone: each epoch's metrics wait in the spool, in
    order, and the run's end fails after the outage limit with a message naming the URI (the
    one-epoch run before it, on sqlite, gives the checkpoint its MLflow run id)."""
    import json
    import socket

    from avsep.tracking.spool import TrackingOutageError

    first = _run(_cfg(tiny_cache, epochs=1), tmp_path, mlflow_uri)
    run_id = first["state"]["mlflow_run_id"]
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(TrackingOutageError, match=rf"{uri} unreachable .* limit of 8 s"):
        _run(_cfg(tiny_cache, epochs=3), tmp_path, uri, outage_limit_s=8)
    state = torch.load(tmp_path / "checkpoint" / ckpt.STATE_FILE, weights_only=True)["state"]
    ops = [json.loads(line) for line in
           (tmp_path / "mlflow-spool" / run_id / "ops.jsonl").read_text().splitlines()]
    assert ops[0]["op"] == "params" and ops[1]["op"] == "dict"
    steps = [op["metrics"][0][3] for op in ops if op["op"] == "metrics"]
    # every epoch trained while the server was away is spooled, once, in order (how many
    # epochs fit in the limit depends on the machine's load)
    assert steps == list(range(2, state["epoch"] + 1))
    if state["epoch"] == 3:  # the run ended: it waited for the server, then gave up
        assert ops[-1] == {"op": "terminate", "status": "FINISHED", "seq": len(ops) - 1}


def test_nan_loss_raises_diverged(tiny_cache):
    cfg = _cfg(tiny_cache)
    model = build(cfg.model.build_dict())
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    train, _, _ = make_loaders(cfg, model)
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(DivergedError, match="training loss is nan at epoch 1"):
        _train_epoch(model, model, train, optimizer, cfg, torch.device("cpu"), False, 0,
                     torch.Generator())


def test_failing_run_marks_mlflow_run_failed(tiny_cache, tmp_path, mlflow_uri, monkeypatch):
    import avsep.platform.train_loop as loop

    def broken_validation(*args, **kwargs):
        raise RuntimeError("injected validation failure")

    monkeypatch.setattr(loop, "run_validation", broken_validation)
    with pytest.raises(RuntimeError, match="injected validation failure"):
        _run(_cfg(tiny_cache), tmp_path, mlflow_uri, experiment="fails")
    client = mlflow.MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("fails").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.slow
def test_the_package_comes_from_the_objectives_best_epoch(tiny_cache, tmp_path, mlflow_uri):
    import json

    state = _run(_cfg(tiny_cache, epochs=3), tmp_path, mlflow_uri, experiment="objective",
                 objective="train/loss:max")
    history = state["state"]["history"]
    chosen = max(history, key=lambda h: h["train/loss"])["epoch"]
    client = mlflow.MlflowClient(mlflow_uri)
    path = mlflow.artifacts.download_artifacts(run_id=state["state"]["mlflow_run_id"],
                                               artifact_path="model/config.json",
                                               dst_path=str(tmp_path / "dl"),
                                               tracking_uri=mlflow_uri)
    saved = json.loads(open(path).read())["metrics"]
    assert saved["epoch"] == chosen
    assert saved["val/sdr"] == pytest.approx(history[int(chosen) - 1]["val/sdr"])
    assert client.get_run(state["state"]["mlflow_run_id"]).info.status == "FINISHED"


def test_mixture_baseline_and_improvement(tiny_cache):
    cfg = _cfg(tiny_cache)
    model = build(cfg.model.build_dict())
    _, val, _ = make_loaders(cfg, model)
    metrics = run_validation(model, val, torch.device("cpu"), [0])
    total, count = 0.0, 0
    for batch in val:
        mixture = batch["mixture"].unsqueeze(1).expand_as(batch["sources"])
        values = si_sdr(batch["sources"], mixture)
        scored = batch["sources"].pow(2).mean(-1) > 1e-8
        total += values[scored].sum().item()
        count += scored.sum().item()
    assert metrics["val/sdr_mixture"] == pytest.approx(total / count, abs=1e-4)
    assert metrics["val/sdri"] == pytest.approx(metrics["val/sdr"] - total / count, abs=1e-4)


def test_wiener_scores_from_one_forward_pass_match_separate(tiny_cache):
    cfg = _cfg(tiny_cache)
    model = build(cfg.model.build_dict())
    _, val, _ = make_loaders(cfg, model)
    metrics = run_validation(model, val, torch.device("cpu"), [0, 2])
    model.eval()
    for k in (0, 2):
        scores, count = 0.0, 0
        for batch in val:
            estimate = model.separate(batch, wiener_iterations=k)
            values = si_sdr(batch["sources"], estimate)
            scored = batch["sources"].pow(2).mean(-1) > 1e-8
            scores += values[scored].sum().item()
            count += scored.sum().item()
        assert metrics[f"val/sdr@w{k}"] == pytest.approx(scores / count, abs=1e-4)
    assert metrics["val/sdr@w2"] != pytest.approx(metrics["val/sdr@w0"], abs=1e-6)

"""The per-worker training loop: the same function under Ray Train, in a Tune trial, or plain.

``train_loop_per_worker(config)`` takes ``{"experiment": <ExperimentConfig dict>, "run":
<RunContext dict>}``. Each epoch it trains (DDP when the session has several workers; bf16
autocast on GPU), validates (:mod:`avsep.platform.validation`), writes a checkpoint atomically
and reports the metrics through the session (:mod:`avsep.platform.session`). It resumes from
the session's last checkpoint, stops early when the validation loss has not improved for
``train.patience`` epochs, sets the next epoch's learning rate by ``train.lr_schedule``
(:mod:`avsep.platform.optim`), and raises :class:`DivergedError` on a NaN/inf loss so Tune
records the trial as failed. Rank 0 logs to MLflow (through a local spool while a tracking
server is away: :mod:`avsep.tracking.spool`) and, whenever the run's objective
(``RunContext.objective``, the search's primary objective; default ``val/sdr``) improves, saves
the model package and validation examples (spectrogram PNGs + WAVs) as run artifacts, so the
package a search registers comes from the epoch its ranking picked.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from avsep.config import ExperimentConfig, validate
from avsep.platform import checkpoint as ckpt
from avsep.platform import staging
from avsep.platform.objectives import parse, score
from avsep.platform.optim import apply_schedule, make_optimizer
from avsep.platform.session import Session, current
from avsep.platform.validation import to_device
from avsep.platform.validation import validate as run_validation

SET_KEYS = "__config_keys__"  # RunContext.params entry: config keys the search set (not logged)


class DivergedError(FloatingPointError):
    """The loss became NaN or infinite: the trial is recorded as failed."""


@dataclass
class RunContext:
    """Where a run logs: MLflow store and experiment, tags, and the Optuna parameters."""

    mlflow_uri: str | None = None
    mlflow_experiment: str = "avsep"
    artifact_root: str | None = None
    run_name: str = "train"
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    local_root: str | None = None  # checkpoint folder outside Ray (LocalSession)
    objective: str | None = None  # "METRIC:min|max" choosing the saved epoch; None: val/sdr
    parent_run_id: str | None = None  # the study's MLflow run (tag mlflow.parentRunId)
    #: records for a tracking server wait here, one folder per run, while it is away
    #: (avsep.tracking.spool); None: beside the checkpoints (local_root), else sent at once
    spool_root: str | None = None
    outage_limit_s: float | None = None  # how long the server may be away (None: 600 s)


def make_config(experiment: ExperimentConfig | dict[str, Any],
                run: RunContext | None = None) -> dict[str, Any]:
    """The ``train_loop_config`` for :func:`train_loop_per_worker`."""
    if isinstance(experiment, ExperimentConfig):
        experiment = experiment.model_dump(mode="json")
    return {"experiment": experiment, "run": asdict(run or RunContext())}


def add_noise(mixture: torch.Tensor, snr_db: float | None, generator: torch.Generator | None
              ) -> torch.Tensor:
    """White noise at ``snr_db`` below each item's power; mixture (B, C, L) -> same shape."""
    if snr_db is None:
        return mixture
    power = mixture.pow(2).mean(dim=(-2, -1), keepdim=True)
    noise = torch.randn(mixture.shape, generator=generator, device="cpu").to(mixture)
    return mixture + noise * torch.sqrt(power * 10 ** (-snr_db / 10))


@torch.no_grad()
def forward_latency_ms(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                       repeats: int = 3) -> float:
    """Median wall time (ms) of one forward pass on the first item of ``batch``.

    One warm-up pass first (lazy initialisation, cuDNN autotuning); on a GPU the clock reads
    after ``torch.cuda.synchronize`` so it times the kernels, not their launch.
    """
    one = {k: v[:1] for k, v in batch.items() if isinstance(v, torch.Tensor)}
    cuda = any(v.is_cuda for v in one.values())
    model.eval()
    model(one)
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(one)
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    model.train()
    return statistics.median(times)


def replica_spread(model: torch.nn.Module, device: torch.device) -> float:
    """Largest difference between DDP workers of any single parameter value: the max over the
    flattened parameters (P,) of (max - min over workers). 0.0 exactly when every replica holds
    identical parameters."""
    import torch.distributed as dist

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).to(device)
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return float((high - low).abs().max())


def _train_epoch(model: torch.nn.Module, base: Any, loader: Any, optimizer: torch.optim.Optimizer,
                 cfg: ExperimentConfig, device: torch.device, autocast: bool, epoch: int,
                 generator: torch.Generator) -> float:
    """One pass over ``loader``; returns the mean training loss."""
    total, count = 0.0, 0
    for batch in loader:
        batch = to_device(batch, device)
        batch["mixture"] = add_noise(batch["mixture"], cfg.audio.noise_snr_db, generator)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out = model(batch)
            loss = base.loss(batch, out)
        if not torch.isfinite(loss):
            raise DivergedError(f"training loss is {loss.item()} at epoch {epoch + 1} "
                                f"(lr {cfg.train.lr:g}); the trial diverged")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(base.parameters(), cfg.train.grad_clip)
        optimizer.step()
        size = batch["mixture"].shape[0]
        total += loss.item() * size
        count += size
    if count == 0:
        raise ValueError(f"epoch {epoch + 1} trained on no batch: data.train_length is too small "
                         f"for batch size {cfg.train.batch_size} on this many DDP workers")
    return total / count


def _logger(run: RunContext, state: ckpt.TrainState, session: Session, cfg: ExperimentConfig):
    if session.rank != 0 or not run.mlflow_uri:
        return None
    from avsep.tracking.store import RunLogger, code_version, flatten

    tags = {"code_version": code_version(), **run.tags}
    if run.parent_run_id:
        tags["mlflow.parentRunId"] = run.parent_run_id
    spool = run.spool_root or (str(Path(run.local_root) / "mlflow-spool") if run.local_root
                               else None)
    logger = RunLogger(run.mlflow_uri, run.mlflow_experiment, run.run_name, tags,
                       Path(run.artifact_root) if run.artifact_root else None,
                       run_id=state.mlflow_run_id, spool_root=Path(spool) if spool else None,
                       outage_limit_s=run.outage_limit_s)
    state.mlflow_run_id = logger.run_id
    config = flatten(cfg.model_dump(mode="json"))
    # a searched dimension is logged once, under its own name (``lr``, not also ``train.lr``)
    chosen = set(run.params.get(SET_KEYS, ()))
    params = {k: v for k, v in run.params.items() if k != SET_KEYS}
    duplicates = {k for k in chosen if k.rpartition(".")[2] in params}
    logger.log_params({**{k: v for k, v in config.items() if k not in duplicates}, **params})
    logger.log_dict(cfg.model_dump(mode="json"), "config/experiment.json")
    return logger


def validated_wiener(metrics: dict[str, float], objective: Any) -> int | None:
    """The Wiener count the epoch was ranked at: ``K`` of a ``val/sdr@wK`` objective, else the
    count that reached ``val/sdr`` (``val/wiener``); None for models without one."""
    if objective is not None and objective.metric.startswith("val/sdr@w"):
        return int(objective.metric[len("val/sdr@w"):])
    return int(metrics["val/wiener"]) if "val/wiener" in metrics else None


def _save_best(base: Any, cfg: ExperimentConfig, metrics: dict[str, float], folder: Path,
               val_set: Any, device: torch.device, logger: Any, objective: Any = None) -> None:
    """Model package + validation examples of the best epoch so far, logged to MLflow. The
    package records the cache's preprocessing and the validated Wiener count."""
    from avsep.data.preprocess import cache_preprocessing
    from avsep.models.package import save_model_package
    from avsep.platform.examples import write_examples

    options = cfg.model.build_dict()
    if hasattr(base, "package_options"):  # e.g. Y-Net drops its local checkpoint path
        options = base.package_options(options)
    trained_on = cache_preprocessing(cfg.data.cache)
    validated = validated_wiener(metrics, objective)
    package = save_model_package(base, options, folder / "model",
                                 {k: v for k, v in metrics.items() if isinstance(v, float)},
                                 trained_on.to_json() if trained_on else None, validated)
    wiener = validated or 0
    examples = folder / "examples"
    write_examples(base, val_set, device, wiener, examples, cfg.eval.examples)
    if logger is not None:
        logger.log_artifacts(package, "model")
        if examples.is_dir():
            logger.log_artifacts(examples, "examples")


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Train one experiment; see the module docstring. ``config`` from :func:`make_config`."""
    from avsep.models import build
    from avsep.platform.data import make_loaders

    cfg = validate(config["experiment"], "trial config")
    run = RunContext(**config.get("run", {}))
    session = current(Path(run.local_root) if run.local_root else None)
    if session.rank == 0:  # what killed trials on this machine left behind
        staging.remove_orphans()
    torch.manual_seed(cfg.train.seed + session.rank)
    generator = torch.Generator().manual_seed(cfg.train.seed + 1000 * session.rank)
    device = session.device()
    autocast = cfg.train.amp and device.type == "cuda"

    base = build(cfg.model.build_dict()).to(device)
    # a model may give its parameter groups their own learning rates (Sound of Pixels: the
    # U-Net at lr, the visual network at a tenth of it, as the Solos paper trains it)
    groups = base.param_groups(cfg.train.lr) if hasattr(base, "param_groups") \
        else [p for p in base.parameters() if p.requires_grad]
    optimizer = make_optimizer(groups, cfg.train)
    with session.resume_checkpoint() as resume:
        state = ckpt.load(resume, base, optimizer) if resume else ckpt.TrainState()
    model: torch.nn.Module = base
    if session.world_size > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            base, device_ids=[device] if device.type == "cuda" else None,
            find_unused_parameters=True)
    train_loader, val_loader, train_set = make_loaders(cfg, base, session.rank,
                                                       session.world_size)
    logger = _logger(run, state, session, cfg)
    objective = parse(run.objective)[0] if run.objective else None
    n_params = sum(p.numel() for p in base.parameters())
    latency = None
    try:
        for epoch in range(state.epoch, cfg.train.epochs):
            for item in (train_set, getattr(train_loader, "sampler", None)):
                if hasattr(item, "set_epoch"):
                    item.set_epoch(epoch)
            train_loss = _train_epoch(model, base, train_loader, optimizer, cfg, device,
                                      autocast, epoch, generator)
            val = run_validation(base, val_loader, device, cfg.eval.wiener_iterations, autocast)
            if not math.isfinite(val["val/loss"]):
                raise DivergedError(f"validation loss is {val['val/loss']} at epoch {epoch + 1}")
            if latency is None:
                latency = forward_latency_ms(base, to_device(next(iter(val_loader)), device))
            current_score = score({**val, "train/loss": train_loss,
                                   "model/params": float(n_params),
                                   "model/latency_ms": latency}, objective)
            improved = current_score > state.best_objective
            if improved:
                state.best_objective = current_score
            if val["val/loss"] < state.best_val_loss - 1e-9:
                state.best_val_loss, state.epochs_without_gain = val["val/loss"], 0
            else:
                state.epochs_without_gain += 1
            state.epoch = epoch + 1
            stop = state.epochs_without_gain >= cfg.train.patience
            losses = [h["val/loss"] for h in state.history if "val/loss" in h] + [val["val/loss"]]
            lr_now = apply_schedule(optimizer, cfg.train, losses)  # the next epoch's rate
            metrics: dict[str, Any] = {
                "epoch": state.epoch, "train/loss": train_loss, **val,
                "best/objective": state.best_objective, "model/params": float(n_params),
                "model/latency_ms": latency, "workers": session.world_size,
                "early_stopped": stop, "train/lr": lr_now,
                "mlflow_run_id": state.mlflow_run_id or ""}
            if session.world_size > 1:
                metrics["ddp/replica_spread"] = replica_spread(base, device)
            state.history.append({k: float(v) for k, v in metrics.items()
                                  if isinstance(v, int | float)})
            print(f"[rank {session.rank}] epoch {state.epoch}/{cfg.train.epochs} "
                  f"train/loss {train_loss:.4f} val/loss {val['val/loss']:.4f} "
                  + (f"val/sdr {val['val/sdr']:.2f} dB" if "val/sdr" in val else ""), flush=True)
            folder = staging.checkpoint_folder() if session.rank == 0 else None
            try:
                if folder is not None:
                    ckpt.save(folder, base, optimizer, state)
                    if improved:
                        _save_best(base, cfg, {**val, "epoch": float(state.epoch)}, folder,
                                   val_loader.dataset, device, logger, objective)
                    (folder / "metrics.json").write_text(json.dumps(state.history[-1]))
                if logger is not None:
                    logger.log_metrics(metrics, step=state.epoch)
                session.report(metrics, folder)
            finally:
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
            if stop:
                break
    except SystemExit:
        # Ray ends a trial that Tune stopped (ASHA, or max_t reached) with sys.exit(0) inside
        # its report; the driver sets the run's final status from Tune's verdict, and a
        # status written here could land after it. What the spool holds is delivered first
        # (the driver replays what is left if the trial's process goes first).
        if logger is not None:
            logger.deliver(block=True)
        raise
    except BaseException as err:
        from avsep.tracking.spool import TrackingOutageError

        if logger is not None and not isinstance(err, TrackingOutageError):
            logger.finish("FAILED")
        raise
    if logger is not None:
        logger.finish("FINISHED")

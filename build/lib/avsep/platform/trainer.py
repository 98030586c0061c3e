"""Ray Train wiring: one experiment on a ``TorchTrainer`` (DDP over workers, gloo on CPU).

:func:`fit` is what ``avsep train`` runs, and what a Tune trial runs when a trial spans several
workers (then a :class:`ray.tune.integration.ray_train.TuneReportCallback` forwards the
metrics to Tune). A run resumes from its last checkpoint when a run of the same ``name``
already exists under ``storage`` (Ray Train V2 restores it), and after worker failures
(``max_failures``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avsep.config import ExperimentConfig
from avsep.platform.train_loop import RunContext, make_config, train_loop_per_worker


def scaling(workers: int, gpus_per_worker: float, cpus_per_worker: float = 1.0) -> Any:
    """A ``ScalingConfig`` for ``workers`` DDP workers (GPU when ``gpus_per_worker`` > 0)."""
    from ray.train import ScalingConfig

    if workers < 1:
        raise ValueError(f"workers must be >= 1; got {workers}")
    resources = {"CPU": cpus_per_worker}
    if gpus_per_worker > 0:
        resources["GPU"] = gpus_per_worker
    return ScalingConfig(num_workers=workers, use_gpu=gpus_per_worker > 0,
                         resources_per_worker=resources)


def ddp_backend(gpus_per_worker: float) -> str:
    """``nccl`` when the workers' GPUs are CUDA devices, else ``gloo``.

    Ray can grant GPUs that CUDA cannot see: the fake GPUs of a ``fake_multinode`` cluster
    (docs/autoscaling.md) or of ``avsep cluster local up --num-gpus``. One zero-CPU task on a
    GPU slot asks CUDA (outside any placement group of the calling trial); on ``False`` the
    workers train on the CPU over gloo (``TrainSession.device``)."""
    if gpus_per_worker <= 0:
        return "gloo"
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    @ray.remote(num_cpus=0, num_gpus=gpus_per_worker)
    def cuda_available() -> bool:
        import torch

        return torch.cuda.is_available()

    outside = PlacementGroupSchedulingStrategy(placement_group=None)
    has_cuda = ray.get(cuda_available.options(scheduling_strategy=outside).remote())
    return "nccl" if has_cuda else "gloo"


def torch_trainer(experiment: ExperimentConfig, run: RunContext, workers: int,
                  gpus_per_worker: float, storage: Path | str, name: str,
                  callbacks: list[Any] | None = None, max_failures: int = 0,
                  cpus_per_worker: float = 1.0) -> Any:
    """A configured ``TorchTrainer`` (not started)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    backend = ddp_backend(gpus_per_worker)
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=make_config(experiment, run),
        torch_config=TorchConfig(backend=backend),
        scaling_config=scaling(workers, gpus_per_worker, cpus_per_worker),
        run_config=RunConfig(
            name=name, storage_path=str(storage),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            failure_config=FailureConfig(max_failures=max_failures),
            callbacks=callbacks or None,
        ),
    )


def fit(experiment: ExperimentConfig, run: RunContext, workers: int = 1,
        gpus_per_worker: float = 0.0, storage: Path | str | None = None,
        name: str = "train", max_failures: int = 0) -> Any:
    """Train ``experiment`` on Ray Train; returns the ``Result`` (metrics, checkpoint, error)."""
    from avsep import settings

    storage = Path(storage or settings.home() / "ray_results").resolve()
    trainer = torch_trainer(experiment, run, workers, gpus_per_worker, storage, name,
                            max_failures=max_failures)
    return trainer.fit()

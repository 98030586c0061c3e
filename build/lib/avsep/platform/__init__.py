"""The search platform: Ray Train loop, Ray Tune + Optuna driver, MLflow, evaluation.

Modules (one job each):

* :mod:`.session` — where the loop runs (Ray Train worker, Tune trial, plain) and how it reports
* :mod:`.train_loop` — the per-worker training loop (DDP, bf16 on GPU, checkpoints, resume,
  early stopping, validation, MLflow) and :mod:`.trainer` — its ``TorchTrainer`` wiring
* :mod:`.checkpoint` — atomic per-epoch checkpoints; :mod:`.validation` — ``val/sdr@wK``
* :mod:`.data` — caches and loaders; :mod:`.examples` — spectrogram PNGs and WAVs
* :mod:`.tune` — the search driver; :mod:`.objectives` — objectives and Pareto front;
  :mod:`.report` — top trials, importances, plots (MLflow store, registry: :mod:`avsep.tracking`)
* :mod:`.evaluate` — the paper-style test-set report of ``avsep eval``
"""

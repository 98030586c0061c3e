"""Tracking: the MLflow store, the model registry and model packages, below ``platform`` and
``serve`` (both import it; it imports neither).

* :mod:`.store` — the tracking URI (resolve, check), one MLflow run per trial (:class:`RunLogger`)
* :mod:`.registry` — the champion guard and the per-contract aliases ``@champion`` /
  ``@champion-audio``
* :mod:`.loading` — a model URI (``models:/NAME@alias``, ``runs:/…``, a folder) to a loaded model
* :mod:`.pyfunc` (+ :mod:`.pyfunc_entry`) — the registered MLflow Model; :mod:`.wheel` — the
  avsep wheel it carries as its requirement
"""

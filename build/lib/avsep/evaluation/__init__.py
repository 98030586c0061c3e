"""Evaluation: per-item scoring and the verdict statistics, beneath ``platform/``.

* :mod:`~avsep.evaluation.separation`: scores a model (and its oracle/ablation systems) per
  test excerpt and source slot; writes ``eval.md`` and the boxplots.
* :mod:`~avsep.evaluation.scoring`: the metrics of one excerpt (BSS Eval v4, SI-SDR, PES/EPS).
* :mod:`~avsep.evaluation.chunks`: clip-length windows over long excerpts, slot bookkeeping.
* :mod:`~avsep.evaluation.activity`: vocal-activity sources and VAD scoring.
* :mod:`~avsep.evaluation.ablations`: the visual ablations of audio-visual models.
* :mod:`~avsep.evaluation.sync`: lip-voice sync accuracy against context length.
* :mod:`~avsep.evaluation.tables`: each paper's own table from the rows.
* :mod:`~avsep.evaluation.stats`: the verdict statistics.
* :mod:`~avsep.evaluation.markdown`: the markdown table writer.

One direction of imports: this package imports ``audio``, ``metrics``, ``data`` and ``models``,
never ``platform`` or ``studies``; those call it.
"""

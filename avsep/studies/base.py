"""What a study declares: the arms it trains, how each is scored, and the findings it checks.

A **study** is one paper's headline comparisons, run as platform searches. It is plain data:

* an :class:`Arm` is one configuration of a search space (the flat Optuna parameters of a
  paper point, or a variant of one) plus the evaluation it is scored under (Wiener iterations,
  test condition, activity source, protocol). Arms with the same space and parameters are
  trained once and scored several ways;
* a :class:`Finding` is one claim of the paper: "arm A beats arm B on metric M" (``better``)
  or "metric M rises (falls) along the arms / along a column" (``trend_up`` / ``trend_down``),
  with the rows it looks at (``where``) and what the paper reports, in its own numbers.

The runner (:mod:`avsep.platform.reproduce`) trains the arms over seeds, evaluates them on the
test split, and turns each finding into ours-vs-paper with a 95 % interval
(:mod:`avsep.evaluation.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: metrics where a smaller value is better; every other metric is better when larger
LOWER_IS_BETTER = frozenset({"pes", "eps", "vad_error", "loss"})


@dataclass(frozen=True)
class Arm:
    """One trained configuration, scored one way.

    ``space`` names the search space and ``params`` the flat Optuna parameters that its
    define-by-run function samples for this configuration (a paper point's ``params``, with any
    override); ``paper_point`` is that point's label (``"Table 3 exp 9"``), so the report can
    show the paper's own figures for it. ``evaluation`` holds the scoring options (``wiener``,
    ``conditions``, ``activity_source``, ``protocol``: ``"separation"`` | ``"sync"`` | ``"vad"``).
    ``upstream`` is ``(arm key, config key)``: the model trained for that arm of an earlier stage
    (same seed) is handed to this arm's training as the local folder in that dotted config key
    (e.g. the VocaLiST pre-training feeding Y-Net-mr-V's frozen encoder).
    """

    key: str
    space: str
    params: dict[str, Any]
    label: str = ""
    paper_point: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    upstream: tuple[str, str] | None = None

    @property
    def protocol(self) -> str:
        return str(self.evaluation.get("protocol", "separation"))


@dataclass(frozen=True)
class Finding:
    """One claim of the paper, checked on our rows.

    ``kind``:
      * ``better``: ``arms[0]`` beats ``arms[1]`` on ``metric`` (paired by seed, item, source);
      * ``trend_up`` / ``trend_down``: ``metric`` rises / falls along ``arms`` in their order,
        or, with ``along`` set, along that column of one arm's rows (e.g. the sync context
        length).
    ``where`` filters the rows (column -> value or tuple of values), e.g.
    ``{"condition": "v+", "source": "vocals"}``. ``paper`` states what the paper reports.
    ``higher`` makes the claim about the raw value (``True``: A's metric is higher, ``False``:
    lower) instead of "better" — e.g. Slizovskaia's label-multiply *raises* PES, which is worse.
    """

    id: str
    claim: str
    metric: str
    arms: tuple[str, ...]
    kind: Literal["better", "trend_up", "trend_down"] = "better"
    where: dict[str, Any] = field(default_factory=dict)
    along: str | None = None
    paper: str = ""
    higher: bool | None = None

    def __post_init__(self) -> None:
        if self.kind == "better" and len(self.arms) != 2:
            raise ValueError(f"finding {self.id}: 'better' compares exactly 2 arms")
        if self.kind != "better" and self.along is None and len(self.arms) < 2:
            raise ValueError(f"finding {self.id}: a trend needs 2+ arms or an 'along' column")

    @property
    def sign(self) -> float:
        """+1 where the claim is "larger", -1 where it is "smaller" (better, unless ``higher``)."""
        if self.higher is not None:
            return 1.0 if self.higher else -1.0
        return -1.0 if self.metric in LOWER_IS_BETTER else 1.0


@dataclass(frozen=True)
class Study:
    """One paper's headline comparisons.

    ``corpus`` names the part of the synthetic corpus (``"singing"`` or ``"urmp"``) and its
    layout, used when no ``--layout/--root`` is given; ``stages`` lists, in order, groups of
    arm keys trained before the others (their registered models feed later arms).
    """

    paper: str
    key: str
    title: str
    arms: tuple[Arm, ...]
    findings: tuple[Finding, ...]
    corpus: str = "singing"
    layout: str = "avsep_synth"
    notes: str = ""
    stages: tuple[tuple[str, ...], ...] = ()
    #: ``avsep reproduce`` defaults at the tiny preset, the scale docs/results.md ran: any of
    #: epochs, seeds, minutes, train_length, lr, batch_size (a flag given on the command wins)
    tiny_scale: tuple[tuple[str, Any], ...] = ()

    def arm(self, key: str) -> Arm:
        for arm in self.arms:
            if arm.key == key:
                return arm
        raise KeyError(f"study {self.key}: no arm {key!r}; arms: "
                       f"{', '.join(a.key for a in self.arms)}")

    def __post_init__(self) -> None:
        keys = [a.key for a in self.arms]
        if len(set(keys)) != len(keys):
            raise ValueError(f"study {self.key}: arm keys repeat: {keys}")
        for finding in self.findings:
            for key in finding.arms:
                if key not in keys:
                    raise ValueError(f"study {self.key}: finding {finding.id} names unknown arm "
                                     f"{key!r}; arms: {', '.join(keys)}")

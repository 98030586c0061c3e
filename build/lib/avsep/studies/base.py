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
LOWER_IS_BETTER = frozenset({"pes", "pes_code", "eps", "vad_error", "loss"})

#: the run-scale settings a study's presets give (``avsep reproduce`` flags of the same names)
SCALE_KEYS = ("epochs", "seeds", "minutes", "train_length", "lr", "batch_size")
#: the ``train`` config keys a paper protocol may set (see :class:`avsep.config.TrainConfig`)
TRAIN_KEYS = ("optimizer", "lr", "weight_decay", "lr_schedule", "lr_patience", "patience")
PRESETS = ("tiny", "paper")


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
    (e.g. the VocaLiST pre-training feeding Y-Net-mr-V's frozen encoder). ``paper_train`` is
    this arm's ``train`` config section at ``--preset paper``, over the study's
    (:attr:`Study.paper_train`): e.g. the detector's Adadelta in Swaminathan & Lerch.
    """

    key: str
    space: str
    params: dict[str, Any]
    label: str = ""
    paper_point: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    upstream: tuple[str, str] | None = None
    paper_train: dict[str, Any] = field(default_factory=dict)

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
    ``statistic`` is how the paper aggregates over excerpts (``mean``; ``median`` for Li et
    al.), ``test`` the paper's own significance test beside the bootstrap interval
    (``wilcoxon``: Li et al.; ``paired_t``: Swaminathan & Lerch; ``bootstrap``: none named).
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
    statistic: Literal["mean", "median"] = "mean"
    test: Literal["bootstrap", "wilcoxon", "paired_t"] = "bootstrap"

    def __post_init__(self) -> None:
        if self.statistic not in ("mean", "median"):
            raise ValueError(f"finding {self.id}: statistic must be 'mean' or 'median', got "
                             f"{self.statistic!r}")
        if self.test not in ("bootstrap", "wilcoxon", "paired_t"):
            raise ValueError(f"finding {self.id}: test must be 'bootstrap', 'wilcoxon' or "
                             f"'paired_t', got {self.test!r}")
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

    The two presets of ``avsep reproduce``: ``tiny_scale`` (the runs of docs/results.md on 2
    CPU cores) and ``paper_scale`` with ``paper_train`` (the paper's own protocol: epochs, batch
    size, learning rate, the ``train`` section's optimiser, schedule and early stopping);
    :meth:`scale` and :meth:`train_section` give them. ``train_layouts`` names the layouts the
    paper trains on where they differ from the test layout (Slizovskaia et al. train on Solos
    and test on URMP); ``split_policy`` maps a layout to the ``avsep prepare --split-policy``
    of the paper (MIR-1K: ``paper``, Huang et al.'s split).
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
    #: ``avsep reproduce --preset paper`` defaults: the paper's epochs, batch size, ... (same
    #: keys as ``tiny_scale``; unset keys take the paper points' values or the generic scale)
    paper_scale: tuple[tuple[str, Any], ...] = ()
    #: the ``train`` config section at ``--preset paper`` (optimizer, weight_decay,
    #: lr_schedule, lr_patience, patience: early stopping), under each arm's ``paper_train``
    paper_train: tuple[tuple[str, Any], ...] = ()
    train_layouts: tuple[str, ...] = ()
    split_policy: tuple[tuple[str, str], ...] = ()

    def scale(self, preset: str) -> dict[str, Any]:
        """The scale defaults of ``preset`` (``tiny``: ``tiny_scale``; ``paper``:
        ``paper_scale``); an unknown preset is a ``ValueError``."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; valid choices: {', '.join(PRESETS)}")
        return dict(self.tiny_scale if preset == "tiny" else self.paper_scale)

    def train_section(self, arm: str | Arm, preset: str) -> dict[str, Any]:
        """The ``train`` config keys ``arm`` trains with at ``preset``, to merge over its space's
        configuration: the study's and the arm's paper protocol at ``paper``, nothing at
        ``tiny`` (the tiny runs keep the config defaults and the scale's lr / batch size)."""
        arm = arm if isinstance(arm, Arm) else self.arm(arm)
        self.scale(preset)  # a ValueError names the presets
        if preset != "paper":
            return {}
        return {**dict(self.paper_train), **arm.paper_train}

    def prepare_flags(self, layout: str) -> list[str]:
        """Extra ``avsep prepare`` flags for ``layout``: the paper's split where it names one."""
        policy = dict(self.split_policy).get(layout)
        return ["--split-policy", policy] if policy else []

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
        for name, scale in (("tiny_scale", self.tiny_scale), ("paper_scale", self.paper_scale)):
            unknown = sorted(set(dict(scale)) - set(SCALE_KEYS))
            if unknown:
                raise ValueError(f"study {self.key}: {name} keys {unknown} are not scale "
                                 f"settings ({', '.join(SCALE_KEYS)})")
        for owner, train in [("study", dict(self.paper_train))] + \
                [(f"arm {a.key}", a.paper_train) for a in self.arms]:
            unknown = sorted(set(train) - set(TRAIN_KEYS))
            if unknown:
                raise ValueError(f"study {self.key}, {owner}: paper_train keys {unknown} are not "
                                 f"train settings ({', '.join(TRAIN_KEYS)})")
        for finding in self.findings:
            for key in finding.arms:
                if key not in keys:
                    raise ValueError(f"study {self.key}: finding {finding.id} names unknown arm "
                                     f"{key!r}; arms: {', '.join(keys)}")

"""`avsep reproduce PAPER`: a paper's headline comparisons, run as platform searches.

For a :class:`~avsep.studies.base.Study`:

1. **data** — the user's copy (``layout``/``root``) or the synthetic corpus (written by
   ``avsep synth`` under the output folder when missing), prepared for every space the study's
   arms use (``avsep prepare --space``), at the chosen preset; a cross-dataset run
   (``train_layout``/``train_root``) prepares its training copy and its test copy apart;
2. **training** — each stage, in order, as one Ray Tune run whose trials are the stage's arms ×
   seeds, run at once as the cluster fits (:mod:`avsep.platform.reproduce_trials`: ``avsep
   tune``'s trial function, storage, MLflow runs, ``--address``, ``--resume``);
3. **scoring** — every arm's model, for every seed, on the test split (the test copy's in a
   cross-dataset run), in Ray tasks beside the trials: separation metrics
   (``evaluation.separation``), sync accuracy against context length (``evaluation.sync``) or
   vocal-activity accuracy, as the arm's ``evaluation`` says;
4. **findings** — each claim becomes ours-vs-paper with a 95 % hierarchical-bootstrap interval
   over seeds and independent excerpts, and the paper's own test where it names one
   (:mod:`avsep.evaluation.verdicts`); ``report.md`` and ``findings.json`` are written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from avsep.studies.base import Arm, Study

#: a paper point's ``reported`` keys for the same training scored as Case II (Swaminathan)
CASE_II_PREFIX = "case II "


@dataclass
class ReproduceOptions:
    """What ``avsep reproduce`` can set."""

    paper: str
    out: Path
    preset: str = "tiny"
    epochs: int = 3
    seeds: int = 3
    layout: str | None = None
    root: Path | None = None
    train_length: int = 256
    val_length: int = 32
    test_items: int | None = None  # test excerpts per seed (None: the whole test split)
    mlflow_uri: str | None = None
    minutes: float = 4.0  # length of the synthetic corpus (more minutes: more test items)
    #: training values applied to every arm over its paper point's (``--lr``, ``--batch-size``):
    #: a paper's own lr suits its model size and schedule, not a tiny preset trained for minutes
    train_overrides: dict[str, Any] = field(default_factory=dict)
    #: cross-dataset: train on this copy (``--train-layout/--train-root``), score on
    #: ``layout``/``root``'s test split; None: train and test on one copy
    train_layout: str | None = None
    train_root: Path | None = None
    #: where and how wide the trials run (as ``avsep tune``): a Ray cluster address (None:
    #: ``$RAY_ADDRESS``, else a new local Ray), GPUs per trial, DDP workers per trial, trials
    #: at once (None: what the cluster fits) and ``--resume`` of an interrupted reproduction
    address: str | None = None
    gpus_per_trial: float = 0.0
    workers_per_trial: int = 1
    max_concurrent: int | None = None
    resume: bool = False
    #: seconds an MLflow tracking server may be away before the reproduction fails
    #: (``--tracking-outage-limit``, as ``avsep tune``)
    tracking_outage_limit: float = 600.0

    @property
    def cross_dataset(self) -> bool:
        return self.train_root is not None


@dataclass
class StudyResult:
    """Rows of every scored arm and the verdict of every finding."""

    study: Study
    rows: pd.DataFrame
    findings: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    report: Path | None = None


def _log(message: str) -> None:
    print(f"[reproduce] {message}", flush=True)


# ----------------------------------------------------------------------------- arms
def arm_params(arm: Arm) -> dict[str, Any]:
    """The flat parameters of ``arm``: its paper point's, overlaid with its own."""
    from avsep.search_spaces import get

    space = get(arm.space)
    params: dict[str, Any] = {}
    if arm.paper_point:
        labels = {p.label: p for p in space.paper_points}
        if arm.paper_point not in labels:
            raise ValueError(f"arm {arm.key}: space {arm.space!r} has no paper point "
                             f"{arm.paper_point!r}; it has: {', '.join(labels) or 'none'}")
        params.update(labels[arm.paper_point].params)
    params.update(arm.params)
    return params


def training_key(arm: Arm) -> str:
    """Arms that share this key are trained once: the same space and resolved parameters."""
    return f"{arm.space}:{json.dumps(arm_params(arm), sort_keys=True, default=str)}"


def paper_figures(arm: Arm) -> dict[str, float]:
    """What the paper reports for ``arm``'s paper point (empty when it has none)."""
    from avsep.search_spaces import get

    if not arm.paper_point:
        return {}
    for point in get(arm.space).paper_points:
        if point.label == arm.paper_point:
            reported = dict(point.reported)
            # a row scored at several Wiener counts (Slizovskaia Table II exp 1): the figures
            # of the count the arm is scored at ("SDR@w0"), else the row's main figures
            wiener = f"@w{int(arm.evaluation.get('wiener', 0))}"
            at = {k.removesuffix(wiener): v for k, v in reported.items() if k.endswith(wiener)}
            reported = {k: v for k, v in reported.items() if "@w" not in k} | at
            if arm.evaluation.get("activity_source") == "detector":  # Case II: Table V's keys
                case2 = {k.removeprefix(CASE_II_PREFIX): v for k, v in reported.items()
                         if k.startswith(CASE_II_PREFIX)}
                return case2 or reported
            return {k: v for k, v in reported.items() if not k.startswith(CASE_II_PREFIX)}
    return {}


def check_study(study: Study) -> None:
    """Every arm names a space and a configuration that the space's function accepts."""
    import optuna

    from avsep.search_spaces import get

    stage_of = {key: number for number, keys in enumerate(study.stages) for key in keys}
    for arm in study.arms:
        params = arm_params(arm)
        try:
            get(arm.space)(optuna.trial.FixedTrial(params))
        except ValueError as err:
            raise ValueError(f"study {study.key}, arm {arm.key}: the parameters {params} do not "
                             f"fit space {arm.space!r}: {err}") from None
        for name in HELPER_KEYS:
            helper = arm.evaluation.get(name)
            if helper is None:
                continue
            study.arm(helper)  # raises, listing the arms, when it names none
            if stage_of.get(helper, len(study.stages)) >= stage_of.get(arm.key,
                                                                        len(study.stages)):
                raise ValueError(f"study {study.key}, arm {arm.key}: its {name} (arm {helper}) "
                                 "must be trained in an earlier stage; list it in Study.stages "
                                 "before this arm")


# ----------------------------------------------------------------------------- data
def _prepare(study: Study, layout: str, root: Path, cache: Path, preset: str) -> Path:
    """``avsep prepare --space`` of every space of the study's arms into ``cache`` (each call
    reuses what is already cached)."""
    from avsep.cli import main

    for space in dict.fromkeys(a.space for a in study.arms):
        command = ["prepare", "--layout", layout, "--root", str(root), "--out", str(cache),
                   "--space", space, "--preset", preset, *study.prepare_flags(layout)]
        _log("avsep " + " ".join(command))
        if main(command) != 0:
            raise RuntimeError(f"`avsep {' '.join(command)}` failed (its message is above)")
    return cache


def prepare_data(study: Study, options: ReproduceOptions) -> tuple[Path, Path]:
    """``(train cache, test cache)``: folders of caches that fit every model of the study's
    spaces. One copy (``layout``/``root``, else the synthetic corpus, written under the output
    folder when missing) gives both; a cross-dataset run prepares its training copy
    (``train_layout``/``train_root``) and its test copy (``layout``/``root``) apart."""
    root = options.root
    layout = options.layout or study.layout
    if root is None:
        corpus = options.out / "corpus"
        if not (corpus / "corpus.json").is_file():
            from avsep.data.synth.corpus import generate

            _log(f"synthesising a {options.minutes}-minute corpus in {corpus}")
            generate(corpus, minutes=options.minutes, overwrite=True)
        root = corpus / study.corpus
    caches = options.out / "cache"
    if not options.cross_dataset:
        cache = _prepare(study, layout, root, caches / f"{layout}-{options.preset}",
                         options.preset)
        return cache, cache
    train_layout = options.train_layout or layout
    train = _prepare(study, train_layout, options.train_root,
                     caches / f"train-{train_layout}-{options.preset}", options.preset)
    test = _prepare(study, layout, root, caches / f"test-{layout}-{options.preset}",
                    options.preset)
    return train, test


# ----------------------------------------------------------------------------- scoring
#: a scorer: (model, cache, arm, options, helpers) -> rows; ``helpers`` are the loaded models of
#: the earlier arms the arm's evaluation names (e.g. Case II's detector), by evaluation key
Scorer = Callable[[Any, Path, Arm, ReproduceOptions, dict[str, Any]], pd.DataFrame]

#: evaluation keys whose value is the key of an earlier arm whose model the scoring uses
HELPER_KEYS = ("detector",)


def _test_dataset(model: Any, cache: Path, options: dict[str, Any],
                  excerpts: int | None = None) -> Any:
    """The test split for ``model``: every item, or every item (all conditions, all segments)
    of ``excerpts`` excerpts sampled with a fixed seed, so that every arm and every training
    seed is scored on the same excerpts (:class:`avsep.data.datasets.TestSelection`)."""
    from avsep.data.datasets import TestSelection, make_dataset
    from avsep.platform.data import model_dataset_options, resolve_cache

    cache_path = resolve_cache(cache, model.spec, ("test",))
    dataset = make_dataset(model.data_kind, cache_path, model.spec, "test",
                           **model_dataset_options(model, options))
    return TestSelection.of(dataset, excerpts, seed=0)


def _score_separation(model: Any, cache: Path, arm: Arm, options: ReproduceOptions,
                      helpers: dict[str, Any]) -> pd.DataFrame:
    """Separation metrics on the test split; with ``evaluation["activity_source"]`` (an
    ``avsep eval --activity-source`` value) the attribute-aware separator infers with that
    activity (``detector``: the helper detector's P(vocal), Swaminathan's Case II)."""
    from avsep.evaluation.activity import check_activity_model, parse_activity_source
    from avsep.evaluation.chunks import scoring_set_options
    from avsep.evaluation.separation import evaluate

    evaluation = dict(arm.evaluation)
    dataset = _test_dataset(model, cache,
                            {**scoring_set_options(model), **evaluation.get("dataset", {})},
                            options.test_items)
    activities = ()
    detector = helpers.get("detector")
    if "activity_source" in evaluation:
        source = parse_activity_source(str(evaluation["activity_source"]))
        check_activity_model(model, source, detector)
        activities = (source,)
    rows = evaluate(model, dataset, int(evaluation.get("wiener", 0)), ablations=False,
                    activities=activities, detector=detector)
    if activities:  # one activity source: its system is this arm's model
        rows = rows.replace({"system": {f"model@{activities[0].label}": "model"}})
    # absent instrument slots carry PES only (NaN BSS Eval): findings filter by metric
    return rows[rows["system"].isin(["model", "mixture"])]


def _score_sync(model: Any, cache: Path, arm: Arm, options: ReproduceOptions,
                helpers: dict[str, Any]) -> pd.DataFrame:
    from avsep.data.datasets import load_cache
    from avsep.data.datasets.selection import restrict_split
    from avsep.evaluation.sync import evaluate_sync
    from avsep.platform.data import resolve_cache

    cache_path = resolve_cache(cache, model.spec, ("test",))
    contexts = tuple(arm.evaluation.get("contexts", (5, 7, 9, 11, 13, 15)))
    tolerance = tuple(arm.evaluation.get("tolerance", (1, 5)))
    # the unit is the singer: every test singer, or --test-items of them (seeded), with
    # ``clips_per_singer`` clips each
    singers = restrict_split(load_cache(cache_path), "test", options.test_items, "vocals")
    clips = int(arm.evaluation.get("clips_per_singer", 8))
    rows = evaluate_sync(model, singers, "test", contexts=contexts, tolerance=tolerance,
                         items=clips)
    return rows.assign(system="model")


def _score_vad(model: Any, cache: Path, arm: Arm, options: ReproduceOptions,
               helpers: dict[str, Any]) -> pd.DataFrame:
    """Frame confusion counts and accuracy of a ``vad_cnn`` per test excerpt (Table I)."""
    from avsep.evaluation.activity import evaluate_vad

    dataset = _test_dataset(model, cache, dict(arm.evaluation.get("dataset", {})),
                            options.test_items)
    rows = evaluate_vad(model, dataset)
    return rows.assign(system="model")


SCORERS: dict[str, Scorer] = {
    "separation": _score_separation,
    "sync": _score_sync,
    "vad": _score_vad,
}


def score_arm(arm: Arm, run_id: str, cache: Path, seed: int, options: ReproduceOptions,
              trained: dict[str, str] | None = None) -> pd.DataFrame:
    """The test rows of ``arm``'s model trained with ``seed`` (columns ``arm``, ``seed`` added).

    ``trained`` maps the arm keys trained so far (this seed) to their run ids; it supplies the
    models the arm's evaluation names under :data:`HELPER_KEYS` (Case II's detector).
    """
    from avsep.tracking.loading import load_model

    if arm.protocol not in SCORERS:
        raise ValueError(f"arm {arm.key}: unknown protocol {arm.protocol!r}; valid choices: "
                         f"{', '.join(SCORERS)}")
    helpers: dict[str, Any] = {}
    for name in HELPER_KEYS:
        key = arm.evaluation.get(name)
        if key is None:
            continue
        if key not in (trained or {}):
            raise RuntimeError(f"arm {arm.key} is scored with the {name} of arm {key}, which "
                               "has no trained model for this seed (train it in an earlier "
                               "stage: Study.stages)")
        helpers[name], _ = load_model(f"runs:/{trained[key]}/model", options.mlflow_uri)
    model, _ = load_model(f"runs:/{run_id}/model", options.mlflow_uri)
    rows = SCORERS[arm.protocol](model, cache, arm, options, helpers)
    return rows.assign(arm=arm.key, seed=seed, run_id=run_id)


# ----------------------------------------------------------------------------- findings
def findings_table(study: Study, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`avsep.evaluation.verdicts.findings_table` of the study's findings, with the
    paper's figures of each arm's paper point."""
    from avsep.evaluation.verdicts import findings_table as table

    return table(study.findings, rows, {a.key: paper_figures(a) for a in study.arms})


def detector_lines(study: Study, rows: pd.DataFrame) -> list[str]:
    """Report lines for the ``vad`` arms: frame accuracy, F1 and per-class shares over every
    seed and test excerpt, beside the paper's Table I figures."""
    from avsep.evaluation.activity import VAD_COLUMNS, vad_summary

    lines: list[str] = []
    for arm in study.arms:
        part = rows[rows["arm"] == arm.key] if "arm" in rows else rows.iloc[0:0]
        if arm.protocol != "vad" or part.empty or not set(VAD_COLUMNS) <= set(part):
            continue
        ours = vad_summary(part)
        negatives, positives = ours["tn"] + ours["fp"], ours["fn"] + ours["tp"]
        no_vocal = 100 * ours["tn"] / negatives if negatives else float("nan")
        vocal = 100 * ours["tp"] / positives if positives else float("nan")
        paper = paper_figures(arm)
        lines += ["", f"**{arm.label}** ({arm.paper_point}): accuracy "
                  f"{100 * ours['accuracy']:.1f} %, F1 {ours['f1']:.2f}, no-vocal frames correct "
                  f"{no_vocal:.1f} %, vocal frames correct {vocal:.1f} % over "
                  f"{ours['frames']} test frames; paper: "
                  + ", ".join(f"{k} {v:g}" for k, v in paper.items())]
    return lines


def write_report(result: StudyResult, options: ReproduceOptions, folder: Path) -> Path:
    """``report.md``, ``findings.json`` and ``rows.csv`` of a study in ``folder``
    (:func:`avsep.evaluation.verdicts.write_report`), headed by the command that ran it."""
    from avsep.evaluation.verdicts import write_report as write

    study = result.study
    header = (f"`avsep reproduce {study.key} --preset {options.preset} --epochs {options.epochs} "
              f"--seeds {options.seeds}"
              + "".join(f" --{k.replace('_', '-')} {v:g}"
                        for k, v in options.train_overrides.items())
              + "` on "
              + (f"`{options.layout}` at `{options.root}`" if options.root
                 else f"the synthetic corpus ({options.minutes} min)")
              + f"; {options.test_items or 'all'} test excerpts per seed; "
              f"{result.seconds / 60:.1f} min.")
    return write(folder, study.title, header, result.findings, result.rows,
                 detector_lines(study, result.rows), study.notes)


# ----------------------------------------------------------------------------- the run
def with_upstream(base: dict[str, Any], arms: list[Arm], trained: dict[str, str], folder: Path,
                  options: ReproduceOptions) -> dict[str, Any]:
    """``base`` with each arm's upstream model (trained earlier, same seed) as a local folder
    in the config key the arm names; an upstream that failed to train is an error."""
    from avsep.config import merge
    from avsep.platform.stages import nested
    from avsep.tracking.loading import fetch_package

    out = base
    for arm in arms:
        if arm.upstream is None:
            continue
        key, config_key = arm.upstream
        if key not in trained:
            raise RuntimeError(f"arm {arm.key} needs the model of arm {key}, which did not "
                               "train; see its trial's error in the search above")
        target = folder / key
        target.mkdir(parents=True, exist_ok=True)
        local = fetch_package(f"runs:/{trained[key]}/model", target, options.mlflow_uri)
        out = merge(out, nested(config_key, str(local)))
    return out


def base_config(options: ReproduceOptions) -> dict[str, Any]:
    """The base experiment config every arm of a reproduction trains on."""
    return {"data": {"train_length": options.train_length, "val_length": options.val_length},
            "eval": {"examples": 0}}


def run(study: Study, options: ReproduceOptions) -> StudyResult:
    """Prepare, train each stage's arms × seeds as concurrent trials, score every arm's model
    on the test set, judge every finding (:mod:`avsep.platform.reproduce_trials`)."""
    from avsep.platform.reproduce_trials import (
        ScoreJob,
        score_all,
        start_ray,
        study_stages,
        train_stage,
    )

    start = time.perf_counter()
    check_study(study)
    options.out = options.out.expanduser().resolve()
    train_cache, test_cache = prepare_data(study, options)
    base = base_config(options)
    start_ray(options)
    seeds = range(options.seeds)
    trained: dict[int, dict[str, str]] = {seed: {} for seed in seeds}  # arm key -> run id
    jobs = []
    for number, keys in enumerate(study_stages(study)):
        arms = [study.arm(k) for k in keys]
        upstream = {seed: with_upstream({}, arms, trained[seed],
                                        options.out / f"upstream-seed{seed}", options)
                    for seed in seeds}
        runs = train_stage(study, number, arms, train_cache, options, base, upstream)
        for seed in seeds:
            for arm in arms:
                run_id = runs.get((seed, training_key(arm)))
                if run_id is None:
                    _log(f"seed {seed}: arm {arm.key} has no trained model (its trial failed)")
                    continue
                trained[seed][arm.key] = run_id
                jobs.append(ScoreJob(arm, run_id, seed, trained[seed]))
    frames = score_all(jobs, test_cache, options)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    result = StudyResult(study=study, rows=rows, seconds=time.perf_counter() - start)
    result.findings = findings_table(study, rows) if len(rows) else []
    result.report = write_report(result, options, options.out / "report" / study.key)
    return result

"""`avsep reproduce PAPER`: a paper's headline comparisons, run as platform searches.

For a :class:`~avsep.studies.base.Study`:

1. **data** — the user's copy (``layout``/``root``) or the synthetic corpus (written by
   ``avsep synth`` under the output folder when missing), prepared for every space the study's
   arms use (``avsep prepare --space``), at the chosen preset;
2. **training** — for each seed, one search per stage over exactly the arms' configurations
   (``platform.tune`` with the arms as the points to evaluate, no early stopping: ASHA's grace
   period equals the epoch count), tracked in MLflow like any search;
3. **scoring** — every arm's model, for every seed, on the test split: separation metrics
   (``evaluation.separation``), sync accuracy against context length (``evaluation.sync``) or
   vocal-activity accuracy, as the arm's ``evaluation`` says;
4. **findings** — each claim becomes ours-vs-paper with a 95 % bootstrap interval over seeds
   and test items (:mod:`avsep.evaluation.stats`); ``report.md`` and ``findings.json`` are written.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from avsep.evaluation.stats import Estimate, paired_difference, trend
from avsep.studies.base import Arm, Finding, Study

#: a paper point's ``reported`` keys for the same training scored as Case II (Swaminathan)
CASE_II_PREFIX = "case II "


@dataclass
class ReproduceOptions:
    """What ``avsep reproduce`` can set."""

    paper: str
    out: Path
    preset: str = "tiny"
    epochs: int = 3
    seeds: int = 2
    layout: str | None = None
    root: Path | None = None
    train_length: int = 256
    val_length: int = 32
    test_items: int = 8
    mlflow_uri: str | None = None
    minutes: float = 4.0  # length of the synthetic corpus (more minutes: more test items)
    #: training values applied to every arm over its paper point's (``--lr``, ``--batch-size``):
    #: a paper's own lr suits its model size and schedule, not a tiny preset trained for minutes
    train_overrides: dict[str, Any] = field(default_factory=dict)


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
def prepare_data(study: Study, options: ReproduceOptions) -> Path:
    """A folder of caches that fits every model of the study's spaces (prepared when missing:
    ``avsep prepare --space`` for each space, which reuses what is already cached)."""
    from avsep.cli import main

    root = options.root
    layout = options.layout or study.layout
    if root is None:
        corpus = options.out / "corpus"
        if not (corpus / "corpus.json").is_file():
            from avsep.data.synth.corpus import generate

            _log(f"synthesising a {options.minutes}-minute corpus in {corpus}")
            generate(corpus, minutes=options.minutes, overwrite=True)
        root = corpus / study.corpus
    cache = options.out / "cache" / f"{layout}-{options.preset}"
    for space in dict.fromkeys(a.space for a in study.arms):
        command = ["prepare", "--layout", layout, "--root", str(root), "--out", str(cache),
                   "--space", space, "--preset", options.preset]
        _log("avsep " + " ".join(command))
        if main(command) != 0:
            raise RuntimeError(f"`avsep {' '.join(command)}` failed (its message is above)")
    return cache


# ----------------------------------------------------------------------------- training
def _trained_runs(results: Any, arms: list[Arm], options: ReproduceOptions) -> dict[str, str]:
    """training key -> MLflow run id of the trial that trained it."""
    found: dict[str, str] = {}
    for result in results:
        config = result.config or {}
        run_id = (result.metrics or {}).get("mlflow_run_id")
        if not run_id or result.error:
            continue
        for arm in arms:
            params = {**arm_params(arm), **options.train_overrides}
            if all(config.get(k) == v for k, v in params.items()):
                found.setdefault(training_key(arm), run_id)
    return found


def train_stage(study: Study, arms: list[Arm], cache: Path, seed: int,
                options: ReproduceOptions, stage: int, base: dict[str, Any]) -> dict[str, str]:
    """Train the distinct configurations of ``arms`` in one search; training key -> run id."""
    from avsep.platform import tune

    spaces = {a.space for a in arms}
    trained: dict[str, str] = {}
    for space in sorted(spaces):
        group = [a for a in arms if a.space == space]
        points = list({training_key(a): {**arm_params(a), **options.train_overrides}
                       for a in group}.values())
        name = f"reproduce-{study.key}-{space}-stage{stage}-seed{seed}"
        config = options.out / "configs" / f"{name}.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps(base))
        search = tune.SearchOptions(
            space=space, data=str(cache), num_samples=len(points), max_epochs=options.epochs,
            grace_period=options.epochs, name=name, config=str(config), preset=options.preset,
            seed=seed, mlflow_uri=options.mlflow_uri, register_as=f"avsep-reproduce-{study.key}",
            storage=str(options.out / "ray_results"), check_samples=0)
        plan = tune.prepare(search)
        plan.space = dataclasses.replace(plan.space, points_to_evaluate=tuple(points),
                                         paper_points=())
        _log(f"seed {seed}, stage {stage}: training {len(points)} configuration(s) of {space} "
             f"for {options.epochs} epoch(s)")
        tune.init_ray(tune.local_cpus(search))
        parent = tune.parent_run(plan)
        results = tune.build_tuner(plan, parent).fit()
        tune.finish(plan, results, parent_run_id=parent)
        trained.update(_trained_runs(results, group, options))
    return trained


# ----------------------------------------------------------------------------- scoring
#: a scorer: (model, cache, arm, options, helpers) -> rows; ``helpers`` are the loaded models of
#: the earlier arms the arm's evaluation names (e.g. Case II's detector), by evaluation key
Scorer = Callable[[Any, Path, Arm, ReproduceOptions, dict[str, Any]], pd.DataFrame]

#: evaluation keys whose value is the key of an earlier arm whose model the scoring uses
HELPER_KEYS = ("detector",)


def _test_dataset(model: Any, cache: Path, options: dict[str, Any]) -> Any:
    from avsep.data.datasets import make_dataset
    from avsep.platform.data import model_dataset_options, resolve_cache

    cache_path = resolve_cache(cache, model.spec, ("test",))
    return make_dataset(model.data_kind, cache_path, model.spec, "test",
                        **model_dataset_options(model, options))


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
                            {**scoring_set_options(model), **evaluation.get("dataset", {})})
    activities = ()
    detector = helpers.get("detector")
    if "activity_source" in evaluation:
        source = parse_activity_source(str(evaluation["activity_source"]))
        check_activity_model(model, source, detector)
        activities = (source,)
    rows = evaluate(model, dataset, int(evaluation.get("wiener", 0)), ablations=False,
                    max_items=options.test_items, activities=activities, detector=detector)
    if activities:  # one activity source: its system is this arm's model
        rows = rows.replace({"system": {f"model@{activities[0].label}": "model"}})
    # absent instrument slots carry PES only (NaN BSS Eval): findings filter by metric
    return rows[rows["system"].isin(["model", "mixture"])]


def _score_sync(model: Any, cache: Path, arm: Arm, options: ReproduceOptions,
                helpers: dict[str, Any]) -> pd.DataFrame:
    from avsep.evaluation.sync import evaluate_sync
    from avsep.platform.data import resolve_cache

    cache_path = resolve_cache(cache, model.spec, ("test",))
    contexts = tuple(arm.evaluation.get("contexts", (5, 7, 9, 11, 13, 15)))
    rows = evaluate_sync(model, cache_path, "test", contexts=contexts, items=options.test_items)
    return rows.assign(system="model")


def _score_vad(model: Any, cache: Path, arm: Arm, options: ReproduceOptions,
               helpers: dict[str, Any]) -> pd.DataFrame:
    """Frame confusion counts and accuracy of a ``vad_cnn`` per test excerpt (Table I)."""
    from avsep.evaluation.activity import evaluate_vad

    dataset = _test_dataset(model, cache, dict(arm.evaluation.get("dataset", {})))
    rows = evaluate_vad(model, dataset, options.test_items)
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
def _select(rows: pd.DataFrame, arm: str, where: dict[str, Any]) -> pd.DataFrame:
    part = rows[(rows["arm"] == arm) & (rows["system"] == "model")]
    for column, value in where.items():
        if column not in part:
            return part.iloc[0:0]
        values = value if isinstance(value, tuple | list) else (value,)
        part = part[part[column].isin(values)]
    return part


def judge(finding: Finding, rows: pd.DataFrame) -> Estimate:
    """Our estimate for ``finding`` (difference for ``better``, Spearman rho for trends)."""
    direction = finding.sign * (-1.0 if finding.kind == "trend_down" else 1.0)
    if finding.kind == "better":
        a, b = (_select(rows, k, finding.where) for k in finding.arms)
        if finding.metric not in a or finding.metric not in b:
            return Estimate(float("nan"), float("nan"), float("nan"), 0)
        return paired_difference(a, b, finding.metric, finding.sign)
    if finding.along is not None:
        part = _select(rows, finding.arms[0], finding.where)
        if finding.along not in part or finding.metric not in part:
            return Estimate(float("nan"), float("nan"), float("nan"), 0)
        return trend(part[finding.along].to_numpy(), part[finding.metric].to_numpy(), direction)
    parts = [(_select(rows, k, finding.where), i) for i, k in enumerate(finding.arms)]
    xs, ys = [], []
    for part, position in parts:
        if finding.metric in part:
            xs += [position] * len(part)
            ys += part[finding.metric].tolist()
    return trend(pd.Series(xs).to_numpy(), pd.Series(ys).to_numpy(), direction)


def _means(finding: Finding, rows: pd.DataFrame) -> dict[str, float]:
    out = {}
    for key in finding.arms:
        part = _select(rows, key, finding.where)
        if finding.metric in part:
            out[key] = float(part[finding.metric].astype(float).mean())
    return out


def findings_table(study: Study, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One dict per finding: claim, the paper's figures, our means and estimate, verdict."""
    table = []
    for finding in study.findings:
        estimate = judge(finding, rows)
        figures = {k: paper_figures(study.arm(k)) for k in finding.arms}
        table.append({
            "id": finding.id, "claim": finding.claim, "metric": finding.metric,
            "kind": finding.kind, "paper": finding.paper,
            "paper_figures": {k: v for k, v in figures.items() if v},
            "ours_means": _means(finding, rows),
            "statistic": "mean difference (dB)" if finding.kind == "better" else "Spearman rho",
            "value": estimate.value, "ci95": [estimate.low, estimate.high], "n": estimate.n,
            "verdict": estimate.verdict,
        })
    return table


def _fmt(value: float) -> str:
    return "–" if value != value else f"{value:+.2f}"


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
    """``report.md``, ``findings.json`` and ``rows.csv`` of a study in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    study = result.study
    result.rows.to_csv(folder / "rows.csv", index=False)
    (folder / "findings.json").write_text(json.dumps(result.findings, indent=1, default=str))
    lines = [f"# {study.title}", "",
             f"`avsep reproduce {study.key} --preset {options.preset} --epochs {options.epochs} "
             f"--seeds {options.seeds}"
             + "".join(f" --{k.replace('_', '-')} {v:g}"
                       for k, v in options.train_overrides.items())
             + "` on "
             + (f"`{options.layout}` at `{options.root}`" if options.root
                else f"the synthetic corpus ({options.minutes} min)")
             + f"; {options.test_items} test items per seed; {result.seconds / 60:.1f} min.", "",
             "| finding | paper | ours | 95 % interval | n | verdict |",
             "|---|---|---|---|---:|---|"]
    for row in result.findings:
        means = ", ".join(f"{k} {v:.2f}" for k, v in row["ours_means"].items())
        ours = f"{row['statistic']} {_fmt(row['value'])} ({means})"
        low, high = row["ci95"]
        lines.append(f"| {row['claim']} | {row['paper']} | {ours} | "
                     f"[{_fmt(low)}, {_fmt(high)}] | {row['n']} | {row['verdict']} |")
    lines += detector_lines(study, result.rows)
    if study.notes:
        lines += ["", study.notes]
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


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
    """Prepare, train every stage over seeds, score every arm, judge every finding."""
    start = time.perf_counter()
    check_study(study)
    options.out = options.out.expanduser().resolve()
    cache = prepare_data(study, options)
    base = base_config(options)
    stages = list(study.stages) or [tuple(a.key for a in study.arms)]
    rest = [a.key for a in study.arms if not any(a.key in s for s in stages)]
    if rest:
        stages.append(tuple(rest))
    frames = []
    for seed in range(options.seeds):
        trained: dict[str, str] = {}  # arm key -> run id, this seed
        for number, keys in enumerate(stages):
            arms = [study.arm(k) for k in keys]
            stage_base = with_upstream(base, arms, trained, options.out / f"upstream-seed{seed}",
                                       options)
            runs = train_stage(study, arms, cache, seed, options, number, stage_base)
            for arm in arms:
                run_id = runs.get(training_key(arm))
                if run_id is not None:
                    trained[arm.key] = run_id
                if run_id is None:
                    _log(f"seed {seed}: arm {arm.key} has no trained model (its trial failed)")
                    continue
                _log(f"seed {seed}: scoring arm {arm.key}")
                frames.append(score_arm(arm, run_id, cache, seed, options, trained))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    result = StudyResult(study=study, rows=rows, seconds=time.perf_counter() - start)
    result.findings = findings_table(study, rows) if len(rows) else []
    result.report = write_report(result, options, options.out / "report" / study.key)
    return result

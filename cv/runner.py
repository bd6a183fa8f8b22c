"""The CV runner: fold by fold, fit a head, predict the held-out fold and the test rows, keep everything.

    result = run_experiment(competition, dataset, recipe, runs_dir)
    result.cv_mean, result.test_decided      # the score, and test predictions ready for the submission

A fold (fit_fold, run by the executor: here, in worker processes or as Ray tasks) returns its predictions
and saved head as data; the driver alone writes them atomically into the experiment's fold folder and seals
them with the checksums of their files (write_fold: cv/experiment.py owns the folder), and never recomputes a
finished fold: kill a run and start it again and only the missing folds run; a fold whose files were
damaged is refitted. The experiment id is a hash of the resolved recipe, the data fingerprint and the
folds, so an identical run finds its own earlier folds. Predictions under each test-time view are kept
apart, so the score with and without TTA are both known. `fit_folds` is the one fold loop: distillation's
refits per pair of folds (ensembles/transfer.py) go through it too.

Before the folds, the head prepares every row once (embeddings, text features: `Head.prepare`), large
batches of rows going to the executor's row workers. Each stage (folds, features, each fold's fit and predict,
results) reports through models.progress, so the CLI draws bars, and log.txt and scores.json keep its time.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from submit.curation.pipeline import curate_dataset
from submit.curation.steps import CurationError
from submit.cv.experiment import (
    FOLD_ABSENT,
    PLAIN,
    Experiment,
    FoldOutput,
    FoldResult,
    Record,
    fold_to_refit,
    git_commit,
    head_files,
    pack_fold,
    package_versions,
    read_fold,
    work_dir,
    write_fold,
)
from submit.cv.folds import shared_folds
from submit.cv.noise import record_noise
from submit.cv.recipe import Recipe
from submit.cv.store import Store, now
from submit.kernel.competition import Competition, Dataset
from submit.kernel.parallel import Executor, LocalExecutor
from submit.kernel.tasks import TaskType
from submit.models.base import FitContext
from submit.models.cache import row_executor, using_cache_dir
from submit.models.progress import Listener, Stage, StageTimes, listening, stage
from submit.models.registry import HEADS


@dataclass(frozen=True)
class FoldJob:
    fold: int
    train_idx: np.ndarray
    valid_idx: np.ndarray
    out_dir: Path  # the fold's folder: Experiment.fold_dir(k), or nested_dir(j, k) for distillation's refits
    # The training rows' targets where they are not the labels ctx.y[train_idx]: distillation's labels mixed
    # with a teacher's soft labels, made for this fold alone (a teacher that never saw its held-out rows).
    train_y: np.ndarray | None = None
    # Rows of ctx.extra_X added to this fold's training side (pseudo-labels) and their targets, made for this
    # fold alone as train_y is; never predicted as held-out rows.
    extra_idx: np.ndarray | None = None
    extra_y: np.ndarray | None = None


@dataclass(frozen=True)
class FoldContext:
    """What every fold shares; plain data, so another executor can ship it once to its workers. The places
    travel here, never in environment variables: a worker on another machine gets them with the data."""

    task: TaskType
    head: str
    params: dict[str, Any]
    train_views: list[str]
    tta: list[str]
    tta_budget: float
    X: pd.DataFrame
    y: np.ndarray
    X_test: pd.DataFrame
    cache_dir: Path  # the content cache (embeddings, features) the fold reads and adds to
    label_names: list[str] = field(default_factory=list)  # names of y's columns (tags), told to the head
    # Rows the folds may add to their training side (pseudo-labelled test or unlabelled rows: FoldJob.extra_idx),
    # and their weight against a labelled row's 1.
    extra_X: pd.DataFrame | None = None
    extra_weight: float = 1.0


@dataclass(frozen=True)
class Transfer:
    """What other experiments lend a run: per fold, the training rows' targets (a teacher's soft labels mixed
    in, from a teacher that never saw that fold's labels) and rows added to every fold's training side."""

    fold_targets: dict[int, np.ndarray] = field(default_factory=dict)  # fold -> (n_rows, k) targets, all rows
    extra_X: pd.DataFrame | None = None
    extra_targets: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # fold -> (rows, targets)
    extra_weight: float = 1.0


# Called by the runner, once it has the targets and the folds and only when folds are left to fit:
# (targets y, fold of each row) -> the Transfer for this run.
Lender = Callable[[np.ndarray, np.ndarray], Transfer]


@dataclass
class ExperimentResult:
    id: str
    dir: Path
    metric: str
    higher_is_better: bool
    cv_mean: float
    cv_std: float
    fold_scores: list[float]
    cv_no_tta: float | None
    other_scores: dict[str, float]
    decision: dict[str, Any]
    test_decided: np.ndarray
    folds_run: int  # folds fitted in this call (the others were finished before)
    curation: dict[str, Any] | None = None  # the curation report (also <experiment>/curation.json)
    repaired: list[str] = field(default_factory=list)  # folds refitted because their files were damaged


def tta_rows(task: TaskType, plain: np.ndarray, budget: float) -> np.ndarray:
    """Rows that get the extra views: all of them, or the `budget` share least certain by plain prediction."""
    if budget >= 1:
        return np.arange(len(plain))
    n = int(np.ceil(budget * len(plain)))
    return np.sort(np.argsort(task.certainty(plain), kind="stable")[:n])


PREDICT_CHUNK = 5000  # rows predicted at a time: a progress step, and a bound on a head's working memory


def _predict_chunked(head: Any, X: pd.DataFrame, progress: Stage) -> np.ndarray:
    parts = []
    for start in range(0, max(len(X), 1), PREDICT_CHUNK):
        parts.append(head.predict(X.iloc[start:start + PREDICT_CHUNK]))
        progress.advance(min(PREDICT_CHUNK, len(X) - start))
    return np.concatenate(parts)


def predict_views(head: Any, task: TaskType, X: pd.DataFrame, views: list[str], budget: float = 1.0,
                  label: str = "predict") -> dict[str, np.ndarray]:
    """The plain prediction and each view's inverted one; rows outside the budget keep the plain one."""
    with stage(label, total=len(X) * (1 + len(views)), unit="rows") as progress:
        plain = _predict_chunked(head, X, progress)
        out = {PLAIN: plain}
        if views:
            rows = tta_rows(task, plain, budget)
            progress.total = len(X) + len(rows) * len(views)
        for name in views:
            view = task.views[name]
            out[name] = plain.copy()
            if len(rows):
                out[name][rows] = view.invert(_predict_chunked(head, view.transform(X.iloc[rows]), progress))
    return out


def _augment(task: TaskType, X: pd.DataFrame, y: np.ndarray, views: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    frames, targets = [X], [y]
    for name in views:
        view = task.views[name]
        frames.append(view.transform(X))
        targets.append(view.transform_y(y) if view.transform_y else y)
    return pd.concat(frames, ignore_index=True), np.concatenate(targets)


def training_rows(job: FoldJob, ctx: FoldContext) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """A fold's training rows, targets and sample weights (None: all 1): its own rows (with their targets, or
    the job's), the job's extra rows, then the training views of them all."""
    X, y = ctx.X.iloc[job.train_idx], ctx.y[job.train_idx] if job.train_y is None else job.train_y
    weights = None
    if job.extra_idx is not None and len(job.extra_idx):
        X, y = pd.concat([X, ctx.extra_X.iloc[job.extra_idx]], ignore_index=True), np.concatenate([y, job.extra_y])
        if ctx.extra_weight != 1:
            weights = np.concatenate([np.ones(len(job.train_idx)), np.full(len(job.extra_idx), ctx.extra_weight)])
    X, y = _augment(ctx.task, X, y, ctx.train_views)
    return X, y, None if weights is None else np.tile(weights, 1 + len(ctx.train_views))


def lent(job: FoldJob, transfer: Transfer) -> FoldJob:
    """The job with what the transfer lends its fold: training targets, extra rows and theirs."""
    if job.fold in transfer.fold_targets:
        job = replace(job, train_y=transfer.fold_targets[job.fold][job.train_idx])
    if job.fold in transfer.extra_targets:
        job = replace(job, extra_idx=transfer.extra_targets[job.fold][0], extra_y=transfer.extra_targets[job.fold][1])
    return job


def fit_fold(job: FoldJob, ctx: FoldContext) -> FoldOutput:
    """Fit one fold; its predictions and saved head come back as data (the driver writes them: write_fold)."""
    with using_cache_dir(ctx.cache_dir):
        return _fit_fold(job, ctx)


def _fit_fold(job: FoldJob, ctx: FoldContext) -> FoldOutput:
    X_train, y_train, weights = training_rows(job, ctx)
    X_valid = ctx.X.iloc[job.valid_idx]
    head = HEADS.get(ctx.head)(**ctx.params)
    # The fold's work folder keeps a head's checkpoints, so they survive a killed fold.
    context = FitContext(work_dir=work_dir(job.out_dir), label_names=tuple(ctx.label_names))
    name = f"fold {job.fold + 1}"
    with stage(f"{name} fit", total=len(X_train)) as fitting:
        # Never the scored fold: early stopping on it would flatter OOF.
        head.fit(X_train, y_train, task=ctx.task, sample_weight=weights, context=context)
    start = time.perf_counter()
    valid = predict_views(head, ctx.task, X_valid, ctx.tta, ctx.tta_budget, label=f"{name} predict held-out")
    test = predict_views(head, ctx.task, ctx.X_test, ctx.tta, ctx.tta_budget, label=f"{name} predict test") \
        if len(ctx.X_test) else {}
    fit_s, predict_s = fitting.seconds, time.perf_counter() - start
    for pred in valid.values():
        ctx.task.check_prediction(pred, len(X_valid))
    for pred in test.values():
        ctx.task.check_prediction(pred, len(ctx.X_test))
    # What the head measured (e.g. tokens/s), and how it does on the held-out rows (e.g. the references' loss).
    stats = getattr(head, "stats_", {}) | head.evaluate(X_valid, ctx.y[job.valid_idx])
    result = FoldResult(job.valid_idx, valid, test, stats, fit_s, predict_s)
    with tempfile.TemporaryDirectory(prefix="submit-fold-") as tmp:
        head.save(Path(tmp))
        model = head_files(Path(tmp))
    return FoldOutput(job.fold, job.out_dir, pack_fold(result, ctx.task.prediction), model)


def folds_to_fit(jobs: list[FoldJob]) -> tuple[list[FoldJob], list[str]]:
    """The jobs whose fold never finished or whose files were damaged, and a note on each damaged one (whose
    model files are removed at once, so no file of a damaged fit is kept: cv/experiment.py)."""
    todo, repaired = [], []
    for job in jobs:
        problem = fold_to_refit(job.out_dir)
        if problem is None:
            continue
        if problem != FOLD_ABSENT:
            repaired.append(f"fold {job.fold}: {problem}; refitted")
        todo.append(job)
    return todo, repaired


def fit_folds(jobs: list[FoldJob], context: FoldContext, executor: Executor, *, done: int = 0, label: str = "folds",
              unit: str = "folds", on_written: Callable[[FoldOutput], None] = lambda _: None) -> None:
    """The fold loop: fit `jobs` through the executor, each written into its folder (write_fold) as it comes back,
    then `on_written`; the bar counts `done` folds finished before."""
    with stage(label, total=done + len(jobs), unit=unit) as bar:
        bar.advance(done)
        for output in executor.map(fit_fold, jobs, context):
            write_fold(output)
            on_written(output)
            bar.advance()


def predict_saved_folds(task: TaskType, head: str, fold_models: list[Path], tta: list[str],
                        X: pd.DataFrame, tta_budget: float = 1.0) -> np.ndarray:
    """New rows through an experiment's saved fold heads, as run_experiment predicts its test rows: each
    fold under each view, the folds averaged per view, then the views averaged."""
    head_cls = HEADS.get(head)
    per_view: dict[str, list[np.ndarray]] = {v: [] for v in [PLAIN, *tta]}
    for k, folder in enumerate(fold_models, start=1):
        label = f"fold {k} of {len(fold_models)} predict"
        for view, pred in predict_views(head_cls.load(folder), task, X, tta, tta_budget, label=label).items():
            task.check_prediction(pred, len(X))
            per_view[view].append(pred)
    return _merge_fold_views(task, per_view, tta)


def experiment_id(recipe: Recipe, fingerprint: str, folds_id: str) -> str:
    digest = hashlib.sha256(f"{recipe.digest()}|{fingerprint}|{folds_id}".encode()).hexdigest()
    return f"{recipe.name}-{digest[:10]}"


def _merge_views(task: TaskType, results: dict[str, np.ndarray], views: list[str]) -> np.ndarray:
    return task.combine([results[v] for v in [PLAIN, *views]])


def _merge_fold_views(task: TaskType, per_view: dict[str, list[np.ndarray]], views: list[str]) -> np.ndarray:
    """Test rows: each view's predictions merged over the folds, then the views merged."""
    return _merge_views(task, {v: task.merge_folds(p) for v, p in per_view.items()}, views)


def fold_scores(competition: Competition, y: np.ndarray, oof: np.ndarray, folds: np.ndarray,
                decision: dict[str, Any]) -> dict[str, list[float]]:
    decided = competition.decide(oof, decision)
    per_fold = [competition.score(y[folds == k], decided[folds == k]) for k in np.unique(folds)]
    return {m.name: [s[m.name] for s in per_fold] for m in competition.metrics}


class _StageLog(Listener):
    """Each finished stage as a line of the experiment's log.txt; the ones that end before the experiment's folder
    exists (loading the files, the folds) are written once it does."""

    def __init__(self, earlier: list[Stage]) -> None:
        self.experiment: Experiment | None = None
        self.pending = list(earlier)

    def finished(self, stage: Stage) -> None:
        self.pending.append(stage)
        if self.experiment is not None:
            self.flush(self.experiment)

    def flush(self, experiment: Experiment) -> None:
        self.experiment = experiment
        for done in self.pending:
            rows = f" ({done.total:,} {done.unit})" if done.total else ""
            experiment.log(f"stage {done.name}: {done.seconds:.1f} s{rows}")
        self.pending = []


@dataclass
class _FoldResults:
    """The fold files read back: out-of-fold predictions per view, the folds' test predictions per view, times."""

    oof: dict[str, np.ndarray]
    test: dict[str, list[np.ndarray]]
    fold_times: list[dict[str, float]]
    stats: dict[str, list[float]]


def _read_folds(task: TaskType, jobs: list[FoldJob], n_rows: int, views: list[str]) -> _FoldResults:
    kind = task.prediction
    out = _FoldResults({}, {v: [] for v in views}, [], {})
    for job in jobs:
        fold = read_fold(job.out_dir, kind)
        for key, value in fold.stats.items():
            out.stats.setdefault(key, []).append(value)
        for v in views:
            out.oof.setdefault(v, kind.allocate(n_rows, like=fold.valid[v]))[fold.valid_idx] = fold.valid[v]
            if v in fold.test:
                out.test[v].append(fold.test[v])
        out.fold_times.append({"fold": job.fold, "fit_s": round(fold.fit_s, 3), "predict_s": round(fold.predict_s, 3)})
    return out


class OutOfTime(Exception):
    """A run stopped at a fold boundary by its deadline: the finished folds are kept for the next run."""

    def __init__(self, experiment: str, folds_done: int, n_splits: int) -> None:
        super().__init__(f"{experiment}: out of time after {folds_done} of {n_splits} folds (kept for the next run)")
        self.experiment, self.folds_done, self.n_splits = experiment, folds_done, n_splits


def run_experiment(competition: Competition, dataset: Dataset, recipe: Recipe, runs_dir: Path, *,
                   executor: Executor | None = None, cache_dir: Path | None = None, store: Store | None = None,
                   times: StageTimes | None = None, lender: Lender | None = None,
                   deadline: float | None = None) -> ExperimentResult:
    """Cross-validate recipe's head on dataset; record the experiment; return its scores and test predictions.

    `executor` runs the folds (default: here, one after the other) and, through its `rows()`, large batches of
    rows to embed or featurise; `cache_dir`: the content cache (default runs_dir/cache). Each stage (folds,
    features, each fold's fit and predict, results) is timed through models.progress, so a caller listening
    there can draw bars; `times`: the caller's record of its own stages so far (loading the files), which
    the run continues: scores.json and log.txt keep them all. `lender`: what other experiments lend the
    folds' training sides (distillation, pseudo-labels; ensembles/transfer.py). `deadline` (time.time()): once
    past it, the run stops after the fold it is on and raises OutOfTime, its finished folds written.
    """
    runs_dir = Path(runs_dir)
    executor = executor or LocalExecutor()
    times = times or StageTimes()
    stage_log = _StageLog(times.stages)
    with listening(times), listening(stage_log), row_executor(executor.rows()), \
            using_cache_dir(cache_dir or runs_dir / "cache") as cache:
        return _run_experiment(competition, dataset, recipe, runs_dir, cache, executor,
                               store or Store(runs_dir / "leaderboard.sqlite"), times, stage_log, lender, deadline)


@dataclass
class _Run:
    """One run's state as it goes: where it writes, its data (curated), targets and folds."""

    competition: Competition
    recipe: Recipe
    experiment: Experiment
    dataset: Dataset
    fingerprint: str
    folds_id: str
    folds: np.ndarray
    keep: np.ndarray  # the training rows curation keeps (all, without curation)
    y: np.ndarray | None = None
    curation: dict[str, Any] | None = None


@dataclass
class _Scores:
    """The fold files merged and scored."""

    oof: np.ndarray
    test: np.ndarray
    decision: dict[str, Any]
    by_metric: dict[str, list[float]]  # metric -> per-fold scores
    cv_no_tta: float | None
    other: dict[str, float]
    read: _FoldResults


def _run_experiment(competition: Competition, dataset: Dataset, recipe: Recipe, runs_dir: Path, cache_dir: Path,
                    executor: Executor, store: Store, times: StageTimes, stage_log: _StageLog, lender: Lender | None,
                    deadline: float | None) -> ExperimentResult:
    run = _open(competition, dataset, recipe, runs_dir, stage_log)
    _curate(run)
    with stage("targets", total=len(run.dataset.train)):
        run.y = competition.targets(run.dataset, recipe.embedder)
    jobs = _fold_jobs(run)
    todo, repaired = folds_to_fit(jobs)
    for note in repaired:
        run.experiment.log(note)
    transfer = lender(run.y, run.folds) if lender is not None and todo else Transfer()
    context = FoldContext(competition.task, recipe.head, recipe.resolved()["params"], recipe.train_views, recipe.tta,
                          recipe.tta_budget, run.dataset.train, run.y, run.dataset.test, cache_dir,
                          run.dataset.label_names, transfer.extra_X, transfer.extra_weight)
    if todo:
        _prepare(run, context)
    fit_folds([lent(job, transfer) for job in todo], context, executor, done=len(jobs) - len(todo),
              on_written=_fold_written(run, len(jobs) - len(todo), deadline))
    with stage("results", total=len(run.dataset.train)):
        scores = _score(run, jobs)
        _write_predictions(run, scores)
    record = _record(run, scores)
    _write_summary(run, scores, record, times)
    record_noise(run.experiment, competition, run.y, competition.decide(scores.oof, scores.decision),
                 run.dataset.groups, run.folds_id)
    store.record_experiment(record.row())
    return ExperimentResult(
        id=record.id, dir=run.experiment.dir, metric=record.metric, higher_is_better=bool(record.higher_is_better),
        cv_mean=record.cv_mean, cv_std=record.cv_std, fold_scores=record.fold_scores, cv_no_tta=scores.cv_no_tta,
        other_scores=scores.other, decision=scores.decision,
        test_decided=competition.decide(scores.test, scores.decision) if len(scores.test) else scores.test,
        folds_run=len(todo), curation=run.curation, repaired=repaired,
    )


def _fold_written(run: _Run, done: int, deadline: float | None) -> Callable[[FoldOutput], None]:
    """Logs each finished fold; past the deadline, stops the run there (OutOfTime), the folds written so far kept."""
    n_splits, finished = run.recipe.folds.n_splits, [done]

    def written(output: FoldOutput) -> None:
        run.experiment.log(f"finished fold {output.fold}")
        finished[0] += 1
        if deadline is not None and time.time() > deadline and finished[0] < n_splits:
            run.experiment.log(f"out of time after {finished[0]} of {n_splits} folds")
            raise OutOfTime(run.experiment.id, finished[0], n_splits)
    return written


def _open(competition: Competition, dataset: Dataset, recipe: Recipe, runs_dir: Path, stage_log: _StageLog) -> _Run:
    """The folds, the experiment's id and folder, its recipe.yaml and the first lines of its log."""
    with stage("fingerprint and folds", total=len(dataset.train)):
        fingerprint = dataset.fingerprint()
        folds_id, folds = shared_folds(competition, dataset, recipe.folds, runs_dir, fingerprint)
    experiment = Experiment.at(runs_dir, competition.name, experiment_id(recipe, fingerprint, folds_id))
    experiment.create()
    experiment.write_recipe(recipe.resolved())
    experiment.log(f"start {experiment.id} folds={folds_id}")
    stage_log.flush(experiment)
    return _Run(competition, recipe, experiment, dataset, fingerprint, folds_id, folds,
                np.ones(len(dataset.train), dtype=bool))


def _curate(run: _Run) -> None:
    """Curation after the folds: they stay those of the raw data; filters only shrink each training side."""
    if not run.recipe.curation:
        return
    with stage("curation", total=len(run.dataset.train) + len(run.dataset.test)):
        curated = curate_dataset(run.dataset, run.recipe.curation)
    run.dataset, run.keep, run.curation = curated.dataset, curated.keep, curated.report
    run.experiment.write_curation(curated.report)


def _fold_jobs(run: _Run) -> list[FoldJob]:
    jobs = [FoldJob(k, np.flatnonzero((run.folds != k) & run.keep), np.flatnonzero(run.folds == k),
                    run.experiment.fold_dir(k)) for k in range(run.recipe.folds.n_splits)]
    empty = [job.fold for job in jobs if not len(job.train_idx)]
    if empty:
        raise CurationError(f"curation kept no training rows outside fold(s) {empty} ({run.keep.sum()} of "
                            f"{len(run.keep)} kept): loosen its filters, e.g. --set curation.steps.word_count.min=5")
    return jobs


def _prepare(run: _Run, context: FoldContext) -> None:
    """What every fold needs (embeddings, features), once for all rows before the folds."""
    extra = [] if context.extra_X is None else [context.extra_X]
    all_rows = pd.concat([run.dataset.train, run.dataset.test, *extra], ignore_index=True)
    with stage("features", total=len(all_rows)):
        HEADS.get(context.head)(**context.params).prepare(all_rows, task=context.task)


def _score(run: _Run, jobs: list[FoldJob]) -> _Scores:
    """The folds' predictions merged over views (and, for the test rows, folds), the decision fitted on the
    out-of-fold rows, and the scores per fold with and without the test-time views."""
    competition, recipe, y, folds = run.competition, run.recipe, run.y, run.folds
    task, metric = competition.task, competition.metric
    read = _read_folds(task, jobs, len(y), [PLAIN, *recipe.tta])
    oof = _merge_views(task, read.oof, recipe.tta)
    test = _merge_fold_views(task, read.test, recipe.tta) if read.test[PLAIN] else task.prediction.allocate(0, like=oof)
    decision = competition.fit_decision(y, oof)
    by_metric = fold_scores(competition, y, oof, folds, decision)
    cv_no_tta = None
    if recipe.tta:
        plain_decision = competition.fit_decision(y, read.oof[PLAIN])
        cv_no_tta = float(np.mean(fold_scores(competition, y, read.oof[PLAIN], folds, plain_decision)[metric.name]))
    other = {name: float(np.mean(values)) for name, values in by_metric.items() if name != metric.name}
    if not run.keep.all():  # the same OOF predictions, scored on the rows curation keeps
        keep = run.keep
        kept = fold_scores(competition, y[keep], oof[keep], folds[keep], decision)[metric.name]
        other[f"{metric.name}_kept_rows"] = float(np.mean(kept))
    return _Scores(oof, test, decision, by_metric, cv_no_tta, other, read)


def _write_predictions(run: _Run, scores: _Scores) -> None:
    kind, names, dataset = run.competition.task.prediction, run.dataset.label_names, run.dataset
    oof = kind.to_frame(scores.oof, names).assign(id=dataset.train["id"].to_numpy(), fold=run.folds)
    test = kind.to_frame(scores.test, names).assign(id=dataset.test["id"].to_numpy()) if len(scores.test) else None
    run.experiment.write_predictions(oof, test)


def _record(run: _Run, scores: _Scores) -> Record:
    metric, times = run.competition.metric, scores.read.fold_times
    main = np.array(scores.by_metric[metric.name])
    return Record(
        id=run.experiment.id, competition=run.competition.name, kind="model", recipe=run.recipe.name,
        head=run.recipe.head, metric=metric.name, higher_is_better=int(metric.higher_is_better),
        cv_mean=float(main.mean()), cv_std=float(main.std()), cv_no_tta=scores.cv_no_tta,
        fold_scores=scores.by_metric[metric.name], other_scores=scores.other,
        fit_s=sum(t["fit_s"] for t in times), predict_s=sum(t["predict_s"] for t in times),
        n_train=len(run.dataset.train), fingerprint=run.fingerprint, folds_id=run.folds_id, git_commit=git_commit(),
        path=str(run.experiment.dir), created=now(), learned_from=run.recipe.learned_from())


def _write_summary(run: _Run, scores: _Scores, record: Record, times: StageTimes) -> None:
    """scores.json, and the scores in log.txt."""
    head_stats = {k: float(np.mean(v)) for k, v in scores.read.stats.items()}  # per-fold means the head reported
    run.experiment.write_summary(
        record, fold_scores=scores.by_metric, cv_no_tta=scores.cv_no_tta, decision=scores.decision,
        predict_s=record.predict_s, packages=package_versions(), embedder=run.recipe.embedder, head_stats=head_stats,
        # This run's stages in seconds (a rerun that reuses finished folds shows only what it did), and each
        # fold's own fit and predict time from its result file, whichever run fitted it.
        stages=times.totals(), fold_times=scores.read.fold_times)
    run.experiment.log(f"{record.metric} {record.cv_mean:.5f} ± {record.cv_std:.5f}")
    if head_stats:
        run.experiment.log("head stats " + json.dumps(head_stats))

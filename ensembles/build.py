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
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from submit.cv.io import atomic_write, atomic_write_text
from submit.cv.noise import record_noise
from submit.cv.runner import fold_scores, git_commit
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


def build_ensemble(competition: Competition, members: list[Member], y: np.ndarray, method: str, runs_dir: Path,
                   store: Store, groups: np.ndarray | None = None) -> EnsembleResult:
    """Blend members on their shared folds, score the blend's OOF, write it as an experiment and record it.
    `groups`: the data's groups (Dataset.groups), so the noise of a grouped CV resamples them as its members'."""
    task = competition.task
    check_compatible(members, task)
    if len(y) != len(members[0].oof):
        raise EnsembleError(f"the targets have {len(y)} rows but experiment {members[0].id} has "
                            f"{len(members[0].oof)} out-of-fold rows: load the data the experiments ran on")
    start = time.perf_counter()
    folds = members[0].folds
    oof_preds = [m.oof for m in members]
    oof = cross_fit(method, task, oof_preds, y, folds)
    full = make_combiner(method, task).fit(oof_preds, y)
    test = full.apply([m.test for m in members]) if len(members[0].test) else members[0].test
    fit_s = time.perf_counter() - start

    decision = competition.fit_decision(y, oof)
    scores = fold_scores(competition, y, oof, folds, decision)
    metric = competition.metric
    main = np.array(scores[metric.name])
    described = full.describe()
    weights = dict(zip([m.id for m in members], described["weights"] or [None] * len(members), strict=True))

    exp_id = ensemble_id(members, method)
    exp_dir = Path(runs_dir) / competition.name / exp_id
    exp_dir.mkdir(parents=True, exist_ok=True)
    first = members[0]
    recipe = {"name": exp_id, "method": method, "members": [m.id for m in members],
              "embedder": first.recipe.get("embedder"), "data": first.recipe.get("data", {})}
    atomic_write_text(exp_dir / "recipe.yaml", yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))
    oof_frame = task.prediction.to_frame(oof, first.columns).assign(id=first.ids, fold=folds)
    atomic_write(exp_dir / "oof.parquet", lambda tmp: oof_frame.to_parquet(tmp, index=False))
    if len(test):
        test_frame = task.prediction.to_frame(test, first.columns).assign(id=first.test_ids)
        atomic_write(exp_dir / "test.parquet", lambda tmp: test_frame.to_parquet(tmp, index=False))
    other = {name: float(np.mean(values)) for name, values in scores.items() if name != metric.name}
    row = {
        "id": exp_id, "competition": competition.name, "kind": "ensemble", "recipe": "ensemble", "head": method,
        "metric": metric.name, "higher_is_better": int(metric.higher_is_better), "cv_mean": float(main.mean()),
        "cv_std": float(main.std()), "cv_no_tta": None, "fold_scores": scores[metric.name], "other_scores": other,
        "fit_s": fit_s, "predict_s": 0.0, "n_train": len(y), "fingerprint": first.fingerprint,
        "folds_id": first.folds_id, "git_commit": git_commit(), "path": str(exp_dir), "created": now(),
    }
    summary = {
        "experiment": exp_id, "competition": competition.name, "method": method, "metric": metric.name,
        "higher_is_better": metric.higher_is_better, "cv_mean": row["cv_mean"], "cv_std": row["cv_std"],
        "fold_scores": scores, "decision": decision, "fit_s": fit_s, "fingerprint": first.fingerprint,
        "folds_id": first.folds_id, "git_commit": row["git_commit"],
        "members": [{"id": m.id, "head": m.head, "cv_mean": m.cv_mean, "weight": weights[m.id]} for m in members],
        "combiner": described,
        "leaderboard": row,  # the store's row, so a damaged store can be rebuilt from the folders
    }
    atomic_write_text(exp_dir / "scores.json", json.dumps(summary, indent=2))
    record_noise(exp_dir, competition, y, competition.decide(oof, decision), groups, first.folds_id)
    atomic_write_text(exp_dir / "ensemble.json", json.dumps({"method": method, "members": summary["members"],
                                                            "combiner": described}, indent=2))
    store.record_ensemble(row, weights)
    return EnsembleResult(
        id=exp_id, dir=exp_dir, method=method, metric=metric.name, higher_is_better=metric.higher_is_better,
        cv_mean=summary["cv_mean"], cv_std=summary["cv_std"], fold_scores=scores[metric.name], other_scores=other,
        weights=weights, combiner=described, decision=decision,
        test_decided=competition.decide(test, decision) if len(test) else test,
    )

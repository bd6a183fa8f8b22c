"""Knowledge from other experiments on the same folds: a teacher's soft labels (distillation) and
pseudo-labelled rows, lent to each fold of a run so that its CV stays honest.

    lender = make_lender(competition, dataset, recipe, runs_dir, store)
    run_experiment(competition, dataset, recipe, runs_dir, lender=lender)

Honest distillation. Student fold k must not learn from fold k's labels, even through a teacher. The
teacher's own out-of-fold predictions would leak them: a training row's OOF prediction came from a teacher
fitted on the other folds, fold k among them. So the teacher is refitted from its own recipe once per pair
of folds {j, k}, on the remaining folds, and predicts folds j and k; student fold k takes the soft label
of a row of fold j from the fit without {j, k}: a teacher that saw neither that row's nor fold k's labels.
That is K(K-1)/2 fits (10 for five folds), through the runner's fold loop, kept in the teacher's folder
(Experiment.nested_dir, sealed like folds) and shared by every student of that teacher. An ensemble
teacher: each member so, then, for student fold k, the ensemble's method fitted on those members' soft
labels of the rows outside fold k (and their labels) and applied to them. A student's targets are
(1 - alpha) * labels + alpha * soft labels, softened by the task at the temperature (TaskType.soften).

Pseudo-labels. Student fold k adds the test rows (or data.unlabeled's rows) labelled by the teacher's own
fold-k fit, the one that never saw fold k's labels (for an ensemble, its members' fold-k fits blended as
above), keeping the rows the teacher is at least `threshold` sure of (the task's certainty), at sample
weight `weight`. Those rows are in no fold and never scored.

A teacher must have learnt from its labels only (not itself distilled or pseudo-labelled), on the same
data, folds and target space as the student, without curation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from submit.cv.experiment import PLAIN, Experiment, read_fold
from submit.cv.recipe import Recipe, build_recipe
from submit.cv.runner import FoldContext, FoldJob, Lender, Transfer, fit_folds, folds_to_fit, predict_views
from submit.cv.store import Store
from submit.ensembles.build import make_combiner
from submit.ensembles.methods import Combiner
from submit.kernel.competition import Competition, Dataset
from submit.kernel.errors import UserError
from submit.kernel.parallel import Executor, LocalExecutor
from submit.models.cache import cache_dir
from submit.models.registry import HEADS


class TransferError(UserError, ValueError):
    """A teacher that cannot lend to this run: unknown, on other data or folds, or itself taught."""


@dataclass
class Teacher:
    """One experiment (model or ensemble) as a teacher of a run on the same data and folds."""

    id: str
    experiment: Experiment
    recipe: dict[str, Any]  # its recipe.yaml
    members: list[Teacher]  # an ensemble's; [] for a model

    @property
    def method(self) -> str | None:
        return self.recipe.get("method")


def open_teacher(store: Store, competition: Competition, teacher_id: str, student: Recipe) -> Teacher:
    """The teacher's record, checked: known, learnt from its labels only, in the student's target space."""
    row = store.experiment(teacher_id)
    if row is None or row["competition"] != competition.name:
        raise TransferError(f"no experiment {teacher_id} for {competition.name} to learn from; see "
                            f"`submit leaderboard {competition.name}` for the ids")
    if row.get("learned_from"):
        raise TransferError(f"experiment {teacher_id} itself learnt from another ({row['learned_from']}); a teacher "
                            "must have learnt from its labels only, so that its refits per pair of folds stay honest")
    experiment = Experiment(Path(row["path"]))
    recipe = experiment.read_recipe()
    if recipe.get("curation"):
        raise TransferError(f"experiment {teacher_id} curated its training rows; choose a teacher without curation")
    if competition.task.prediction.in_embedder_space and recipe.get("embedder") != student.embedder:
        raise TransferError(f"experiment {teacher_id} predicts vectors in the {recipe.get('embedder')} space, the "
                            f"student's targets are in {student.embedder}: set the student's embedder to match")
    members = [open_teacher(store, competition, m, student) for m in recipe.get("members", [])]
    return Teacher(teacher_id, experiment, recipe, members)


def _check_folds(teacher: Teacher, ids: np.ndarray, folds: np.ndarray) -> None:
    oof = teacher.experiment.read_oof(columns=["id", "fold"])
    if len(oof) != len(ids) or not (oof["id"].astype(str).to_numpy() == ids).all() \
            or not (oof["fold"].to_numpy() == folds).all():
        raise TransferError(f"experiment {teacher.id} ran on other training rows or folds than this run; a teacher "
                            "must share the student's data and folds (same --data, data options and folds settings)")


class _Lessons:
    """A teacher's predictions for one run: nested pair fits, and its fold fits on extra rows."""

    def __init__(self, competition: Competition, dataset: Dataset, y: np.ndarray, folds: np.ndarray,
                 executor: Executor) -> None:
        self.competition, self.dataset, self.y, self.folds, self.executor = competition, dataset, y, folds, executor
        self.n_splits = int(folds.max()) + 1
        self._soft: dict[str, dict[int, np.ndarray]] = {}

    def _recipe(self, teacher: Teacher) -> Recipe:
        raw = {k: v for k, v in teacher.recipe.items() if k != "name"}
        return build_recipe(self.competition, raw, teacher.recipe.get("name", teacher.id))

    def _pairs(self, teacher: Teacher) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
        """(j, k) -> (rows of folds j and k, their predictions by the teacher refitted without both folds)."""
        recipe = self._recipe(teacher)
        task = self.competition.task
        y = self.competition.targets(self.dataset, recipe.embedder)
        pairs = [(j, k) for j in range(self.n_splits) for k in range(j + 1, self.n_splits)]
        jobs = [FoldJob(j, np.flatnonzero((self.folds != j) & (self.folds != k)),
                        np.flatnonzero((self.folds == j) | (self.folds == k)), teacher.experiment.nested_dir(j, k))
                for j, k in pairs]
        todo, _ = folds_to_fit(jobs)
        context = FoldContext(task, recipe.head, recipe.resolved()["params"], recipe.train_views, recipe.tta,
                              recipe.tta_budget, self.dataset.train, y, self.dataset.test.iloc[:0], cache_dir(),
                              self.dataset.label_names)
        fit_folds(todo, context, self.executor, done=len(jobs) - len(todo), unit="fits",
                  label=f"teacher {teacher.id}: refits without each pair of folds")
        out = {}
        for pair, job in zip(pairs, jobs, strict=True):
            fold = read_fold(job.out_dir, task.prediction)
            out[pair] = (job.valid_idx, task.combine([fold.valid[v] for v in [PLAIN, *recipe.tta]]))
        return out

    def soft_labels(self, teacher: Teacher) -> dict[int, np.ndarray]:
        """Fold k -> (n, width) predictions of the rows outside fold k by fits that never saw fold k."""
        if teacher.id not in self._soft:
            self._soft[teacher.id] = self._ensemble_soft(teacher) if teacher.members else self._model_soft(teacher)
        return self._soft[teacher.id]

    def _model_soft(self, teacher: Teacher) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for (j, k), (rows, pred) in self._pairs(teacher).items():
            for student, other in ((j, k), (k, j)):  # the fit without {j, k} predicts fold `other` for `student`
                picked = self.folds[rows] == other
                target = out.setdefault(student, self.competition.task.prediction.allocate(len(self.y), like=pred))
                target[rows[picked]] = pred[picked]
        return out

    def _combiner(self, teacher: Teacher, k: int) -> Combiner:
        """The ensemble's method fitted, for student fold k, on its members' soft labels outside fold k."""
        outside = self.folds != k
        preds = [self.soft_labels(m)[k][outside] for m in teacher.members]
        return make_combiner(teacher.method, self.competition.task).fit(preds, self.y[outside])

    def _ensemble_soft(self, teacher: Teacher) -> dict[int, np.ndarray]:
        out = {}
        for k in range(self.n_splits):
            outside = self.folds != k
            out[k] = self.soft_labels(teacher.members[0])[k].copy()
            out[k][outside] = self._combiner(teacher, k).apply([self.soft_labels(m)[k][outside]
                                                                for m in teacher.members])
        return out

    def fold_predictions(self, teacher: Teacher, X: pd.DataFrame, on_test: bool) -> dict[int, np.ndarray]:
        """Fold k -> the teacher's fold-k fit's predictions of rows X (the test rows when on_test: stored)."""
        task = self.competition.task
        if teacher.members:
            per_member = [self.fold_predictions(m, X, on_test) for m in teacher.members]
            return {k: self._combiner(teacher, k).apply([p[k] for p in per_member]) for k in range(self.n_splits)}
        recipe = self._recipe(teacher)
        out = {}
        for k in range(self.n_splits):
            if on_test:
                stored = teacher.experiment.read_fold(k, task.prediction).test
                views = [stored[v] for v in [PLAIN, *recipe.tta]]
            else:
                head = HEADS.get(recipe.head).load(teacher.experiment.model_dir(k))
                views = list(predict_views(head, task, X, recipe.tta, recipe.tta_budget,
                                           label=f"teacher fold {k + 1} predict").values())
            out[k] = task.combine(views)
        return out


def make_lender(competition: Competition, dataset: Dataset, recipe: Recipe, store: Store, *,
                unlabeled: pd.DataFrame | None = None, executor: Executor | None = None) -> Lender | None:
    """What the recipe's distill_from and pseudo_labels lend each fold (None when it uses neither); the
    teachers are checked now, before any fold runs."""
    distill = open_teacher(store, competition, recipe.distill_from, recipe) if recipe.distill_from else None
    pseudo = recipe.pseudo_labels
    pseudo_teacher = open_teacher(store, competition, pseudo["from"], recipe) if pseudo else None
    if distill is None and pseudo_teacher is None:
        return None
    task = competition.task
    ids = dataset.train["id"].astype(str).to_numpy()

    def lend(y: np.ndarray, folds: np.ndarray) -> Transfer:
        lessons = _Lessons(competition, dataset, y, folds, executor or LocalExecutor())
        fold_targets: dict[int, np.ndarray] = {}
        if distill is not None:
            _check_folds(distill, ids, folds)
            alpha = recipe.distill_alpha
            for k, soft in lessons.soft_labels(distill).items():
                fold_targets[k] = (1 - alpha) * y + alpha * task.soften(soft, recipe.distill_temperature)
        if pseudo_teacher is None:
            return Transfer(fold_targets)
        _check_folds(pseudo_teacher, ids, folds)
        rows = dataset.test if unlabeled is None else unlabeled
        extra = {}
        for k, pred in lessons.fold_predictions(pseudo_teacher, rows, on_test=unlabeled is None).items():
            kept = np.flatnonzero(task.certainty(pred) >= pseudo["threshold"]) if pseudo["threshold"] > 0 \
                else np.arange(len(pred))
            extra[k] = (kept, pred[kept])
        return Transfer(fold_targets, rows, extra, pseudo["weight"])

    return lend


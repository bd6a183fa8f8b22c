"""Ways to combine members' predictions, each fitted on out-of-fold predictions only.

    combiner = METHODS["weighted"](task=PREFERENCE).fit([oof_a, oof_b], y)
    blend = combiner.apply([test_a, test_b])         # the task's array, like one member's
    combiner.describe()                              # {"weights": [...]} for the record, plain JSON
    METHODS["weighted"](task=PREFERENCE).restore(described).apply(...)   # as fitted, without refitting

- weighted: non-negative weights summing to 1 that minimise the task's loss on OOF (SLSQP).
- rank: equal-weight mean of each member's ranks (scaled to [0, 1]) over all cells of the rows predicted
  together; ranked jointly, not per column, so a rare tag's scores stay comparable with a common one's.
- caruana: greedy ensemble selection with replacement (Caruana et al. 2004, as AutoGluon's weighted
  ensemble): repeatedly add the member that most lowers the loss; weights are the counts.
- stack: a logistic-regression meta-model on the members' logits (the task's `stack_layout`: "classes",
  multinomial over the classes; "cells", one binary model shared by all tags on each (row, tag) pair's
  member scores).
- mbr: text; per row the member output most similar to the others (minimum Bayes risk, equal weights)
  within the subset of members (all, some, or one alone) that scores best on the OOF rows it is fitted on.

The task decides what a blend and a loss are (`task.blend`, `task.loss`: log loss for preference, minus the
mean cosine for vectors, binary cross-entropy for tag scores, minus the metric's similarity for text) and
which methods make sense (`task.ensemble_methods`); the leaderboard then scores the blend with the
competition's own metric and decision step.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from submit.ensembles.members import EnsembleError
from submit.kernel.tasks import EPS, TaskType


class Combiner:
    name: ClassVar[str]

    def __init__(self, *, task: TaskType) -> None:
        if self.name not in task.ensemble_methods:
            raise EnsembleError(f"--method {self.name} does not fit the {task.name} task; use one of: "
                                f"{', '.join(task.ensemble_methods)}")
        self.task = task

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> Combiner:
        raise NotImplementedError

    def apply(self, preds: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def restore(self, described: dict[str, Any]) -> Combiner:
        """The fitted combiner back from what `describe()` recorded (ensemble.json), ready to apply."""
        raise NotImplementedError


class Weighted(Combiner):
    name = "weighted"

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> Weighted:
        m = len(preds)
        result = minimize(lambda w: self.task.loss(y, self.task.blend(preds, w)),
                          np.full(m, 1 / m), method="SLSQP", bounds=[(0.0, 1.0)] * m,
                          constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}])
        weights = np.clip(result.x, 0, None)
        self.weights_ = weights / weights.sum()
        return self

    def apply(self, preds: list[np.ndarray]) -> np.ndarray:
        return self.task.blend(preds, self.weights_)

    def describe(self) -> dict[str, Any]:
        return {"weights": self.weights_.tolist()}

    def restore(self, described: dict[str, Any]) -> Weighted:
        self.weights_ = np.asarray(described["weights"], dtype=np.float64)
        return self


class Caruana(Weighted):
    """Weights from greedy selection with replacement; blended like `Weighted`."""

    name = "caruana"

    def __init__(self, *, task: TaskType, iterations: int = 25) -> None:
        super().__init__(task=task)
        self.iterations = iterations  # members drawn (with replacement) into the bag

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> Caruana:
        counts = np.zeros(len(preds))
        for _ in range(self.iterations):
            # Ties go to the earlier member (np.argmin), so the selection is deterministic.
            losses = [self.task.loss(y, self.task.blend(preds, (counts + np.eye(len(preds))[j]) / (counts.sum() + 1)))
                      for j in range(len(preds))]
            counts[int(np.argmin(losses))] += 1
        self.weights_ = counts / counts.sum()
        return self


class RankAverage(Combiner):
    name = "rank"

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> RankAverage:
        return self

    def apply(self, preds: list[np.ndarray]) -> np.ndarray:
        ranks = np.mean([rankdata(p, axis=None).reshape(p.shape) / p.size for p in preds], axis=0)
        # Brought back to the task's terms: preference rows renormalised so they read as probabilities
        # (ranks are not calibrated: log loss suffers).
        return self.task.normalise(ranks)

    def describe(self) -> dict[str, Any]:
        return {"weights": None}

    def restore(self, described: dict[str, Any]) -> RankAverage:
        return self


def _logits(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


class Stack(Combiner):
    name = "stack"

    def __init__(self, *, task: TaskType, C: float = 1.0) -> None:
        super().__init__(task=task)
        self.C = C  # inverse L2 strength of the meta-model

    def _features(self, preds: list[np.ndarray]) -> np.ndarray:
        if self.task.stack_layout == "classes":
            return np.hstack([np.log(np.clip(p, EPS, 1)) for p in preds])
        return np.stack([_logits(p).ravel() for p in preds], axis=1)  # tagging: one row per (row, tag)

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> Stack:
        target = y.argmax(axis=1) if self.task.stack_layout == "classes" else y.ravel().astype(np.int64)
        self.n_outputs_ = y.shape[1]
        self.model_ = LogisticRegression(C=self.C, max_iter=1000).fit(self._features(preds), target)
        return self

    def apply(self, preds: list[np.ndarray]) -> np.ndarray:
        proba = self.model_.predict_proba(self._features(preds))
        if self.task.stack_layout == "cells":
            return proba[:, 1].reshape(len(preds[0]), -1)
        out = np.zeros((len(proba), self.n_outputs_))
        out[:, self.model_.classes_] = proba  # a class no training row had keeps probability 0
        return out

    def describe(self) -> dict[str, Any]:
        return {"weights": None, "meta_model": "logistic regression", "coef": self.model_.coef_.tolist(),
                "intercept": self.model_.intercept_.tolist(), "classes": self.model_.classes_.tolist(),
                "n_outputs": self.n_outputs_}

    def restore(self, described: dict[str, Any]) -> Stack:
        if "classes" not in described:
            raise EnsembleError("its meta-model was recorded without its classes (by an older version), so it cannot "
                                "be applied to new rows")
        # The fitted state of a logistic regression is its coefficients, intercepts and classes: set back as
        # fitted attributes, predict_proba computes exactly what the fitted model did (stored as JSON, not pickled).
        model = LogisticRegression(C=self.C, max_iter=1000)
        model.coef_, model.intercept_, model.classes_ = (np.asarray(described[key]) for key in
                                                         ("coef", "intercept", "classes"))
        model.n_features_in_ = model.coef_.shape[1]
        self.model_, self.n_outputs_ = model, int(described["n_outputs"])
        return self


def equal_weight_subsets(m: int, max_members: int) -> list[np.ndarray]:
    """Equal weights over each non-empty subset of m members, the largest subsets first (all m first), then the
    single members; beyond max_members members only all of them and each one alone (2^m subsets grow fast)."""
    if m > max_members:
        return [np.full(m, 1 / m), *np.eye(m)]
    masks = sorted((mask for mask in itertools.product((1, 0), repeat=m) if any(mask)), key=sum, reverse=True)
    return [np.asarray(mask) / sum(mask) for mask in masks]


class Mbr(Weighted):
    """Text: per row, the output with the highest mean similarity to the others' (minimum Bayes risk, equal
    weights) among a subset of the members: the subset (all of them, a few, or one member alone) that scores
    best on the rows the combiner is fitted on, ties to the larger. Fitted on OOF rows only, as every combiner,
    so in the nested CV a fold's choice never saw its labels. Subsets, not only all or one: a weak member
    (a constant text) drags the vote of two good ones down (code instructions: two retrievals 31.48 chrF, 28.89
    with two more), while leaving it out of the portfolio would lose it where it is the best alone (MReD)."""

    name = "mbr"
    max_members = 5  # all 31 subsets of five members; more: all or one

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> Mbr:
        options = equal_weight_subsets(len(preds), self.max_members)
        losses = [self.task.loss(y, self.task.blend(preds, weights)) for weights in options]
        self.weights_ = options[int(np.argmin(losses))]
        return self


METHODS: dict[str, type[Combiner]] = {c.name: c for c in (Weighted, RankAverage, Caruana, Stack, Mbr)}

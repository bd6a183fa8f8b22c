"""Ways to combine members' predictions, each fitted on out-of-fold predictions only.

    combiner = METHODS["weighted"](task="preference").fit([oof_a, oof_b], y)
    blend = combiner.apply([test_a, test_b])         # the task's array, like one member's
    combiner.describe()                              # {"weights": [...]} for the record, plain JSON
    METHODS["weighted"](task="preference").restore(described).apply(...)   # as fitted, without refitting

- weighted: non-negative weights summing to 1 that minimise the task's loss on OOF (SLSQP).
- rank: equal-weight mean of each member's ranks (scaled to [0, 1]) over all cells of the rows predicted
  together; ranked jointly, not per column, so a rare tag's scores stay comparable with a common one's.
- caruana: greedy ensemble selection with replacement (Caruana et al. 2004, as AutoGluon's weighted
  ensemble): repeatedly add the member that most lowers the loss; weights are the counts.
- stack: a logistic-regression meta-model on the members' logits (preference: multinomial over the
  classes; tagging: one binary model shared by all tags, on each (row, tag) pair's member scores).

The losses are smooth stand-ins in the task's terms (log loss for preference, minus the mean cosine for
vectors, binary cross-entropy for tag scores); the leaderboard then scores the blend with the
competition's own metric and decision step. Vectors are blended as unit vectors and renormalised.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression

from competitions.tasks import cosine_to_references, unit_rows
from ensembles.members import EnsembleError

EPS = 1e-7


def task_loss(task: str, y: np.ndarray, pred: np.ndarray) -> float:
    if task == "preference":
        return float(-np.mean(np.sum(y * np.log(np.clip(pred, EPS, 1)), axis=1)))
    if task == "answer_embedding":
        return -cosine_to_references(y, pred)
    if task == "tagging":
        p = np.clip(pred, EPS, 1 - EPS)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    raise EnsembleError(f"no ensembles for the {task} task")


def weighted_blend(task: str, preds: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    if task == "answer_embedding":
        return unit_rows(sum(w * unit_rows(p) for w, p in zip(weights, preds, strict=True)))
    return sum(w * p for w, p in zip(weights, preds, strict=True))


class Combiner:
    name: ClassVar[str]

    def __init__(self, *, task: str) -> None:
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
        result = minimize(lambda w: task_loss(self.task, y, weighted_blend(self.task, preds, w)),
                          np.full(m, 1 / m), method="SLSQP", bounds=[(0.0, 1.0)] * m,
                          constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}])
        weights = np.clip(result.x, 0, None)
        self.weights_ = weights / weights.sum()
        return self

    def apply(self, preds: list[np.ndarray]) -> np.ndarray:
        return weighted_blend(self.task, preds, self.weights_)

    def describe(self) -> dict[str, Any]:
        return {"weights": self.weights_.tolist()}

    def restore(self, described: dict[str, Any]) -> Weighted:
        self.weights_ = np.asarray(described["weights"], dtype=np.float64)
        return self


class Caruana(Weighted):
    """Weights from greedy selection with replacement; blended like `Weighted`."""

    name = "caruana"

    def __init__(self, *, task: str, iterations: int = 25) -> None:
        super().__init__(task=task)
        self.iterations = iterations  # members drawn (with replacement) into the bag

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> Caruana:
        counts = np.zeros(len(preds))
        for _ in range(self.iterations):
            # Ties go to the earlier member (np.argmin), so the selection is deterministic.
            losses = [task_loss(self.task, y, weighted_blend(self.task, preds, (counts + np.eye(len(preds))[j]) /
                                                             (counts.sum() + 1))) for j in range(len(preds))]
            counts[int(np.argmin(losses))] += 1
        self.weights_ = counts / counts.sum()
        return self


class RankAverage(Combiner):
    name = "rank"

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> RankAverage:
        if self.task == "answer_embedding":
            raise EnsembleError("rank averaging has no meaning for vectors; use --method weighted or caruana")
        return self

    def apply(self, preds: list[np.ndarray]) -> np.ndarray:
        ranks = np.mean([rankdata(p, axis=None).reshape(p.shape) / p.size for p in preds], axis=0)
        # Preference: rows renormalised so they read as probabilities (ranks are not calibrated: log loss suffers).
        return ranks / ranks.sum(axis=1, keepdims=True) if self.task == "preference" else ranks

    def describe(self) -> dict[str, Any]:
        return {"weights": None}

    def restore(self, described: dict[str, Any]) -> RankAverage:
        return self


def _logits(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


class Stack(Combiner):
    name = "stack"

    def __init__(self, *, task: str, C: float = 1.0) -> None:
        super().__init__(task=task)
        self.C = C  # inverse L2 strength of the meta-model

    def _features(self, preds: list[np.ndarray]) -> np.ndarray:
        if self.task == "preference":
            return np.hstack([np.log(np.clip(p, EPS, 1)) for p in preds])
        return np.stack([_logits(p).ravel() for p in preds], axis=1)  # tagging: one row per (row, tag)

    def fit(self, preds: list[np.ndarray], y: np.ndarray) -> Stack:
        if self.task not in ("preference", "tagging"):
            raise EnsembleError("stacking needs class or tag scores; for vectors use --method weighted or caruana")
        target = y.argmax(axis=1) if self.task == "preference" else y.ravel().astype(np.int64)
        self.n_outputs_ = y.shape[1]
        self.model_ = LogisticRegression(C=self.C, max_iter=1000).fit(self._features(preds), target)
        return self

    def apply(self, preds: list[np.ndarray]) -> np.ndarray:
        proba = self.model_.predict_proba(self._features(preds))
        if self.task == "tagging":
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


METHODS: dict[str, type[Combiner]] = {c.name: c for c in (Weighted, RankAverage, Caruana, Stack)}

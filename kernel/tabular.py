"""The tabular task types: regression, binary, multiclass and multilabel, each scored by a metric of
kernel/metrics.py, with the decision step that metric asks for fitted on out-of-fold predictions.

    task = tabular_task("binary", "accuracy")       # a threshold on the positive class's probability
    task.decide(oof, task.fit_decision(y, oof))      # labels, as scored
    tabular_task("regression", "rmsle").to_model(y)  # heads learn log1p(y); from_model brings it back

They follow the contract of kernel/tasks.py (TaskType); a described competition (`submit init`) makes its
own instance with its metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from submit.kernel import metrics, submissions
from submit.kernel.submissions import SubmissionKind
from submit.kernel.tasks import (
    PROBABILITIES,
    TAGGING,
    ClassProbabilities,
    NumericKind,
    PredictionKind,
    TaskType,
)

# --- tabular: regression, binary, multiclass, multilabel -------------------------------------------------
# The arrays are kernel/metrics.py's. A competition makes its own instance with its metric (the described
# competition does: `RegressionTask(name="regression", metric="rmsle")`); the metric decides the decision
# step fitted on OOF and, for RMSLE, the space the heads learn in (`to_model` / `from_model`).

THRESHOLD_GRID = 200  # candidate thresholds (quantiles of the OOF scores) tried by a threshold decision
CLIP_GRID = (1e-15, 1e-6, 1e-4, 1e-3, 1e-2, 2e-2, 5e-2)  # log loss: the clip of probabilities fitted on OOF
VALUES, COLUMN_SCORES = NumericKind("values"), NumericKind("column probabilities")


def _threshold_grid(scores: np.ndarray) -> np.ndarray:
    return np.unique(np.quantile(scores, np.linspace(0.0, 1.0, THRESHOLD_GRID)))


def fit_threshold(score: Callable[[float], float]) -> Callable[[np.ndarray], float]:
    """The threshold of the grid over `scores` whose decision scores best (the first best on a tie)."""
    def fit(scores: np.ndarray) -> float:
        grid = _threshold_grid(scores)
        return float(grid[int(np.argmax([score(t) for t in grid]))])
    return fit


def clip_probabilities(pred: np.ndarray, eps: float, *, rows_sum_to_one: bool) -> np.ndarray:
    p = np.clip(pred, eps, 1 - eps)
    return p / p.sum(axis=1, keepdims=True) if rows_sum_to_one else p


def fit_cuts(values: np.ndarray, classes: np.ndarray, score: Callable[[np.ndarray], float],
             rounds: int = 3) -> list[float]:
    """Cut points between ordered classes (Kaggle's optimised rounder): start at the midpoints, then move each
    cut in turn to the best of a grid between its neighbours, a few rounds. `score(cuts)` is the metric."""
    cuts = list((classes[:-1] + classes[1:]) / 2.0)
    for _ in range(rounds):
        for j in range(len(cuts)):
            low = cuts[j - 1] if j else min(values.min(), classes[0]) - 1e-9
            high = cuts[j + 1] if j + 1 < len(cuts) else max(values.max(), classes[-1]) + 1e-9
            grid = np.linspace(low, high, 41)[1:-1]
            trials = [score(np.array([*cuts[:j], c, *cuts[j + 1:]])) for c in grid]
            if grid.size:
                cuts[j] = float(grid[int(np.argmax(trials))])
    return cuts


def apply_cuts(values: np.ndarray, classes: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """The class of each value: classes[i] between cut i-1 and cut i."""
    return np.asarray(classes)[np.digitize(values, np.asarray(cuts, dtype=np.float64))]


@dataclass(frozen=True)
class TabularTask(TaskType):
    """A table's targets; `metric` (kernel/metrics.py) decides what is fitted on OOF and what is scored."""

    metric: str = "rmse"

    @property
    def metric_spec(self) -> metrics.MetricSpec:
        return metrics.get_metric(self.metric, self.name)

    def score(self, y: np.ndarray, decided: np.ndarray) -> float:
        return self.metric_spec.fn(y, decided, self.name)

    def to_model(self, y: np.ndarray) -> np.ndarray:
        """Targets in the space heads learn in (log1p for RMSLE); `from_model` brings predictions back."""
        return y

    def from_model(self, pred: np.ndarray) -> np.ndarray:
        return pred


@dataclass(frozen=True)
class RegressionTask(TabularTask):
    """y and predictions (n, k): one column per target. RMSLE: heads learn log1p(y); qwk: cut points on OOF."""

    prediction: ClassVar[PredictionKind] = VALUES
    submission_kinds: ClassVar[tuple[SubmissionKind, ...]] = (submissions.NUMBERS,)
    ensemble_methods: ClassVar[tuple[str, ...]] = ("weighted", "caruana")  # ranks and a logistic stack mean nothing

    @property
    def log_target(self) -> bool:
        return self.metric == "rmsle"

    def to_model(self, y: np.ndarray) -> np.ndarray:
        return np.log1p(np.maximum(y, 0)) if self.log_target else y

    def from_model(self, pred: np.ndarray) -> np.ndarray:
        return np.expm1(pred) if self.log_target else pred

    def loss(self, y: np.ndarray, pred: np.ndarray) -> float:
        return float(np.mean((self.to_model(y) - self.to_model(pred)) ** 2))

    def fit_decision(self, y: np.ndarray, oof: np.ndarray) -> dict[str, Any]:
        if self.metric_spec.decision != "cuts":
            return {}
        classes = np.unique(y[:, 0])
        cuts = fit_cuts(oof[:, 0], classes, lambda c: self.score(y, apply_cuts(oof, classes, c)))
        return {"classes": classes.tolist(), "cuts": cuts}

    def decide(self, pred: np.ndarray, decision: dict[str, Any]) -> np.ndarray:
        if "cuts" in decision:
            return apply_cuts(pred, np.asarray(decision["classes"]), decision["cuts"]).astype(np.float64)
        return np.maximum(pred, 0) if self.log_target else pred


@dataclass(frozen=True)
class ClassesTask(ClassProbabilities, TabularTask):
    """One class per row: y one-hot (n, c), predictions (n, c) probabilities. Label metrics: the argmax (binary:
    a threshold on the positive class fitted on OOF); log loss: a clip fitted on OOF; qwk: cut points on the
    expected class; map@k: the k best classes."""

    metric: str = "logloss"
    prediction: ClassVar[PredictionKind] = PROBABILITIES
    submission_kinds: ClassVar[tuple[SubmissionKind, ...]] = (submissions.LABELS, submissions.PROBABILITIES,
                                                              submissions.COLUMN_PROBABILITIES, submissions.TAGS)
    stack_layout: ClassVar[str | None] = "classes"

    def _threshold_decision(self, y: np.ndarray, oof: np.ndarray) -> dict[str, Any]:
        def score(t: float) -> float:
            return self.score(y, self.decide(oof, {"threshold": t}))
        return {"threshold": fit_threshold(score)(oof[:, 1])}

    def fit_decision(self, y: np.ndarray, oof: np.ndarray) -> dict[str, Any]:
        kind = self.metric_spec.decision
        if kind == "probabilities" and self.metric == "logloss":
            losses = [self.score(y, clip_probabilities(oof, e, rows_sum_to_one=True)) for e in CLIP_GRID]
            return {"clip": CLIP_GRID[int(np.argmin(losses))]}
        if kind == "labels" and y.shape[1] == 2:
            return self._threshold_decision(y, oof)
        if kind == "cuts":
            classes, expected = np.arange(y.shape[1], dtype=np.float64), oof @ np.arange(y.shape[1])
            cuts = fit_cuts(expected, classes, lambda c: self.score(y, self._onehot(apply_cuts(expected, classes, c))))
            return {"cuts": cuts}
        if kind == "top_k":
            return {"top_k": self.metric_spec.k}  # more guesses never lower MAP@k, so the decision is all k
        return {}

    @staticmethod
    def _onehot(index: np.ndarray, width: int | None = None) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        return np.eye(width or int(index.max()) + 1)[index] if len(index) else np.zeros((0, width or 1))

    def decide(self, pred: np.ndarray, decision: dict[str, Any]) -> np.ndarray:
        kind, c = self.metric_spec.decision, pred.shape[1]
        if "clip" in decision:
            return clip_probabilities(pred, float(decision["clip"]), rows_sum_to_one=True)
        if "threshold" in decision:
            return self._onehot(pred[:, 1] >= float(decision["threshold"]), 2)
        if "cuts" in decision:
            index = apply_cuts(pred @ np.arange(c), np.arange(c), decision["cuts"])
            return self._onehot(index, c)
        if kind == "labels":
            return self._onehot(pred.argmax(axis=1), c)
        return pred


@dataclass(frozen=True)
class MultilabelTask(TabularTask):
    """Several 0/1 columns: y (n, c) 0/1, predictions (n, c) per-column probabilities. Label metrics: one
    threshold over every column fitted on OOF; log loss: a clip fitted on OOF; map@k: the k best columns."""

    metric: str = "auc"
    prediction: ClassVar[PredictionKind] = COLUMN_SCORES
    submission_kinds: ClassVar[tuple[SubmissionKind, ...]] = (submissions.COLUMN_PROBABILITIES, submissions.TAGS)
    stack_layout: ClassVar[str | None] = "cells"

    def certainty(self, pred: np.ndarray) -> np.ndarray:
        return np.abs(pred - 0.5).min(axis=1)  # a row is as sure as its least sure column

    def loss(self, y: np.ndarray, pred: np.ndarray) -> float:
        return TAGGING.loss(y, pred)

    def soften(self, pred: np.ndarray, temperature: float) -> np.ndarray:
        return TAGGING.soften(pred, temperature)

    def fit_decision(self, y: np.ndarray, oof: np.ndarray) -> dict[str, Any]:
        kind = self.metric_spec.decision
        if kind == "probabilities" and self.metric == "logloss":
            losses = [self.score(y, clip_probabilities(oof, e, rows_sum_to_one=False)) for e in CLIP_GRID]
            return {"clip": CLIP_GRID[int(np.argmin(losses))]}
        if kind == "labels":
            return {"threshold": fit_threshold(lambda t: self.score(y, (oof >= t).astype(np.float64)))(oof)}
        if kind == "top_k":
            return {"top_k": self.metric_spec.k}
        return {}

    def decide(self, pred: np.ndarray, decision: dict[str, Any]) -> np.ndarray:
        if "clip" in decision:
            return clip_probabilities(pred, float(decision["clip"]), rows_sum_to_one=False)
        if "threshold" in decision:
            return (pred >= float(decision["threshold"])).astype(np.float64)
        return pred


REGRESSION = RegressionTask(name="regression", inputs=())
BINARY = ClassesTask(name="binary", inputs=())
MULTICLASS = ClassesTask(name="multiclass", inputs=())
MULTILABEL = MultilabelTask(name="multilabel", inputs=())
TABULAR = (REGRESSION, BINARY, MULTICLASS, MULTILABEL)


def tabular_task(name: str, metric: str) -> TabularTask:
    """The task of that name scored by that metric; metrics.UnknownMetric when the metric does not fit it."""
    base = {t.name: t for t in TABULAR}[name]
    metrics.get_metric(metric, name)
    return replace(base, metric=metric)

"""The standard metrics of tabular competitions, as Kaggle and scikit-learn define them.

    from submit.kernel.metrics import metric_for, METRICS
    metric = metric_for("auc", "multilabel")        # a kernel.competition.Metric; UnknownMetric (exit 2) if unfit
    metric(y, decided)                              # y and decided in the task's arrays (below)
    METRICS["rmsle"].higher_is_better               # False
    METRICS["qwk"].decision                         # "cuts": what kernel.tasks fits on out-of-fold predictions

Arrays, by task (kernel/tasks.py holds the tasks):
- regression: y and predictions (n, k) floats, one column per target; a metric is the mean over the columns.
- binary and multiclass: y one-hot (n, c); predictions (n, c) class probabilities. Label metrics (accuracy,
  F1...) read the decided one-hot choice, qwk the class order (the columns are the ordered classes).
- multilabel: y (n, c) 0/1; predictions (n, c) per-column probabilities; label metrics read 0/1 choices.
- tagging (a tags column: space-separated labels): y (n, tags) 0/1 over the vocabulary; predictions (n, tags)
  scores; F1 metrics read the decided 0/1 tag sets, map@k the scores' ranking.

Each metric says which way is better, which tasks it fits and which decision turns raw predictions into
what it scores (`decision`): values as they are, probabilities (clipped for log loss), labels (a threshold
or the argmax), cut points (qwk) or the top k (map@k).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from submit.kernel.errors import UserError

REGRESSION, BINARY, MULTICLASS, MULTILABEL = "regression", "binary", "multiclass", "multilabel"
TAGGING = "tagging"  # kernel/tasks.py's task of tag sets (a described competition's `tags` task)
CLASSES = frozenset({BINARY, MULTICLASS})
LOG_EPS = float(np.finfo(np.float64).eps)  # scikit-learn's clip of probabilities in log_loss


@dataclass(frozen=True)
class Metric:
    """What a competition scores with (kernel.competition re-exports it)."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]  # (y, decided prediction) -> score
    higher_is_better: bool
    # A corpus metric that sums per-row statistics (chrF's n-gram counts, a mean's per-row scores) gives them
    # here: rows(y, pred) -> (n_rows, k) array, and from_rows(column sums, n_rows) -> the score. Then a score
    # of any resample of the rows is a sum away (cv/noise.py), not a rescoring of every text.
    rows: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    from_rows: Callable[[np.ndarray, int], float] | None = None

    def __call__(self, y: np.ndarray, pred: np.ndarray) -> float:
        return float(self.fn(y, pred))


class UnknownMetric(UserError, ValueError):
    """A metric name that is not known, or one that does not fit the task."""


def _labels(onehot: np.ndarray) -> np.ndarray:
    return np.asarray(onehot).argmax(axis=1)


def accuracy(y: np.ndarray, decided: np.ndarray, task: str) -> float:
    """Share of rows right; multilabel: rows whose every column is right (scikit-learn's subset accuracy)."""
    if task == MULTILABEL:
        return float(np.mean((np.asarray(y) == np.asarray(decided)).all(axis=1)))
    return float(np.mean(_labels(y) == _labels(decided)))


def balanced_accuracy(y: np.ndarray, decided: np.ndarray, task: str) -> float:
    """The mean over the classes present in y of their recall."""
    truth, chosen = _labels(y), _labels(decided)
    return float(np.mean([np.mean(chosen[truth == c] == c) for c in np.unique(truth)]))


def _column_f1(y: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: F1, and whether the column counts (true or chosen somewhere; a column never either has none)."""
    y, chosen = np.asarray(y) == 1, np.asarray(chosen) == 1
    tp = (y & chosen).sum(axis=0)
    denom = y.sum(axis=0) + chosen.sum(axis=0)
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0), denom > 0


def f1(y: np.ndarray, decided: np.ndarray, task: str) -> float:
    """F1 of the positive class (the second column)."""
    return float(_column_f1(y[:, 1:], decided[:, 1:])[0][0])


def macro_f1(y: np.ndarray, decided: np.ndarray, task: str) -> float:
    """The mean of the per-class (per-column) F1 over the classes true or chosen somewhere."""
    scores, counted = _column_f1(y, decided)
    if task in (MULTILABEL, TAGGING):  # scikit-learn averages every column of an indicator matrix
        return float(scores.mean())
    return float(scores[counted].mean())


def micro_f1(y: np.ndarray, decided: np.ndarray, task: str = TAGGING) -> float:
    """F1 over every (row, column) cell at once: the pooled true positives of all classes or tags."""
    y, chosen = np.asarray(y) == 1, np.asarray(decided) == 1
    denom = y.sum() + chosen.sum()
    return float(2 * (y & chosen).sum() / denom) if denom else 0.0


def mean_row_f1(y: np.ndarray, decided: np.ndarray, task: str = TAGGING) -> float:
    """The mean over rows of each row's F1 between its true and chosen tags (Kaggle's "Mean F1-Score" of its tag
    competitions; scikit-learn's average="samples"): a row with no true and no chosen tag scores 1."""
    y, chosen = np.asarray(y) == 1, np.asarray(decided) == 1
    tp = np.sum(y & chosen, axis=1)
    denom = np.sum(y, axis=1) + np.sum(chosen, axis=1)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 1.0)))


def column_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of one column (ties count half: the Mann-Whitney statistic); NaN when y holds one class only."""
    positive = np.asarray(y) == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = pd.Series(np.asarray(score, dtype=np.float64)).rank(method="average").to_numpy()  # ties: mean rank
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    """Binary: the AUC of the positive class's probability. Multiclass (one-vs-rest) and multilabel: the mean
    of the columns' AUCs, over the columns holding both classes."""
    if task == BINARY:
        return column_auc(y[:, 1], pred[:, 1])
    scores = [column_auc(y[:, j], pred[:, j]) for j in range(y.shape[1])]
    return float(np.nanmean(scores))


def logloss(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    """Binary and multiclass: the mean negative log probability of the true class (probabilities clipped and
    each row renormalised, as scikit-learn does). Multilabel: the mean over the columns of each one's binary
    log loss."""
    p = np.clip(np.asarray(pred, dtype=np.float64), LOG_EPS, 1 - LOG_EPS)
    y = np.asarray(y, dtype=np.float64)
    if task == MULTILABEL:
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.sum(y * np.log(p), axis=1)))


def _per_column(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., float]:
    def metric(y: np.ndarray, pred: np.ndarray, task: str) -> float:
        y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
        y, pred = y.reshape(len(y), -1), pred.reshape(len(pred), -1)
        return float(np.mean(fn(y, pred)))
    return metric


rmse = _per_column(lambda y, p: np.sqrt(np.mean((y - p) ** 2, axis=0)))
rmsle = _per_column(lambda y, p: np.sqrt(np.mean((np.log1p(y) - np.log1p(np.maximum(p, 0))) ** 2, axis=0)))
mae = _per_column(lambda y, p: np.mean(np.abs(y - p), axis=0))
r2 = _per_column(lambda y, p: 1 - np.sum((y - p) ** 2, axis=0) / np.maximum(np.sum((y - y.mean(axis=0)) ** 2, axis=0),
                                                                             1e-300))


def _ordinal(values: np.ndarray, task: str) -> np.ndarray:
    """Classes as their ordinal position: the column of a one-hot row, or the regression value itself."""
    values = np.asarray(values)
    return values[:, 0].astype(np.int64) if task == REGRESSION else values.argmax(axis=1)


def qwk(y: np.ndarray, decided: np.ndarray, task: str) -> float:
    """Quadratic weighted kappa (Cohen's kappa with quadratic weights) between true and decided classes, over the
    range of classes from the lowest to the highest seen, as Kaggle's reference computes it (scikit-learn's
    cohen_kappa_score agrees whenever every class of that range occurs)."""
    truth, chosen = _ordinal(y, task), _ordinal(decided, task)
    low = min(truth.min(), chosen.min())
    n = int(max(truth.max(), chosen.max()) - low + 1)
    observed = np.zeros((n, n))
    np.add.at(observed, (truth - low, chosen - low), 1)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    weights = np.subtract.outer(np.arange(n), np.arange(n)) ** 2 / max((n - 1) ** 2, 1)
    denom = float((weights * expected).sum())
    return 1.0 - float((weights * observed).sum()) / denom if denom else 1.0


def map_at_k(k: int) -> Callable[..., float]:
    """Mean average precision of each row's k best-scored classes (Kaggle's MAP@k): the precision at each
    rank holding a true class, summed, over min(k, number of true classes)."""
    def metric(y: np.ndarray, scores: np.ndarray, task: str) -> float:
        y = np.asarray(y) == 1
        top = np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]
        hits = np.take_along_axis(y, top, axis=1)
        precision = np.cumsum(hits, axis=1) / np.arange(1, top.shape[1] + 1)
        relevant = np.minimum(y.sum(axis=1), k)
        return float(np.mean(np.where(relevant > 0, (precision * hits).sum(axis=1) / np.maximum(relevant, 1), 0.0)))
    return metric


@dataclass(frozen=True)
class MetricSpec:
    """A metric by name: its function (y, decided, task) -> score, its direction, the tasks it fits and the
    decision it scores (values | probabilities | labels | cuts | top_k)."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray, str], float]
    higher_is_better: bool
    tasks: frozenset[str]
    decision: str
    k: int = 0  # map@k: how many classes a row ranks

    def bind(self, task: str) -> Metric:
        return Metric(self.name, lambda y, pred: self.fn(y, pred, task), self.higher_is_better)


_LABELS_TASKS = CLASSES | {MULTILABEL}
_SETS = frozenset({MULTILABEL, TAGGING})  # metrics of 0/1 sets
METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("accuracy", accuracy, True, _LABELS_TASKS, "labels"),
    MetricSpec("balanced-accuracy", balanced_accuracy, True, CLASSES, "labels"),
    MetricSpec("auc", auc, True, _LABELS_TASKS, "probabilities"),
    MetricSpec("logloss", logloss, False, _LABELS_TASKS, "probabilities"),
    MetricSpec("f1", f1, True, frozenset({BINARY}), "labels"),
    MetricSpec("macro-f1", macro_f1, True, _LABELS_TASKS | {TAGGING}, "labels"),
    MetricSpec("micro-f1", micro_f1, True, _LABELS_TASKS | {TAGGING}, "labels"),
    MetricSpec("mean-row-f1", mean_row_f1, True, _SETS, "labels"),
    MetricSpec("rmse", rmse, False, frozenset({REGRESSION}), "values"),
    MetricSpec("rmsle", rmsle, False, frozenset({REGRESSION}), "values"),
    MetricSpec("mae", mae, False, frozenset({REGRESSION}), "values"),
    MetricSpec("r2", r2, True, frozenset({REGRESSION}), "values"),
    MetricSpec("qwk", qwk, True, frozenset({REGRESSION, MULTICLASS}), "cuts"),
)}
_MAP = re.compile(r"map@(\d+)")
_RANKED_TASKS = _LABELS_TASKS | {TAGGING}  # map@k ranks classes, columns or tags
# A name that means another metric on a task: F1 of tag sets is Kaggle's "Mean F-Score" ("MeanFScore" in its
# metadata), each row's F1 averaged.
_MEANS_ON_TASK = {("f1", TAGGING): "mean-row-f1"}


def fitting(task: str) -> list[str]:
    """The metric names that fit a task (map@k written with its k)."""
    return [name for name, spec in METRICS.items() if task in spec.tasks] + (
        ["map@k (e.g. map@3)"] if task in _RANKED_TASKS else [])


def get_metric(name: str, task: str) -> MetricSpec:
    """The metric of that name for the task; UnknownMetric naming the ones that fit when it is unknown or unfit."""
    key = str(name).strip().lower().replace("_", "-")
    key = _MEANS_ON_TASK.get((key, task), key)
    match = _MAP.fullmatch(key)
    if match and int(match.group(1)) >= 1:
        spec = MetricSpec(key, map_at_k(int(match.group(1))), True, _RANKED_TASKS, "top_k", int(match.group(1)))
    elif key in METRICS:
        spec = METRICS[key]
    else:
        raise UnknownMetric(f"unknown metric '{name}'; for a {task} task pass --metric one of: "
                            f"{', '.join(fitting(task))}")
    if task not in spec.tasks:
        raise UnknownMetric(f"metric '{name}' does not fit a {task} task; pass --metric one of: "
                            f"{', '.join(fitting(task))}")
    return spec


def metric_for(name: str, task: str) -> Metric:
    """The kernel.competition.Metric a competition scores with: `get_metric(name, task)` bound to the task."""
    return get_metric(name, task).bind(task)

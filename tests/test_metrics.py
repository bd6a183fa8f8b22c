"""The tabular metrics against scikit-learn on random data, and the refusal of a metric that does not fit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from submit.kernel.metrics import METRICS, UnknownMetric, get_metric, metric_for


def _onehot(labels: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c)[labels]


def _probs(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    p = rng.random((n, c)) + 1e-3
    return p / p.sum(axis=1, keepdims=True)


seeds = given(seed=st.integers(0, 2**31 - 1), n=st.integers(12, 80))


@settings(max_examples=25, deadline=None)
@seeds
def test_classification_metrics_match_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(3, 6))
    truth = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])  # every class present
    chosen = rng.integers(0, c, n)
    y, decided, p = _onehot(truth, c), _onehot(chosen, c), _probs(rng, n, c)
    assert metric_for("accuracy", "multiclass")(y, decided) == pytest.approx(skm.accuracy_score(truth, chosen))
    assert metric_for("balanced-accuracy", "multiclass")(y, decided) == pytest.approx(
        skm.balanced_accuracy_score(truth, chosen))
    assert metric_for("macro-f1", "multiclass")(y, decided) == pytest.approx(
        skm.f1_score(truth, chosen, average="macro", labels=np.unique(np.r_[truth, chosen])))
    assert metric_for("micro-f1", "multiclass")(y, decided) == pytest.approx(
        skm.f1_score(truth, chosen, average="micro"))
    assert metric_for("logloss", "multiclass")(y, p) == pytest.approx(skm.log_loss(truth, p, labels=range(c)))
    assert metric_for("auc", "multiclass")(y, p) == pytest.approx(skm.roc_auc_score(truth, p, multi_class="ovr"))
    assert metric_for("qwk", "multiclass")(y, decided) == pytest.approx(
        skm.cohen_kappa_score(truth, chosen, weights="quadratic"))


@settings(max_examples=25, deadline=None)
@seeds
def test_binary_metrics_match_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    truth = np.concatenate([[0, 1], rng.integers(0, 2, n - 2)])
    chosen = rng.integers(0, 2, n)
    p1 = rng.random(n).round(2)  # ties, as real scores have
    p = np.c_[1 - p1, p1]
    y, decided = _onehot(truth, 2), _onehot(chosen, 2)
    assert metric_for("f1", "binary")(y, decided) == pytest.approx(skm.f1_score(truth, chosen))
    assert metric_for("auc", "binary")(y, p) == pytest.approx(skm.roc_auc_score(truth, p1))
    assert metric_for("logloss", "binary")(y, p) == pytest.approx(skm.log_loss(truth, p1))
    assert metric_for("accuracy", "binary")(y, decided) == pytest.approx(skm.accuracy_score(truth, chosen))


@settings(max_examples=25, deadline=None)
@seeds
def test_multilabel_metrics_match_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 6))
    y = rng.integers(0, 2, (n, c))
    y[0], y[1] = 1, 0  # both classes in every column
    chosen, p = rng.integers(0, 2, (n, c)), rng.random((n, c))
    assert metric_for("auc", "multilabel")(y, p) == pytest.approx(skm.roc_auc_score(y, p, average="macro"))
    expected = np.mean([skm.log_loss(y[:, j], p[:, j]) for j in range(c)])
    assert metric_for("logloss", "multilabel")(y, p) == pytest.approx(expected)
    assert metric_for("macro-f1", "multilabel")(y, chosen) == pytest.approx(
        skm.f1_score(y, chosen, average="macro", zero_division=0))
    assert metric_for("micro-f1", "multilabel")(y, chosen) == pytest.approx(skm.f1_score(y, chosen, average="micro"))
    assert metric_for("accuracy", "multilabel")(y, chosen) == pytest.approx(skm.accuracy_score(y, chosen))


@settings(max_examples=25, deadline=None)
@seeds
def test_regression_metrics_match_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 3))
    y, pred = rng.gamma(2.0, 10.0, (n, k)), rng.gamma(2.0, 10.0, (n, k))
    assert metric_for("rmse", "regression")(y, pred) == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert metric_for("rmsle", "regression")(y, pred) == pytest.approx(skm.root_mean_squared_log_error(y, pred))
    assert metric_for("mae", "regression")(y, pred) == pytest.approx(skm.mean_absolute_error(y, pred))
    assert metric_for("r2", "regression")(y, pred) == pytest.approx(skm.r2_score(y, pred))
    grades, guesses = rng.integers(0, 6, (n, 1)), rng.integers(0, 6, (n, 1))
    grades[:6, 0] = np.arange(6)  # every grade of the range seen: where one is absent Kaggle and sklearn differ
    assert metric_for("qwk", "regression")(grades, guesses) == pytest.approx(
        skm.cohen_kappa_score(grades[:, 0], guesses[:, 0], weights="quadratic"))


def _apk(actual: set[int], ranked: list[int], k: int) -> float:
    """Kaggle's reference apk (ml_metrics), written out: precision at each hit over min(len(actual), k)."""
    score, hits = 0.0, 0
    for i, p in enumerate(ranked[:k]):
        if p in actual and p not in ranked[:i]:
            hits += 1
            score += hits / (i + 1)
    return score / min(len(actual), k) if actual else 0.0


@settings(max_examples=25, deadline=None)
@seeds
def test_map_at_k_matches_the_reference(seed, n):
    rng = np.random.default_rng(seed)
    c, k = 6, int(rng.integers(1, 5))
    y, scores = rng.integers(0, 2, (n, c)), rng.random((n, c))
    expected = np.mean([_apk(set(np.flatnonzero(y[i])), list(np.argsort(-scores[i], kind="stable")), k)
                        for i in range(n)])
    assert metric_for(f"map@{k}", "multilabel")(y, scores) == pytest.approx(expected)


def test_every_metric_declares_its_direction_and_tasks():
    assert not METRICS["rmse"].higher_is_better and METRICS["auc"].higher_is_better
    assert not METRICS["logloss"].higher_is_better and not METRICS["rmsle"].higher_is_better
    for spec in METRICS.values():
        assert spec.tasks and spec.decision in ("values", "probabilities", "labels", "cuts", "top_k")


@pytest.mark.parametrize(("name", "task", "said"), [
    ("rmse", "multiclass", "does not fit a multiclass task"),
    ("f1", "multilabel", "does not fit"),
    ("gini", "binary", "unknown metric 'gini'"),
])
def test_an_unknown_or_unfit_metric_lists_what_fits(name, task, said):
    with pytest.raises(UnknownMetric) as err:
        get_metric(name, task)
    assert said in str(err.value) and "accuracy" in str(err.value) and "rmse" not in str(err.value).split(":")[-1]

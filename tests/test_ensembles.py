"""Ensembles: fitted on OOF only (nested, so their CV is honest), at least the best member where blending
helps, per-task blending, mismatched experiments refused, and the `submit ensemble` command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from submit.cv.recipe import build_recipe
from submit.cv.runner import fold_scores, run_experiment
from submit.cv.store import Store
from submit.ensembles.build import build_ensemble, cross_fit, make_combiner
from submit.ensembles.members import EnsembleError, Member, check_compatible, load_members
from submit.kernel.plugins import get_competition
from submit.kernel.tasks import PREFERENCE, TAGGING, unit_rows
from typer.testing import CliRunner

from submit.cli import app
from submit.validate import validate_file
from tests import toy

N, FOLDS = 600, np.arange(600) % 5


def member(name: str, oof: np.ndarray, test: np.ndarray, *, folds_id: str = "f1", fingerprint: str = "d1") -> Member:
    return Member(id=name, head="h", dir=Path("."), cv_mean=0.0, fingerprint=fingerprint, folds_id=folds_id,
                  recipe={"embedder": "usem3", "data": {}}, columns=[f"p{i}" for i in range(oof.shape[1])],
                  ids=np.arange(len(oof)).astype(str), folds=FOLDS[:len(oof)], oof=oof, test=test,
                  test_ids=np.arange(len(test)).astype(str))


def preference_case(seed: int = 0) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Two members that see the same signal through independent noise: their blend is surer than either."""
    rng = np.random.default_rng(seed)
    a_wins = rng.random(N) < 0.5
    y = np.stack([a_wins, ~a_wins], axis=1).astype(float)
    signal = np.where(a_wins, 1.0, -1.0)
    oofs, tests = [], []
    for scale in (1.0, 1.3):
        logit = signal + rng.normal(0, 1.5, N) * scale
        p = 1 / (1 + np.exp(-logit))
        oofs.append(np.stack([p, 1 - p], axis=1))
        tests.append(np.stack([p[:50], 1 - p[:50]], axis=1))
    return y, oofs, tests


def cv_of(comp, y: np.ndarray, oof: np.ndarray) -> float:
    return float(np.mean(fold_scores(comp, y, oof, FOLDS, comp.fit_decision(y, oof))[comp.metric.name]))


@pytest.mark.parametrize("method", PREFERENCE.ensemble_methods)
def test_ensemble_scores_at_least_the_best_member_where_blending_helps(method, tmp_path):
    comp = get_competition("wsdm")  # accuracy, higher is better
    y, oofs, tests = preference_case()
    members = [member(f"m{i}", o, t) for i, (o, t) in enumerate(zip(oofs, tests, strict=True))]
    result = build_ensemble(comp, members, y, method, tmp_path, Store(tmp_path / "lb.sqlite"))
    best = max(cv_of(comp, y, o) for o in oofs)
    assert result.cv_mean >= best
    assert result.test_decided.shape == (50, 2)


@pytest.mark.parametrize("method", PREFERENCE.ensemble_methods)
def test_weights_are_fitted_on_oof_only(method, tmp_path):
    comp = get_competition("wsdm")
    y, oofs, tests = preference_case()
    # The same members twice, the second time with their test predictions poisoned (the opposite of the first):
    # build_ensemble, which holds both OOF and test arrays, must fit the same combiner, so only the test rows'
    # blend differs, and by exactly what the fitted combiner makes of the poisoned rows.
    built = {}
    for label, member_tests in (("plain", tests), ("poisoned", [1 - t for t in tests])):
        members = [member(f"m{i}", o, t) for i, (o, t) in enumerate(zip(oofs, member_tests, strict=True))]
        built[label] = build_ensemble(comp, members, y, method, tmp_path / label, Store(tmp_path / f"{label}.sqlite"))
    plain, poisoned = built["plain"], built["poisoned"]
    assert poisoned.combiner == plain.combiner and poisoned.fold_scores == plain.fold_scores
    refit = make_combiner(method, PREFERENCE).fit(oofs, y)
    assert refit.describe() == plain.combiner
    np.testing.assert_array_equal(comp.decide(refit.apply([1 - t for t in tests]), poisoned.decision),
                                  poisoned.test_decided)
    # Honest CV: the ensemble's OOF rows of fold 0 come from a combiner that never saw fold 0's labels.
    flipped = y.copy()
    flipped[FOLDS == 0] = flipped[FOLDS == 0][:, ::-1]
    before = cross_fit(method, PREFERENCE, oofs, y, FOLDS)
    after = cross_fit(method, PREFERENCE, oofs, flipped, FOLDS)
    np.testing.assert_array_equal(before[FOLDS == 0], after[FOLDS == 0])
    if method != "rank":  # rank averaging learns nothing, so only the fitted methods must react to labels
        assert not np.array_equal(before[FOLDS != 0], after[FOLDS != 0])


@pytest.mark.parametrize(("method", "task"), [(m, t) for t in (PREFERENCE, TAGGING) for m in t.ensemble_methods])
def test_a_recorded_combiner_applies_to_new_rows_as_fitted(method, task):
    if task is PREFERENCE:
        y, oofs, tests = preference_case()
    else:
        rng = np.random.default_rng(3)
        y = (rng.random((N, 6)) < 0.2).astype(float)
        oofs = [np.clip(0.4 * y + rng.random(y.shape) * 0.5 * scale, 0, 1) for scale in (1.0, 0.6)]
        tests = [o[:30] for o in oofs]
    fitted = make_combiner(method, task).fit(oofs, y)
    recorded = json.loads(json.dumps(fitted.describe()))  # as ensemble.json keeps it: plain JSON
    restored = make_combiner(method, task).restore(recorded)
    np.testing.assert_array_equal(restored.apply(tests), fitted.apply(tests))
    if method == "stack":  # an ensemble.json written before the classes were recorded is refused, not misread
        with pytest.raises(EnsembleError, match="without its classes"):
            make_combiner(method, task).restore({k: v for k, v in recorded.items() if k != "classes"})


def test_vectors_are_blended_as_unit_vectors_and_beat_the_best_member(tmp_path):
    comp = get_competition("hansol")
    rng = np.random.default_rng(1)
    y = unit_rows(rng.normal(size=(N, 16)))
    oofs = [unit_rows(y + rng.normal(0, 0.8, y.shape)) * scale for scale in (1.0, 5.0)]  # lengths do not matter
    members = [member(f"v{i}", o, o[:20]) for i, o in enumerate(oofs)]
    result = build_ensemble(comp, members, y, "weighted", tmp_path, Store(tmp_path / "lb.sqlite"))
    assert result.cv_mean > max(cv_of(comp, y, o) for o in oofs)
    assert sum(result.weights.values()) == pytest.approx(1.0)
    np.testing.assert_allclose(np.linalg.norm(result.test_decided, axis=1), 1.0)
    with pytest.raises(EnsembleError, match="does not fit the answer_embedding task"):
        build_ensemble(comp, members, y, "rank", tmp_path, Store(tmp_path / "lb.sqlite"))


def test_tag_threshold_is_retuned_on_the_blended_oof(tmp_path):
    comp = get_competition("law-tags")
    rng = np.random.default_rng(2)
    y = (rng.random((N, 12)) < 0.15).astype(float)
    oofs = [np.clip(0.3 * y + rng.random(y.shape) * 0.6 * scale, 0, 1) for scale in (1.0, 0.5)]
    members = [member(f"t{i}", o, o[:10]) for i, o in enumerate(oofs)]
    result = build_ensemble(comp, members, y, "weighted", tmp_path, Store(tmp_path / "lb.sqlite"))
    blended = pd.read_parquet(result.dir / "oof.parquet").drop(columns=["id", "fold"]).to_numpy()
    assert result.decision == comp.fit_decision(y, blended)
    assert result.decision != comp.fit_decision(y, oofs[0])


def test_mismatched_experiments_are_refused_naming_both():
    _, oofs, tests = preference_case()
    with pytest.raises(EnsembleError, match=r"m0 and m1 .*different folds"):
        check_compatible([member("m0", oofs[0], tests[0]), member("m1", oofs[1], tests[1], folds_id="f2")],
                         PREFERENCE)
    with pytest.raises(EnsembleError, match=r"m0 and m1 .*different data fingerprint"):
        check_compatible([member("m0", oofs[0], tests[0]), member("m1", oofs[1], tests[1], fingerprint="d2")],
                         PREFERENCE)
    with pytest.raises(EnsembleError, match="at least two"):
        check_compatible([member("m0", oofs[0], tests[0])], PREFERENCE)


def test_experiments_on_other_folds_are_refused_from_the_store(tmp_path):
    comp = toy.Toy()
    data = comp.load(Path("."))
    five = run_experiment(comp, data, build_recipe(comp, {"head": "longer-wins"}, "five"), tmp_path)
    three = run_experiment(comp, data, build_recipe(comp, {"head": "prior", "folds": {"n_splits": 3}}, "three"),
                           tmp_path)
    members = load_members(Store(tmp_path / "leaderboard.sqlite"), comp, [five.id, three.id])
    with pytest.raises(EnsembleError, match=f"{five.id} and {three.id} .*different folds"):
        check_compatible(members, PREFERENCE)


def test_submit_ensemble_end_to_end_on_the_sample(tmp_path):
    runner = CliRunner()
    runs = str(tmp_path / "runs")
    for recipe in ("longer-wins", "prior"):
        assert runner.invoke(app, ["run", "wsdm", "--recipe", recipe, "--runs", runs]).exit_code == 0
    result = runner.invoke(app, ["ensemble", "wsdm", "--runs", runs, "--method", "caruana"])
    assert result.exit_code == 0, result.output
    assert "vs best member" in result.output and "worse" not in result.output  # longer-wins carries it
    store = Store(Path(runs) / "leaderboard.sqlite")
    row = next(r for r in store.leaderboard("wsdm") if r["kind"] == "ensemble")
    weights = store.ensemble_members(row["id"])
    assert len(weights) == 2 and sum(weights.values()) == pytest.approx(1.0)
    record = json.loads((Path(row["path"]) / "ensemble.json").read_text())
    assert {m["id"] for m in record["members"]} == set(weights)
    comp = get_competition("wsdm")
    data = comp.load(comp.sample_dir)
    validate_file(Path(row["path"]) / "submission.csv", data.sample_submission, comp.submission_spec(data))

    unknown = runner.invoke(app, ["ensemble", "wsdm", "--runs", runs, "--experiments", "nope,prior-x"])
    assert unknown.exit_code == 2 and "no experiment nope" in unknown.output
    other_data = runner.invoke(app, ["ensemble", "wsdm", "--runs", runs, "--data", str(tmp_path)])
    assert other_data.exit_code == 2

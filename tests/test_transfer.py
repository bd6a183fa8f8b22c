"""Distillation and pseudo-labels: honest per fold, recorded in the store, and a student predicts and packages
alone."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from submit.cv.experiment import PLAIN, Experiment, read_fold, write_fold
from submit.cv.folds import assign_folds
from submit.cv.recipe import RecipeError, build_recipe, load_recipe
from submit.cv.runner import FoldContext, FoldJob, fit_fold
from submit.cv.store import Store
from submit.ensembles.transfer import Teacher, TransferError, _Lessons, make_lender
from submit.kernel.parallel import LocalExecutor
from submit.kernel.plugins import get_competition
from submit.models.cache import cache_dir
from typer.testing import CliRunner

from submit.cli import app
from submit.pipeline import run_competition
from tests import toy  # noqa: F401  (registers the toy competition)

FAST = ["params.n_estimators=40", "params.encoder=null"]
wsdm_lgbm = partial(run_competition, "wsdm", recipe="lgbm")  # the session's WSDM experiment's recipe
TEACHER_RECIPE = {"name": "teacher", "head": "lgbm-pairwise", "params": {"n_estimators": 30, "encoder": None,
                                                                          "min_child_samples": 5}}


def soft_and_student(tmp_path: Path, name: str, y: np.ndarray) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The teacher's soft labels per student fold (from its refits without each pair of folds), and the
    student's fold-0 predictions of its held-out rows, trained on labels y mixed with them."""
    comp = get_competition("toy")
    dataset = dataclasses.replace(comp.load(Path(".")), y=y)
    folds = assign_folds(comp.load(Path(".")), "grouped", 4, seed=0)  # fixed: the same whatever the labels
    teacher = Teacher("teacher", Experiment(tmp_path / name), TEACHER_RECIPE, [])
    soft = _Lessons(comp, dataset, y, folds, LocalExecutor()).soft_labels(teacher)
    job = FoldJob(0, np.flatnonzero(folds != 0), np.flatnonzero(folds == 0), tmp_path / name / "student",
                  train_y=(0.5 * y + 0.5 * soft[0])[folds != 0])
    ctx = FoldContext(comp.task, "lgbm-pairwise", TEACHER_RECIPE["params"], [], [], 1.0, dataset.train, y,
                      dataset.test, cache_dir())
    write_fold(fit_fold(job, ctx))
    return soft, read_fold(job.out_dir, comp.task.prediction).valid[PLAIN]


def test_flipping_fold_0_labels_cannot_reach_the_students_fold_0_through_the_teacher(tmp_path):
    comp = get_competition("toy")
    y = comp.load(Path(".")).y
    folds = assign_folds(comp.load(Path(".")), "grouped", 4, seed=0)
    flipped = y.copy()
    flipped[folds == 0] = flipped[folds == 0][:, ::-1]
    soft, student = soft_and_student(tmp_path, "plain", y)
    soft_flipped, student_flipped = soft_and_student(tmp_path, "flipped", flipped)
    outside = folds != 0
    np.testing.assert_array_equal(soft[0][outside], soft_flipped[0][outside])
    np.testing.assert_array_equal(student, student_flipped)  # the student's fold-0 OOF, bit for bit
    # The teacher does learn from labels: folds whose refits saw fold 0 move when it flips.
    assert not np.array_equal(soft[1][folds != 1], soft_flipped[1][folds != 1])


def test_a_plain_teachers_out_of_fold_predictions_would_have_leaked(tmp_path):
    """What the nested refits avoid: a teacher's ordinary OOF for rows outside fold 0 came from fits that saw
    fold 0, so flipping fold 0 moves them."""
    comp = get_competition("toy")
    dataset = comp.load(Path("."))
    folds = assign_folds(dataset, "grouped", 4, seed=0)
    flipped = dataset.y.copy()
    flipped[folds == 0] = flipped[folds == 0][:, ::-1]
    oof = []
    for name, y in (("plain", dataset.y), ("flipped", flipped)):
        ctx = FoldContext(comp.task, "lgbm-pairwise", TEACHER_RECIPE["params"], [], [], 1.0, dataset.train, y,
                          dataset.test.iloc[:0], cache_dir())
        job = FoldJob(1, np.flatnonzero(folds != 1), np.flatnonzero(folds == 1), tmp_path / name)
        write_fold(fit_fold(job, ctx))
        oof.append(read_fold(job.out_dir, comp.task.prediction).valid[PLAIN])
    assert not np.array_equal(*oof)


@pytest.fixture(scope="module")
def taught(wsdm_experiment, tmp_path_factory):
    """The session's WSDM experiment as a teacher, in a copy of its runs folder, and a distilled student."""
    runs = tmp_path_factory.mktemp("taught") / "runs"
    shutil.copytree(wsdm_experiment[0], runs)
    teacher = wsdm_lgbm(overrides=FAST, runs_dir=runs).result.id  # its finished folds, recorded here
    assert teacher == wsdm_experiment[1]
    student = wsdm_lgbm(overrides=[*FAST, f"distill_from={teacher}", "distill_alpha=0.7"],
                              runs_dir=runs)
    return runs, teacher, student


def test_a_distilled_student_is_its_own_experiment_linked_to_its_teacher(taught):
    runs, teacher, student = taught
    plain = wsdm_lgbm(overrides=FAST, runs_dir=runs).result
    assert student.result.id not in (teacher, plain.id)  # the id depends on the teacher and alpha
    assert (runs / "wsdm" / teacher / "nested" / "0-1" / "result.npz").is_file()  # refits kept with the teacher
    assert len(list((runs / "wsdm" / teacher / "nested").iterdir())) == 10  # one per pair of five folds
    row = Store(runs / "leaderboard.sqlite").experiment(student.result.id)
    assert row["learned_from"] == {"distill": teacher}
    code, text = submit_cli("leaderboard", "wsdm", "--runs", str(runs), "--format", "csv")
    assert code == 0, text
    board = pd.read_csv(io.StringIO(text)).set_index("experiment")
    assert board.loc[student.result.id, "learned_from"] == f"distill {teacher}"
    assert pd.isna(board.loc[plain.id, "learned_from"])


def submit_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_a_distilled_student_predicts_and_packages_without_its_teacher(taught, tmp_path):
    runs, teacher, student = taught
    exp = student.result.id
    code, text = submit_cli("predict", "wsdm", "--experiment", exp, "--runs", str(runs),
                            "--output", str(tmp_path / "p.csv"))
    assert code == 0, text
    assert pd.read_csv(tmp_path / "p.csv").equals(pd.read_csv(runs / "wsdm" / exp / "submission.csv"))
    code, text = submit_cli("package", "wsdm", "--experiment", exp, "--runs", str(runs), "--out", str(tmp_path / "b"))
    assert code == 0, text
    with zipfile.ZipFile(tmp_path / "b" / f"wsdm-{exp}" / "dataset" / "experiment.zip") as archive:
        names = archive.namelist()
    assert "folds/4/model/head.json" in names and not any(teacher in n or "nested" in n for n in names)


def test_pseudo_labels_are_the_teachers_fold_fits_on_the_test_rows_and_never_scored(taught):
    runs, teacher, _ = taught
    comp = get_competition("wsdm")
    recipe = load_recipe(comp, "lgbm", [*FAST, f"pseudo_labels={{from: {teacher}, threshold: 0.3, weight: 0.5}}"])
    dataset = comp.load(comp.sample_dir)
    oof = pd.read_parquet(runs / "wsdm" / teacher / "oof.parquet")
    transfer = make_lender(comp, dataset, recipe, Store(runs / "leaderboard.sqlite"))(dataset.y, oof["fold"].to_numpy())
    assert transfer.extra_X is dataset.test and transfer.extra_weight == 0.5 and not transfer.fold_targets
    for k, (rows, targets) in transfer.extra_targets.items():
        fold = Experiment.at(runs, "wsdm", teacher).read_fold(k, comp.task.prediction)
        teacher_pred = (fold.test[PLAIN] + fold.test["swap"]) / 2  # the teacher's tta: [swap]
        sure = np.flatnonzero(np.abs(teacher_pred[:, 0] - teacher_pred[:, 1]) >= 0.3)
        np.testing.assert_array_equal(rows, sure)
        np.testing.assert_allclose(targets, teacher_pred[sure])
    result = wsdm_lgbm(overrides=[*FAST, f"pseudo_labels={{from: {teacher}, weight: 0.5}}"],
                             runs_dir=runs).result
    scored = pd.read_parquet(result.dir / "oof.parquet")
    assert list(scored["id"]) == list(dataset.train["id"])  # the pseudo rows are in no fold
    assert Store(runs / "leaderboard.sqlite").experiment(result.id)["learned_from"] == {"pseudo": teacher}


def test_unlabelled_rows_from_a_folder_in_the_hosts_test_layout(taught, tmp_path):
    runs, teacher, _ = taught
    unlabeled = tmp_path / "unlabeled"
    unlabeled.mkdir()
    shutil.copy(get_competition("wsdm").sample_dir / "test.parquet", unlabeled / "test.parquet")
    result = wsdm_lgbm(overrides=[*FAST, f"pseudo_labels={{from: {teacher}}}",
                                                f"data.unlabeled={unlabeled}"], runs_dir=runs).result
    assert Store(runs / "leaderboard.sqlite").experiment(result.id)["learned_from"] == \
        {"pseudo": teacher, "unlabeled": str(unlabeled)}


def test_a_teacher_on_other_data_or_itself_taught_is_refused(taught):
    runs, teacher, student = taught
    with pytest.raises(TransferError, match="itself learnt from another"):
        wsdm_lgbm(overrides=[*FAST, f"distill_from={student.result.id}"], runs_dir=runs)
    with pytest.raises(TransferError, match="other training rows or folds"):
        wsdm_lgbm(overrides=[*FAST, f"distill_from={teacher}", "folds.seed=7"], runs_dir=runs)
    with pytest.raises(TransferError, match="no experiment nope-1"):
        wsdm_lgbm(overrides=[*FAST, "distill_from=nope-1"], runs_dir=runs)


@pytest.mark.parametrize(("competition", "raw", "message"), [
    ("wsdm", {"head": "longer-wins", "distill_from": "t"}, "learns from hard labels only.*lgbm-pairwise"),
    ("law-tags", {"head": "tfidf-ovr", "pseudo_labels": {"from": "t"}}, "hard labels only.*retrieval"),
    ("wsdm", {"head": "lgbm-pairwise", "distill_alpha": 0.3}, "distill_alpha needs distill_from"),
    ("wsdm", {"head": "lgbm-pairwise", "distill_from": "t", "distill_alpha": 1.5}, "distill_alpha"),
    ("hansol", {"head": "ridge-map", "distill_from": "t", "distill_temperature": 2.0}, "means nothing"),
    ("hansol", {"head": "ridge-map", "pseudo_labels": {"from": "t", "threshold": 0.5}}, "threshold: 0"),
    ("wsdm", {"head": "lgbm-pairwise", "pseudo_labels": {"from": "t", "share": 1}}, "expected {from"),
    ("wsdm", {"head": "lgbm-pairwise", "data": {"unlabeled": "x"}}, "add pseudo_labels"),
])
def test_transfer_keys_are_checked_with_what_to_do(competition, raw, message):
    with pytest.raises(RecipeError, match=message):
        build_recipe(get_competition(competition), raw, "r")


def test_recipes_without_transfer_keys_keep_their_ids_and_files():
    comp = get_competition("wsdm")
    plain = load_recipe(comp, "default")
    assert not {"distill_from", "distill_alpha", "pseudo_labels"} & set(plain.resolved())
    taught = load_recipe(comp, "default", ["distill_from=a-1"])
    assert taught.digest() != plain.digest() != load_recipe(comp, "default", ["distill_from=b-2"]).digest()
    again = build_recipe(comp, json.loads(json.dumps({k: v for k, v in taught.resolved().items() if k != "name"})),
                         "default")
    assert again.digest() == taught.digest()  # the saved recipe.yaml reads back as the same recipe

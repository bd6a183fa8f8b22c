"""Distillation, pseudo-labels and upload on competitions set up by `submit init`: the table heads learn from soft
targets and row weights on every tabular task, a student moves toward its teacher end to end, and a described
competition's submission reaches the (stand-in) Kaggle service byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from submit.cv.recipe import build_recipe
from submit.kernel.plugins import get_competition
from submit.kernel.tabular import tabular_task
from submit.models.registry import HEADS

from submit.pipeline import run_competition
from tests.test_init import binary_files, multilabel_files, regression_files, submit, wine_files
from tests.test_tabular_heads import FAST, TASKS, table, targets

FOLDS, TREES = ["folds.n_splits=3"], ["params.n_estimators=200", "params.early_stopping_rounds=0"]
FAST_RECIPE = {"default": [*FOLDS, *TREES], "linear": FOLDS}


def sets(recipe: str = "default") -> list[str]:
    """The command line's --set flags that make a recipe quick."""
    return [flag for o in FAST_RECIPE[recipe] for flag in ("--set", o)]


@pytest.fixture(autouse=True)
def own_index(tmp_path, monkeypatch):
    """Each test its own index of described competitions, never the user's."""
    monkeypatch.setenv("SUBMIT_CONFIG_DIR", str(tmp_path / "config"))


def gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def soft_version(task_name: str, y: np.ndarray) -> np.ndarray:
    """A teacher's unsure version of the labels: halfway to the uniform distribution (the mean, for values)."""
    if task_name == "regression":
        return 0.5 * y + 0.5 * y.mean(axis=0)
    if task_name == "multilabel":
        return 0.5 * y + 0.25
    return 0.5 * y + 0.5 / y.shape[1]


# --- the heads -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("head_name", "task_name"), [(h, t) for h in ("tabular-lgbm", "tfidf-linear") for t in TASKS])
def test_a_head_fitted_on_soft_targets_predicts_toward_them(head_name, task_name):
    task = tabular_task(task_name, TASKS[task_name])
    X, signal = table(240)
    hard = targets(task_name, signal)
    soft = soft_version(task_name, hard)
    head = HEADS.get(head_name)
    from_hard = head(**FAST[head_name]).fit(X.iloc[:200], hard[:200], task=task).predict(X.iloc[200:])
    from_soft = head(**FAST[head_name]).fit(X.iloc[:200], soft[:200], task=task).predict(X.iloc[200:])
    assert gap(from_soft, soft[200:]) < 0.5 * gap(from_hard, soft[200:])
    if task_name in ("binary", "multiclass"):
        assert np.allclose(from_soft.sum(axis=1), 1)


@pytest.mark.parametrize("head_name", ["tabular-lgbm", "tfidf-linear"])
@pytest.mark.parametrize("task_name", ["binary", "multiclass", "multilabel"])
def test_row_weights_count_as_that_many_rows(head_name, task_name):
    """Rows of the first class weighed down: the head predicts that class less often on new rows."""
    task = tabular_task(task_name, TASKS[task_name])
    X, signal = table(240, seed=3)
    y = targets(task_name, signal)
    first = y[:200, 0] == 1
    head = HEADS.get(head_name)
    plain = head(**FAST[head_name]).fit(X.iloc[:200], y[:200], task=task).predict(X.iloc[200:])
    weights = np.where(first, 0.02, 1.0)
    weighed = head(**FAST[head_name]).fit(X.iloc[:200], y[:200], task=task, sample_weight=weights).predict(X.iloc[200:])
    assert weighed[:, 0].mean() < plain[:, 0].mean() - 0.02


def test_a_multiclass_tree_head_holds_out_a_rows_copies_together():
    """Soft multiclass rows become weighted copies per class; early stopping must hold out rows, not copies, or a
    row's copies would score the trees that learnt from its other copies."""
    head = HEADS.get("tabular-lgbm")(**FAST["tabular-lgbm"])
    X, signal = table(240)
    y = soft_version("multiclass", targets("multiclass", signal))
    head.fit(X, y, task=tabular_task("multiclass", "logloss"))
    (target,) = head._targets(y, None)
    held = head._held_out(len(y))
    assert len(target.rows) == 3 * len(y) and held.any()
    for row in np.flatnonzero(held)[:20]:
        assert held[target.rows[target.rows == row]].all()
    assert np.allclose(np.bincount(target.rows, weights=target.weight), 1)  # each row still weighs one


def test_the_llm_text_classifier_takes_distributions_and_row_weights():
    """Pseudo-labelled rows at a weight other than 1 reach the head as sample_weight (it used to drop them)."""
    pytest.importorskip("peft")
    from submit.models.tabular_llm import LlmTextClassifier

    X, signal = table(24)
    soft = soft_version("multiclass", targets("multiclass", signal))
    head = LlmTextClassifier(model="tiny-llama", quantization="lora", micro_batch_size=4, grad_accum=1,
                             gradient_checkpointing=False, max_length=128, save_steps=1000, max_steps=1)
    head.fit(X, soft, task=tabular_task("multiclass", "logloss"), sample_weight=np.linspace(0.5, 1.5, len(X)))
    assert np.isfinite(head.stats_["train_loss_last"])
    assert np.allclose(head.predict(X.iloc[:4]).sum(axis=1), 1)


# --- end to end on described competitions -------------------------------------------------------------------

MADE = {"regression": (regression_files, ["--metric", "rmsle"]), "binary": (binary_files, []),
        "multiclass": (lambda f: wine_files(f, probabilities=True), []), "multilabel": (multilabel_files, [])}


def predictions(result, name: str) -> np.ndarray:
    frame = pd.read_parquet(result.dir / name)
    return frame.drop(columns=[c for c in ("id", "fold") if c in frame.columns]).to_numpy(dtype=np.float64)


@pytest.mark.parametrize("task_name", list(MADE))
def test_distillation_and_pseudo_labels_run_on_each_tabular_task(task_name, tmp_path):
    make, flags = MADE[task_name]
    folder = make(tmp_path / task_name)
    code, text = submit("init", "table", "--data", str(folder), *flags)
    assert code == 0, text
    runs = tmp_path / "runs"
    comp = get_competition("table")
    assert comp.task.name == task_name
    for head in ("tabular-lgbm", "tfidf-linear"):  # the refusal of hard-label heads is gone
        build_recipe(comp, {"head": head, "distill_from": "t", "pseudo_labels": {"from": "t"}}, "r")

    def run(*overrides: str, recipe: str = "default"):
        return run_competition("table", recipe=recipe, overrides=[*FAST_RECIPE[recipe], *overrides],
                               runs_dir=runs).result

    teacher, plain = run(recipe="linear"), run()
    student = run(f"distill_from={teacher.id}", "distill_alpha=1.0")
    assert student.id != plain.id
    oof = {r.id: predictions(r, "oof.parquet") for r in (teacher, plain, student)}
    assert gap(oof[student.id], oof[teacher.id]) < gap(oof[plain.id], oof[teacher.id])  # it moved toward the teacher
    pseudo = run(f"pseudo_labels={{from: {teacher.id}, weight: 3.0}}")
    test = {r.id: predictions(r, "test.parquet") for r in (teacher, plain, pseudo)}
    assert gap(test[pseudo.id], test[teacher.id]) < gap(test[plain.id], test[teacher.id])
    assert len(predictions(pseudo, "oof.parquet")) == len(oof[plain.id])  # pseudo-labelled rows are never scored


def test_an_ensemble_of_the_default_and_linear_teaches_the_default_head(tmp_path):
    folder = wine_files(tmp_path / "wine", probabilities=True)
    assert submit("init", "wine", "--data", str(folder))[0] == 0
    runs = str(tmp_path / "runs")
    ids = []
    for recipe in ("default", "linear"):
        code, text = submit("run", "wine", "--runs", runs, "--recipe", recipe, *sets(recipe))
        assert code == 0, text
        ids.append(text.split("Experiment ")[1].split(":")[0].strip())
    code, text = submit("ensemble", "wine", "--runs", runs, "--experiments", ",".join(ids))
    assert code == 0, text
    ensemble = text.split("Submission written and validated: ")[1].split()[0].split("/")[-2]
    code, text = submit("run", "wine", "--runs", runs, *sets(), "--set", f"distill_from={ensemble}")
    assert code == 0, text
    student = text.split("Experiment ")[1].split(":")[0].strip()
    code, text = submit("leaderboard", "wine", "--runs", runs, "--format", "csv")
    assert f"distill {ensemble}" in text and student in text


# --- upload ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["kaggle", "files"])
def test_a_described_competitions_submission_is_uploaded_byte_for_byte(source, tmp_path, monkeypatch):
    """Set up from Kaggle (the slug in competition.yaml), or from files laid out by hand (the slug given)."""
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    from tests.kaggle_server import FakeKaggle
    from tests.test_kaggle import SECRET, USER

    files = regression_files(tmp_path / "files")
    for key, value in {"HOME": str(tmp_path), "KAGGLE_CONFIG_DIR": str(tmp_path / "kc"), "KAGGLE_USERNAME": USER,
                       "KAGGLE_KEY": SECRET, "KAGGLE_API_ENVIRONMENT": "LOCALHOST"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    runs = str(tmp_path / "runs")
    setup = ["--kaggle", "house-prices", "--data", str(tmp_path / "house")] if source == "kaggle" else ["--data",
                                                                                                      str(files)]
    slug = [] if source == "kaggle" else ["--slug", "house-prices"]
    with FakeKaggle(zip_files={p.name: p.read_bytes() for p in files.iterdir()},
                    public_scores={"soft student": 0.51}) as server:
        monkeypatch.setitem(_env_to_endpoint, KaggleEnv.LOCAL, server.url)
        code, text = submit("init", "house", *setup, "--metric", "rmsle")
        assert code == 0, text
        code, text = submit("run", "house", "--runs", runs, *sets())
        assert code == 0, text
        submission = Path(text.split("Submission written and validated: ")[1].split()[0])
        code, text = submit("validate", "house", str(submission))
        assert code == 0, text
        if source == "files":
            code, text = submit("upload", "house", "-m", "soft student", "--runs", runs)
            assert code == 2 and "set up from files, not from Kaggle; pass --slug" in " ".join(text.split())
        code, text = submit("upload", "house", "-m", "soft student", "--runs", runs, *slug, "--wait", "--poll",
                            "0.01", "--timeout", "30")
        assert code == 0, text
    assert "Public score 0.51" in text
    (start,) = server.calls("StartSubmissionUpload")
    assert start.json()["competitionName"] == "house-prices"
    (put,) = [r for r in server.state.requests if r.method == "PUT"]
    assert put.body == submission.read_bytes()
    (create,) = server.calls("CreateSubmission")
    assert create.json()["submissionDescription"] == "soft student"
    assert create.json()["blobFileTokens"] == put.path.rsplit("/", 1)[-1]
    assert SECRET not in text

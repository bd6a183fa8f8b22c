"""Conformance suites run over the registries: a new competition or head is tested the moment it is registered.

check_competition_*: the bundled sample loads, folds are disjoint and respect groups, the metric declares its
direction, a submission made from predictions passes the host's checks, and the sample regenerates equal.
check_head_*: fit returns the head, predict has the task's shape with no NaN, a seed gives the same answer,
save/load and clone round trips, one row at a time agrees with a batch, predict before fit raises, and what
the runner tells a fold's head (a work folder, the names of y's columns) goes through fit's context.

The cases are every registered name (the test doubles of tests/toy.py too); a known failure is an xfail with
its reason in KNOWN_FAILURES, strict, so a fix shows up as an unexpected pass.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from submit.cv.folds import assign_folds
from submit.cv.recipe import load_recipe
from submit.kernel.checks import read_any
from submit.kernel.plugins import COMPETITIONS, get_competition
from submit.models.base import FitContext, Head, NotFittedError
from submit.models.registry import HEADS

from submit.validate import submission_problems
from tests import toy  # noqa: F401  (registers the test doubles, so the cases are the same whatever ran first)

N_ROWS = 80
TOY = "an in-memory test double (tests/toy.py): no bundled sample files and no recipes"
KNOWN_FAILURES = {  # (check, competition or head/task): why it cannot pass
    ("identity", "toy"): TOY,
    ("sample_regenerates", "toy"): TOY,
    ("identity", "toy-text"): TOY,
    ("sample_regenerates", "toy-text"): TOY,
}


def cases(check: str, names: list[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[check, n]))
            if (check, n) in KNOWN_FAILURES else n for n in names]


COMPETITION_NAMES = COMPETITIONS.names()
# The head checks run on the data of the first competition of each task type, one with bundled sample files
# where there is one.
TASK_SAMPLE: dict[str, str] = {}
for _name in sorted(COMPETITION_NAMES, key=lambda n: ("sample_regenerates", n) in KNOWN_FAILURES):
    TASK_SAMPLE.setdefault(get_competition(_name).task.name, _name)


@cache
def sample(name: str):
    comp = get_competition(name)
    dataset = comp.load(comp.sample_dir)
    return comp, dataset, comp.targets(dataset, "usem3")


@pytest.mark.parametrize("name", cases("identity", COMPETITION_NAMES))
def test_competition_is_registered_with_identity(name):
    assert name in COMPETITIONS.names()
    comp = get_competition(name)
    assert comp.name == name and comp.title and comp.host in ("kaggle", "dacon", "local")
    assert isinstance(comp.metric.higher_is_better, bool) and comp.metrics
    assert "default" in comp.recipe_names()
    for recipe in comp.recipe_names():
        load_recipe(comp, recipe)  # every shipped recipe is valid


@pytest.mark.parametrize("name", COMPETITION_NAMES)
def test_competition_sample_loads_in_canonical_columns(name):
    comp, dataset, y = sample(name)
    assert {"id", *comp.task.inputs} - {"body"} <= set(dataset.train.columns)
    assert len(dataset.test) > 0 and {"id"} <= set(dataset.test.columns)
    assert dataset.train["id"].is_unique and dataset.test["id"].is_unique
    comp.task.check_prediction(comp.task.prediction.coerce(y), len(dataset.train))  # y is of the task's kind


@pytest.mark.parametrize("name", COMPETITION_NAMES)
def test_competition_folds_are_disjoint_and_respect_groups(name):
    comp, dataset, _ = sample(name)
    folds = assign_folds(dataset, comp.folds_scheme, 5, seed=0)
    assert sorted(np.unique(folds)) == list(range(5))
    if dataset.groups is not None:
        per_group = pd.Series(folds).groupby(np.asarray(dataset.groups)).nunique()
        assert (per_group == 1).all()


@pytest.mark.parametrize("name", COMPETITION_NAMES)
def test_competition_submission_from_predictions_passes_host_checks(name):
    comp, dataset, y = sample(name)
    serving = [h for h in HEADS.names() if comp.task.name in HEADS.get(h).tasks]
    head = HEADS.get("prior" if "prior" in serving else serving[0])().fit(dataset.train, y, task=comp.task)
    pred = head.predict(dataset.test)
    decided = comp.decide(pred, comp.fit_decision(y, head.predict(dataset.train)))
    frame = comp.format_submission(dataset, decided)
    spec = comp.submission_spec(dataset)
    assert list(frame.columns) == [spec.id_column, *spec.columns]
    assert submission_problems(frame, dataset.sample_submission, spec) == []
    assert list(frame[spec.id_column].astype(str)) == list(dataset.test["id"].astype(str))


@pytest.mark.parametrize("name", cases("sample_regenerates", COMPETITION_NAMES))
def test_competition_sample_regenerates_equal(name, tmp_path):
    comp = get_competition(name)
    comp.write_sample(tmp_path)
    shipped = sorted(p.name for p in comp.sample_dir.iterdir() if not p.name.startswith("."))
    assert sorted(p.name for p in tmp_path.iterdir()) == shipped
    for file in shipped:
        pd.testing.assert_frame_equal(read_any(tmp_path / file), read_any(comp.sample_dir / file))


def head_cases() -> list:
    """Every registered head on every task it declares; a task no registered competition has a sample of
    is an xfail that says so."""
    out = []
    for head in HEADS.names():
        for task in sorted(HEADS.get(head).tasks):
            reason = KNOWN_FAILURES.get(("head", f"{head}/{task}")) or (
                None if task in TASK_SAMPLE else f"no registered competition with a bundled sample has task {task}")
            out.append(pytest.param(head, task, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason
                       else (head, task))
    return out


def small(task: str):
    comp, dataset, y = sample(TASK_SAMPLE[task])
    n = min(N_ROWS, len(dataset.train) - 12)  # and 12 rows the head has not seen
    return dataset.train.iloc[:n], y[:n], dataset.train.iloc[n:n + 12], comp.task


def fast_params(head_name: str) -> dict:
    """Small settings so the suite stays quick; the checks do not depend on model size."""
    cls = HEADS.get(head_name)
    small_settings = {"n_estimators": 20, "k": 5,
                      # LLM heads: the tiny random model, LoRA without quantisation, two steps, short texts
                      "model": "tiny-llama", "quantization": "lora", "max_steps": 2, "micro_batch_size": 4,
                      "grad_accum": 1, "max_length": 384, "max_new_tokens": 6, "gradient_checkpointing": False,
                      "save_steps": 1000}
    return {k: v for k, v in small_settings.items() if k in cls.param_names()}


def assert_agree(a: np.ndarray, b: np.ndarray, *, rtol: float, atol: float) -> None:
    """Numbers equal to a tolerance; texts equal exactly."""
    if a.dtype == object:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize(("head_name", "task"), head_cases())
def test_head_fit_predict_shape_and_range(head_name, task):
    X, y, X_new, task_type = small(task)
    head = HEADS.get(head_name)(**fast_params(head_name))
    with pytest.raises(NotFittedError):
        head.predict(X_new)
    assert head.fit(X, y, task=task_type) is head
    pred = head.predict(X_new)
    task_type.check_prediction(pred, len(X_new))  # the kind's shape, finite numbers or strings
    assert task_type.prediction.width(pred) == task_type.prediction.width(task_type.prediction.coerce(y))
    if task == "preference":
        assert (pred >= 0).all() and np.allclose(pred.sum(axis=1), 1)
    if task == "tagging":
        assert (pred >= 0).all() and (pred <= 1).all()


@pytest.mark.parametrize(("head_name", "task"), head_cases())
def test_head_is_deterministic_and_round_trips(head_name, task, tmp_path):
    X, y, X_new, task_type = small(task)
    cls = HEADS.get(head_name)
    head = cls(**fast_params(head_name)).fit(X, y, task=task_type)
    again = cls(**fast_params(head_name)).fit(X, y, task=task_type)
    np.testing.assert_array_equal(head.predict(X_new), again.predict(X_new))

    head.save(tmp_path / "m")
    loaded = cls.load(tmp_path / "m")
    assert_agree(loaded.predict(X_new), head.predict(X_new), rtol=1e-6, atol=1e-9)
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))

    clone = head.clone()
    assert clone.get_params() == head.get_params() and not clone.is_fitted


@pytest.mark.parametrize(("head_name", "task"), head_cases())
def test_head_single_rows_agree_with_the_batch(head_name, task):
    X, y, X_new, task_type = small(task)
    head = HEADS.get(head_name)(**fast_params(head_name)).fit(X, y, task=task_type)
    batch = head.predict(X_new)
    rows = np.concatenate([head.predict(X_new.iloc[[i]]) for i in range(len(X_new))])
    assert_agree(rows, batch, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("head_name", "task"), head_cases())
def test_head_is_told_its_context_through_fit(head_name, task, tmp_path):
    """The runner's FitContext reaches the head through fit, and a work folder changes where a head keeps its
    checkpoints, never what it predicts."""
    X, y, X_new, task_type = small(task)
    names = tuple(sample(TASK_SAMPLE[task])[1].label_names)
    cls = HEADS.get(head_name)
    context = FitContext(work_dir=tmp_path / "work", label_names=names)
    head = cls(**fast_params(head_name)).fit(X, y, task=task_type, context=context)
    assert head.context_ is context
    plain = cls(**fast_params(head_name)).fit(X, y, task=task_type, context=FitContext(label_names=names))
    assert_agree(head.predict(X_new), plain.predict(X_new), rtol=1e-5, atol=1e-6)
    assert not {"work_dir", "label_names"} & set(vars(head))  # nothing set on the head from outside


def own_prepare_cases() -> list:
    """The head cases whose head has its own prepare (the others inherit the base's, which does nothing)."""
    def head_of(case) -> str:
        return case.values[0] if hasattr(case, "marks") else case[0]  # pytest.param, or a plain (head, task)
    return [case for case in head_cases() if HEADS.get(head_of(case))._prepare is not Head._prepare]


@pytest.mark.parametrize(("head_name", "task"), own_prepare_cases())
def test_head_prepare_changes_no_prediction(head_name, task):
    X, y, X_new, task_type = small(task)
    cls = HEADS.get(head_name)
    plain = cls(**fast_params(head_name)).fit(X, y, task=task_type).predict(X_new)
    prepared = cls(**fast_params(head_name))
    assert prepared.prepare(pd.concat([X, X_new], ignore_index=True), task=task_type) is None
    np.testing.assert_array_equal(prepared.fit(X, y, task=task_type).predict(X_new), plain)

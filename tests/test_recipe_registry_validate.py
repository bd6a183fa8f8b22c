"""Recipes, registries and submission validation: the checks a user meets first."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from submit.cv.io import atomic_write
from submit.cv.recipe import RecipeError, build_recipe, load_recipe
from submit.kernel.plugins import get_competition
from submit.kernel.registry import RegistrationError, Registry, UnknownName
from submit.kernel.submissions import LABELS as LABELS_KIND
from submit.kernel.submissions import PROBABILITIES, TAGS, SubmissionSpec
from submit.kernel.submissions import VECTORS as VECTORS_KIND
from submit.models.base import at_least, limits_of
from typer.testing import CliRunner

from submit.cli import app
from submit.validate import SubmissionError, submission_problems, write_submission
from tests import toy  # registers the toy competition and the flaky head


@pytest.fixture()
def comp():
    return get_competition("toy")


def write_recipe(tmp_path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


# --- recipes ------------------------------------------------------------------------------------------

def test_overrides_are_typed_and_applied(comp, tmp_path):
    path = write_recipe(tmp_path, "head: flaky\nparams: {die_on_fit: 0}\n")
    recipe = load_recipe(comp, str(path), ["params.die_on_fit=4", "folds.n_splits=3", "tta=[swap]"])
    assert recipe.params == {"die_on_fit": 4} and recipe.folds.n_splits == 3 and recipe.tta == ["swap"]


@pytest.mark.parametrize(("raw", "words"), [
    ({"head": "longer-wins", "colour": 1}, ["unknown key", "colour", "allowed"]),
    ({"head": "nope"}, ["unknown head 'nope'", "longer-wins"]),
    ({"head": "flaky", "params": {"depth": 3}}, ["no parameter 'depth'", "die_on_fit"]),
    ({"head": "flaky", "params": {"die_on_fit": "three"}}, ["params.die_on_fit", "expected an int"]),
    ({"head": "longer-wins", "tta": ["mirror"]}, ["view 'mirror'", "swap"]),
    ({"head": "longer-wins", "folds": {"n_splits": 1}}, ["at least 2"]),
    ({"head": "longer-wins", "folds": {"k": 3}}, ["unknown folds key", "n_splits"]),
    ({"head": "longer-wins", "data": {"rows": 3}}, ["no data option 'rows'", "n"]),
    ({"head": "tfidf-ovr"}, ["serves tagging", "preference"]),
])
def test_bad_recipes_are_rejected_with_what_is_allowed(comp, raw, words):
    with pytest.raises(RecipeError) as err:
        build_recipe(comp, raw, "bad")
    for word in words:
        assert word in str(err.value)


def test_unknown_recipe_name_lists_the_known_ones():
    comp = get_competition("wsdm")
    with pytest.raises(RecipeError, match=r"known: .*default"):
        load_recipe(comp, "does-not-exist")


def test_set_without_equals_is_explained(comp, tmp_path):
    path = write_recipe(tmp_path, "head: longer-wins\n")
    with pytest.raises(RecipeError, match="key=value"):
        load_recipe(comp, str(path), ["params.k"])


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)) + "head: *i\n"


def test_an_alias_bomb_recipe_is_refused_at_once_in_one_short_line(comp, tmp_path):
    path = write_recipe(tmp_path, BOMB)
    assert len(BOMB) < 500
    with pytest.raises(RecipeError, match="anchors and aliases") as err:
        load_recipe(comp, str(path))
    assert str(path) in str(err.value) and len(str(err.value)) < 400


@pytest.mark.parametrize("override", ["params.die_on_fit=&a 3", "params.die_on_fit=*a"])
def test_anchors_and_aliases_in_an_override_are_refused(comp, tmp_path, override):
    path = write_recipe(tmp_path, "head: flaky\n")
    with pytest.raises(RecipeError, match="anchors and aliases"):
        load_recipe(comp, str(path), [override])


def test_a_recipe_file_too_large_to_be_one_is_refused_unread(comp, tmp_path):
    path = write_recipe(tmp_path, "head: flaky\n" + "#" * 300_000 + "\n")
    with pytest.raises(RecipeError, match="at most"):
        load_recipe(comp, str(path))


def test_a_huge_value_is_echoed_cut_short(comp, tmp_path):
    path = write_recipe(tmp_path, f"head: flaky\nparams: {{die_on_fit: '{'x' * 100_000}'}}\n")
    with pytest.raises(RecipeError, match="expected an int") as err:
        load_recipe(comp, str(path))
    assert len(str(err.value)) < 400 and "100,002 characters" in str(err.value)


@pytest.mark.parametrize("value", ["[1,", "@x", "!!python/object/apply:os.system ['true']"])
def test_an_override_that_is_not_yaml_ends_with_exit_2_and_one_line(value, tmp_path):
    result = CliRunner().invoke(app, ["run", "wsdm", "--runs", str(tmp_path), "--set", f"params.seed={value}"])
    assert result.exit_code == 2, result.output
    assert "--set " in result.output and f"params.seed={value}" in result.output
    assert "not valid YAML" in result.output and len(result.output.strip().splitlines()) == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_recipe_digest_follows_content_not_name(comp):
    a = build_recipe(comp, {"head": "flaky"}, "a")
    b = build_recipe(comp, {"head": "flaky", "params": {"die_on_fit": 0}}, "b")  # the default, spelt out
    c = build_recipe(comp, {"head": "flaky", "params": {"die_on_fit": 2}}, "a")
    assert a.digest() == b.digest() != c.digest()


# --- registries ---------------------------------------------------------------------------------------

def test_registry_rejects_duplicates_and_names_the_known():
    reg = Registry("thing", "submit.test-none", {"a": "json:dumps"})
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", object)
    with pytest.raises(UnknownName, match="unknown thing 'b'; known: a"):
        reg.get("b")
    assert reg.get("a").__name__ == "dumps"  # lazily imported


def test_a_broken_plugin_warns_instead_of_breaking(monkeypatch):
    broken = SimpleNamespace(name="broken", value="nowhere:Thing", load=lambda: 1 / 0)
    monkeypatch.setattr("submit.kernel.registry.entry_points", lambda group: [broken])
    reg = Registry("thing", "submit.test", {"a": "json:dumps"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert reg.names() == ["a"]
    assert any("skipped thing plugin 'broken'" in str(w.message) for w in caught)


def test_plugin_autoload_has_an_off_switch(monkeypatch):
    plugin = SimpleNamespace(name="extra", value="x:Y", load=lambda: object)
    monkeypatch.setattr("submit.kernel.registry.entry_points", lambda group: [plugin])
    monkeypatch.setenv("SUBMIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert Registry("thing", "g", {}).names() == []
    monkeypatch.delenv("SUBMIT_DISABLE_PLUGIN_AUTOLOAD")
    assert Registry("thing", "g", {}).names() == ["extra"]


class _Named(toy.Flaky):
    name = "named"


class _Busy(toy.Flaky):
    """Does work in its constructor, which clone() and the recipe's check would repeat."""

    name = "busy"

    def __init__(self, *, die_on_fit: int = 0) -> None:
        self.die_on_fit = die_on_fit
        self.model_ = object()


class _Positional(toy.Flaky):
    name = "positional"

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth


class _OutOfItsLimits(toy.Flaky):
    name = "out-of-limits"
    limits = limits_of(die_on_fit=at_least(1))


class _NoTask(toy.Flaky):
    name = "no-task"
    tasks = frozenset({"translation"})


@pytest.mark.parametrize(("name", "cls", "words"), [
    ("other-name", _Named, ["head 'other-name'", "name attribute is 'named'"]),
    ("busy", _Busy, ["store each parameter as given", "model_"]),
    ("positional", _Positional, ["keyword-only with a default", "depth"]),
    ("out-of-limits", _OutOfItsLimits, ["the default die_on_fit=0", "at least 1"]),
    ("no-task", _NoTask, ["translation", "task types"]),
    ("not-a-head", dict, ["not a models.base.Head subclass"]),
])
def test_registering_a_head_checks_the_contract(name, cls, words):
    from submit.models.registry import HEADS

    with pytest.raises(RegistrationError) as err:
        HEADS.register(name, cls)
    assert all(word in str(err.value) for word in words), str(err.value)
    assert name not in HEADS.names()


class _Stateful(toy.Toy):
    name = "stateful"

    def __init__(self) -> None:
        self.cache = {}


class _Unscheduled(toy.Toy):
    name = "unscheduled"
    folds_scheme = "by-date"


@pytest.mark.parametrize(("name", "cls", "words"), [
    ("wrong", toy.Toy, ["competition 'wrong'", "name attribute is 'toy'"]),
    ("stateful", _Stateful, ["store nothing", "cache"]),
    ("unscheduled", _Unscheduled, ["folds_scheme 'by-date'", "grouped"]),
])
def test_registering_a_competition_checks_the_contract(name, cls, words):
    from submit.kernel.plugins import COMPETITIONS

    with pytest.raises(RegistrationError) as err:
        COMPETITIONS.register(name, cls)
    assert all(word in str(err.value) for word in words), str(err.value)


@pytest.mark.parametrize(("override", "words"), [
    ("params.n_estimators=null", ["params.n_estimators", "null, expected a value (300 by default)"]),
    ("params.encoder=null", []),  # its annotation (str | None) takes null: no cosine features
    ("params.subsample=0", ["params.subsample", "expected a number in (0, 1]"]),
    ("params.learning_rate=.inf", ["params.learning_rate", "expected a number above 0"]),
    ("params.encoder=nope", ["params.encoder", "one of usem3"]),
    ("folds.n_splits=1", ["folds.n_splits", "at least 2"]),
    ("tta=5", ["tta is 5", "list of views"]),
    ("tta_budget=null", ["tta_budget", "null"]),
    ("embedder=nope", ["embedder", "one of usem3"]),
    ("data.extra_train=5", ["data.extra_train", "expected a str"]),
    ("data.limit=null", []),
])
def test_recipe_values_are_checked_against_their_ranges(override, words):
    comp = get_competition("wsdm")
    if not words:
        load_recipe(comp, "lgbm", [override])  # LightGBM: the head with the most ranged parameters
        return
    with pytest.raises(RecipeError) as err:
        load_recipe(comp, "lgbm", [override])
    assert all(word in str(err.value) for word in words), str(err.value)


def test_settings_that_must_agree_are_checked_at_the_recipe():
    comp = get_competition("law-tags")
    with pytest.raises(RecipeError, match="word_max and char_max are both 0"):
        load_recipe(comp, "default", ["params.word_max=0", "params.char_max=0"])
    with pytest.raises(RecipeError, match="num_samples=3 needs do_sample"):
        load_recipe(comp, "smollm2-generator", ["params.num_samples=3", "params.do_sample=false"])


# --- submissions --------------------------------------------------------------------------------------

LABELS = SubmissionSpec("id", LABELS_KIND, ("winner",), frozenset({"model_a", "model_b"}))
PROBS = SubmissionSpec("id", PROBABILITIES, ("a", "b", "tie"))
VECTORS = SubmissionSpec("id", VECTORS_KIND, ("v0", "v1", "v2"), width=3)
TAGS = SubmissionSpec("id", TAGS, ("tags",), frozenset({"contract", "tort"}))
SAMPLE = pd.DataFrame({"id": ["1", "2", "3"]})


def problems(spec, **columns):
    return submission_problems(pd.DataFrame({"id": ["3", "1", "2"], **columns}), SAMPLE, spec)


def test_valid_submissions_pass_in_any_id_order():
    assert problems(LABELS, winner=["model_a", "model_b", "model_a"]) == []
    assert problems(PROBS, a=[0.2, 0.5, 1.0], b=[0.3, 0.25, 0.0], tie=[0.5, 0.25, 0.0]) == []
    assert problems(VECTORS, v0=[0.1, 1, 0], v1=[0.2, 0, 0], v2=[0.3, 0, 1]) == []
    assert problems(TAGS, tags=["contract", "tort contract", "tort"]) == []


@pytest.mark.parametrize(("spec", "frame", "words"), [
    (LABELS, {"id": ["1", "2"], "winner": ["model_a", "model_b"]}, ["id(s) of sample_submission have no row", "'3'"]),
    (LABELS, {"id": ["1", "2", "3", "3"], "winner": ["model_a"] * 4}, ["duplicate ids", "rows 3, 4"]),
    (LABELS, {"id": ["1", "2", "9"], "winner": ["model_a"] * 3}, ["not in sample_submission", "'9'"]),
    (LABELS, {"id": ["1", "2", "3"], "winner": ["model_a", "tie", "model_b"]}, ["'tie' not in the allowed", "row 2"]),
    (LABELS, {"id": ["1", "2", "3"], "label": ["model_a"] * 3}, ["missing column(s) 'winner'", "unexpected"]),
    (PROBS, {"id": ["1", "2", "3"], "a": [0.2, 0.5, 0.5], "b": [0.3, 0.5, 0.5], "tie": [0.5, 0.5, 0.0]},
     ["do not sum to 1", "row 2"]),
    (PROBS, {"id": ["1", "2", "3"], "a": [1.5, 0.5, 0.5], "b": [-0.5, 0.5, 0.5], "tie": [0, 0, 0]},
     ["outside [0, 1]", "row 1"]),
    (PROBS, {"id": ["1", "2", "3"], "a": [np.nan, 0.5, 0.5], "b": [0.5] * 3, "tie": [0.0] * 3},
     ["missing values", "row 1"]),
    (VECTORS, {"id": ["1", "2", "3"], "v0": [1, 1, 1], "v1": [0, 0, 0]}, ["missing column(s) 'v2'"]),
    (VECTORS, {"id": ["1", "2", "3"], "v0": [1, "x", 1], "v1": [0] * 3, "v2": [0] * 3}, ["not finite", "row 2"]),
    (TAGS, {"id": ["1", "2", "3"], "tags": ["contract", "tort felony", "tort"]}, ["not in the vocabulary", "felony"]),
    (TAGS, {"id": ["1", "2", "3"], "tags": ["contract", " ", "tort"]}, ["missing values", "row 2"]),
])
def test_bad_submissions_name_the_problem(spec, frame, words):
    found = "\n".join(submission_problems(pd.DataFrame(frame), SAMPLE, spec))
    for word in words:
        assert word in found


def test_an_invalid_submission_is_never_written(tmp_path):
    path = tmp_path / "sub.csv"
    bad = pd.DataFrame({"id": ["1", "2"], "winner": ["model_a", "model_b"]})
    with pytest.raises(SubmissionError):
        write_submission(bad, SAMPLE, LABELS, path)
    assert not path.exists() and not list(tmp_path.iterdir())
    good = pd.DataFrame({"id": ["1", "2", "3"], "winner": ["model_a", "model_b", "model_a"]})
    write_submission(good, SAMPLE, LABELS, path)
    assert pd.read_csv(path, dtype=str).equals(good)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")

    def half_write(tmp):
        tmp.write_text("ne")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(path, half_write)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]

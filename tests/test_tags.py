"""The tags task of described competitions (issue 19): a target column of space-separated labels, inferred by
`submit init`, scored by micro-F1, mean row F1 or map@k, decided on OOF, run end to end and validated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import f1_score
from submit.competitions.law_tags import synthetic_questions
from submit.kernel.metrics import get_metric, metric_for
from submit.kernel.tasks import TAGGING, TaggingDecision, fit_tagging_decision, tag_threshold_grid, tagging_task

from submit.init import tags_evidence
from tests.test_init import own_index, submit  # noqa: F401  (own_index: an autouse fixture)

FAST = ["--set", "folds.n_splits=3"]


def tags_files(folder: Path, n: int = 300) -> Path:
    """A small tags table: questions (title, body) whose words give their 1-3 tags away, a numeric column, and a
    sample holding one tag per row, in the Kaggle layout (question_id, not `id`, to show nothing is assumed)."""
    rng = np.random.default_rng(0)
    frame = synthetic_questions(rng, n + 60, first_id=1).rename(columns={"id": "question_id", "score": "votes"})
    train, test = frame.iloc[:n], frame.iloc[n:].drop(columns="tags")
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"question_id": test["question_id"], "tags": "united-states"}).to_csv(
        folder / "sample_submission.csv", index=False)
    return folder


def described(folder: Path) -> dict:
    return yaml.safe_load((folder / "competition.yaml").read_text())


def submission_of(text: str) -> Path:
    return Path(text.split("Submission written and validated: ")[1].split()[0])


# --- inference ---------------------------------------------------------------------------------------------

def test_a_column_of_space_separated_tags_is_inferred_as_tags_and_says_why(tmp_path):
    folder = tags_files(tmp_path / "qa")
    code, text = submit("init", "qa", "--data", str(folder))
    assert code == 0, text
    desc = described(folder)
    assert (desc["task"], desc["submission"], desc["metric"]) == ("tags", "tags", "mean-row-f1")
    assert desc["targets"] == ["tags"] and desc["classes"] == []
    assert desc["features"]["title"] == "text" and desc["features"]["body"] == "text"
    said = " ".join(text.split())
    assert "task: tags (tags)" in said and "space-separated tags:" in said and "distinct combinations" in said


CITIES = ("New York, Los Angeles, San Diego, San Jose, San Antonio, Las Vegas, El Paso, Fort Worth, New Orleans, "
          "Long Beach, Kansas City, Oklahoma City, Virginia Beach, Salt Lake, Santa Fe, Santa Ana, Santa Clara, "
          "San Francisco, Saint Paul, Saint Louis, Des Moines, Baton Rouge, Little Rock, Grand Rapids")


@pytest.mark.parametrize("values, tags", [
    (["copyright licensing", "tax-law", "tax-law united-states", "copyright", "licensing united-states"], True),
    (["c++ templates", "python", "python pandas", "c++ python", "pandas", "c++ python templates", "python templates"],
     True),
    (CITIES.split(", "), False),  # two-word classes: few words recombine
    # sentences: punctuation, repeated words, as many distinct words as rows
    (["Can I copy a photo?", "Is it legal to sell it?", "What if I do it again?", "Who owns the the code?"], False),
    (["good", "very good", "good", "very good", "premium"], False),  # multi-word classes: no more sets than words
    (["spam", "ham", "spam"], False),  # one tag a row: classes, not tag sets
])
def test_what_reads_as_tags(values, tags):
    assert (tags_evidence(pd.Series(values)) is not None) is tags


def test_task_tags_forces_it(tmp_path):
    folder = tags_files(tmp_path / "one")
    train = pd.read_csv(folder / "train.csv")
    train["tags"] = train["tags"].str.split().str[0]  # one tag a row: inferred as multiclass labels
    train.to_csv(folder / "train.csv", index=False)
    assert submit("init", "one", "--data", str(folder))[0] == 0
    assert described(folder)["task"] == "multiclass"
    code, text = submit("init", "one", "--data", str(folder), "--task", "tags", "--metric", "micro-f1")
    assert code == 0, text
    desc = described(folder)
    assert (desc["task"], desc["submission"], desc["metric"]) == ("tags", "tags", "micro-f1")
    assert "given (--task)" in text


def test_map_at_k_submits_the_k_best_tags_ranked(tmp_path):
    folder = tags_files(tmp_path / "ranked")
    code, text = submit("init", "ranked", "--data", str(folder), "--metric", "map@3")
    assert code == 0, text
    assert described(folder)["submission"] == "ranked"
    code, text = submit("run", "ranked", "--runs", str(tmp_path / "runs"), *FAST)
    assert code == 0, text
    sub = pd.read_csv(submission_of(text))
    assert (sub["tags"].str.split().str.len() == 3).all()
    assert submit("validate", "ranked", str(submission_of(text)))[0] == 0


# --- metrics and decisions ---------------------------------------------------------------------------------

def random_sets(seed: int, n: int = 200, tags: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, tags)) < 0.2).astype(np.float32)
    y[np.arange(n), rng.integers(0, tags, n)] = 1  # every row holds a tag, as a tags column does
    return y, (rng.random((n, tags)) < 0.25).astype(np.int8)


@pytest.mark.parametrize("seed", range(3))
def test_tag_metrics_agree_with_scikit_learn(seed):
    y, chosen = random_sets(seed)
    chosen[0] = 0  # a row choosing nothing scores 0 for that row
    assert metric_for("micro-f1", "tagging")(y, chosen) == pytest.approx(f1_score(y, chosen, average="micro"))
    assert metric_for("mean-row-f1", "tagging")(y, chosen) == pytest.approx(
        f1_score(y, chosen, average="samples", zero_division=1.0))
    assert metric_for("macro-f1", "tagging")(y, chosen) == pytest.approx(
        f1_score(y, chosen, average="macro", zero_division=0.0))


def test_map_at_k_of_tags_by_hand():
    y = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    # row 1: hits at ranks 1 and 3: (1/1 + 2/3) / min(3, 2); row 2: a hit at rank 3: (1/3) / 1; row 3: its tag is
    # ranked 4th, beyond k: 0
    assert metric_for("map@3", "tagging")(y, scores) == pytest.approx(np.mean([(1 + 2 / 3) / 2, 1 / 3, 0.0]))


def test_the_decision_follows_the_metric():
    rng = np.random.default_rng(1)
    y, _ = random_sets(1, n=400)
    scores = np.clip(0.6 * y + rng.normal(0.2, 0.2, y.shape), 0, 1)
    # micro-F1 (law-tags' task): the same threshold as before the metric became a field
    assert tagging_task("micro-f1").fit_decision(y, scores) == TAGGING.fit_decision(y, scores) == {
        "threshold": fit_tagging_decision(y, scores).threshold}
    # Rows whose scores differ in scale (as a model's do between easy and hard rows): no one threshold fits every
    # row, a cut relative to each row's best does; mean row F1 is fitted both.
    scaled = scores * rng.uniform(0.2, 1.0, (len(scores), 1))
    task = tagging_task("mean-row-f1")
    decision = task.fit_decision(y, scaled)
    row_f1 = get_metric("mean-row-f1", "tagging").bind("tagging")
    tuned = row_f1(y, task.decide(scaled, decision))
    thresholds_only = max(row_f1(y, TaggingDecision(t).apply(scaled)) for t in tag_threshold_grid(scaled))
    assert decision["relative"] < 1 and tuned > thresholds_only + 0.02
    assert TaggingDecision(0.9, 1.0).apply(scaled).tolist() == TaggingDecision(0.9).apply(scaled).tolist()
    ranked = tagging_task("map@2")
    assert ranked.fit_decision(y, scores) == {"top_k": 2}
    assert ranked.decide(scores, {"top_k": 2}) is scores


def test_a_metric_that_does_not_fit_tags_is_refused(tmp_path):
    folder = tags_files(tmp_path / "rmse")
    code, text = submit("init", "rmse", "--data", str(folder), "--metric", "rmse")
    assert code == 2 and "does not fit a tagging task" in text and "mean-row-f1" in text and "map@k" in text


def test_f1_on_tags_is_the_mean_of_each_rows_f1_as_kaggles_mean_f_score(tmp_path):
    """Kaggle's metadata names its tag competitions' metric "MeanFScore", which reads as f1."""
    folder = tags_files(tmp_path / "f1")
    code, text = submit("init", "f1", "--data", str(folder), "--metric", "f1")
    assert code == 0, text
    assert described(folder)["metric"] == "mean-row-f1"
    assert get_metric("F1", "tagging").name == "mean-row-f1" and get_metric("f1", "binary").name == "f1"


# --- bad input ---------------------------------------------------------------------------------------------

def _empty_tags(folder: Path) -> None:
    pd.read_csv(folder / "train.csv").assign(tags="").to_csv(folder / "train.csv", index=False)


def _a_row_without_tags(folder: Path) -> None:
    train = pd.read_csv(folder / "train.csv")
    train.loc[4, "tags"] = ""
    train.to_csv(folder / "train.csv", index=False)


def _no_text(folder: Path) -> None:
    for stem in ("train", "test"):
        pd.read_csv(folder / f"{stem}.csv").drop(columns=["title", "body"]).to_csv(folder / f"{stem}.csv", index=False)


BAD = {
    "empty vocabulary": (_empty_tags, ["--task", "tags"], "column 'tags': no row holds a tag (an empty vocabulary)"),
    "a row without tags": (_a_row_without_tags, [], "train.csv, column 'tags', row 5: the row has no tags"),
    "no text column": (_no_text, [], "no text column, expected at least one for a tags task"),
    "two targets": (lambda f: None, ["--task", "tags", "--target", "tags", "--target", "votes"],
                    "--task tags: expected one target column of space-separated tags"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_tags_input_exits_2_with_one_message_and_writes_nothing(tmp_path, case):
    spoil, flags, said = BAD[case]
    folder = tags_files(tmp_path / "bad", n=60)
    spoil(folder)
    code, text = submit("init", "bad", "--data", str(folder), *flags)
    assert code == 2, text
    assert said in " ".join(text.split()), text
    assert text.count("error:") == 1 and "Traceback" not in text
    assert not (folder / "competition.yaml").exists()


def test_an_empty_tags_column_is_refused_when_loading_too(tmp_path):
    """A description edited by hand (or files changed after init): the load names the empty vocabulary."""
    folder = tags_files(tmp_path / "later", n=60)
    assert submit("init", "later", "--data", str(folder))[0] == 0
    _empty_tags(folder)
    code, text = submit("run", "later", "--runs", str(tmp_path / "runs"), *FAST)
    assert code == 2 and "no row holds a tag (an empty vocabulary)" in " ".join(text.split()), text


# --- end to end --------------------------------------------------------------------------------------------

def test_a_tags_table_runs_ensembles_predicts_and_validates(tmp_path):
    folder = tags_files(tmp_path / "qa")
    assert submit("init", "qa", "--data", str(folder))[0] == 0
    runs = str(tmp_path / "runs")
    code, text = submit("run", "qa", "--runs", runs, *FAST)
    assert code == 0, text
    cv = float(text.split("CV mean-row-f1: ")[1].split()[0])
    assert cv > 0.7, text  # the words give the tags away: far above the most common tag alone
    sub = pd.read_csv(submission_of(text))
    assert list(sub.columns) == ["question_id", "tags"] and (sub["tags"].str.len() > 0).all()
    vocabulary = set(pd.read_csv(folder / "train.csv")["tags"].str.split().explode())
    assert set(sub["tags"].str.split().explode()) <= vocabulary
    assert submit("validate", "qa", str(submission_of(text)))[0] == 0
    sub.loc[0, "tags"] = "not-a-tag"
    sub.to_csv(tmp_path / "bad.csv", index=False)
    code, text = submit("validate", "qa", str(tmp_path / "bad.csv"))
    assert code != 0 and "not-a-tag" in text

    for recipe, more in (("knn", []), ("linear", []), ("baseline", ["--set", "params.n_estimators=30"])):
        code, text = submit("run", "qa", "--runs", runs, "--recipe", recipe, *FAST, *more)
        assert code == 0, (recipe, text)
    for method in ("weighted", "stack"):
        code, text = submit("ensemble", "qa", "--runs", runs, "--method", method)
        assert code == 0, (method, text)
        assert submit("validate", "qa", str(submission_of(text)))[0] == 0
    code, text = submit("leaderboard", "qa", "--runs", runs, "--format", "json")
    rows = json.loads(text[text.index("["):])
    assert {r["recipe"] for r in rows} >= {"default", "knn", "linear", "baseline"}
    default = next(r["experiment"] for r in rows if r["recipe"] == "default")
    code, text = submit("predict", "qa", "--experiment", default, "--runs", runs, "--output", str(tmp_path / "p.csv"))
    assert code == 0, text
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert predicted.equals(pd.read_csv(Path(runs) / "qa" / default / "submission.csv"))  # the saved heads again

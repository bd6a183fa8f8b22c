"""The text-to-text plugins (meta-review, code-instruct): both layouts, bad input, the text metrics against
hand-computed values, sentence splitting, submissions, and the real MReD / Evol-Instruct files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from submit.competitions._generation import MAX_TEXT_CHARS, SOURCE, LongTextWarning
from submit.kernel.checks import DataError
from submit.kernel.competition import LoadOptionError
from submit.kernel.plugins import get_competition
from submit.kernel.text import CHRF, ROUGE_1, ROUGE_2, ROUGE_L, ROUGE_LSUM, chrf_pair, rouge_f1, split_sentences
from typer.testing import CliRunner

from submit.cli import app
from submit.validate import submission_problems
from tests.conftest import shared_data

PLUGINS = ["meta-review", "code-instruct"]


def host_files(name: str, tmp_path, suffix: str = ".csv"):
    """The bundled sample copied to tmp_path (as .csv or .jsonl), returned as (competition, {stem: frame})."""
    comp = get_competition(name)
    frames = {stem: pd.read_csv(comp.sample_dir / f"{stem}.csv", dtype=str, keep_default_na=False)
              for stem in ("train", "test", "sample_submission")}
    write(tmp_path, frames, suffix)
    return comp, frames


def write(folder, frames: dict[str, pd.DataFrame], suffix: str = ".csv") -> None:
    for stem, frame in frames.items():
        if suffix == ".csv":
            frame.to_csv(folder / f"{stem}.csv", index=False)
        else:
            frame.to_json(folder / f"{stem}.jsonl", orient="records", lines=True, force_ascii=False)


@pytest.mark.parametrize("name", PLUGINS)
def test_sample_loads_multi_line_cells_in_canonical_columns(name):
    comp = get_competition(name)
    data = comp.load(comp.sample_dir)
    assert list(data.train.columns) == ["id", "source"] and list(data.test.columns) == ["id", "source"]
    assert data.y.dtype == object and data.y.ndim == 1 and len(data.y) == len(data.train)
    assert any("\n" in t for t in [*data.train["source"], *data.y])  # quoted cells spanning lines survive
    assert data.sample_submission is not None and len(data.test) == len(data.sample_submission)


def test_meta_review_separators_become_paragraphs():
    comp = get_competition("meta-review")
    raw = pd.read_csv(comp.sample_dir / "train.csv")
    data = comp.load(comp.sample_dir)
    assert "<sep>" in raw["text"][0] and "<sep>" not in data.train["source"][0]
    assert data.train["source"][0].count("\n\n") == raw["text"][0].count("<sep>")


@pytest.mark.parametrize("name", PLUGINS)
def test_json_lines_load_like_csv(name, tmp_path):
    comp, _ = host_files(name, tmp_path, ".jsonl")
    jsonl, csv = comp.load(tmp_path), comp.load(comp.sample_dir)
    pd.testing.assert_frame_equal(jsonl.train, csv.train)
    assert list(jsonl.y) == list(csv.y)


@pytest.mark.parametrize(("stem", "edit", "message"), [
    ("train", lambda f: f.drop(columns="summary"), "missing column 'summary'"),
    ("train", lambda f: f.assign(summary=["  ", *list(f["summary"][1:])]), "column 'summary', row 1: empty text"),
    ("train", lambda f: f.assign(id=["x", "x", *list(f["id"][2:])]), "duplicate id 'x'"),
    ("test", lambda f: f.assign(text=["", *list(f["text"][1:])]), "column 'text', row 1: empty text"),
    ("sample_submission", lambda f: f.iloc[1:], "has no row in sample_submission.csv"),
])
def test_bad_host_files_are_located_errors(tmp_path, stem, edit, message):
    comp, frames = host_files("meta-review", tmp_path)
    frames[stem] = edit(frames[stem])
    write(tmp_path, frames)
    with pytest.raises(DataError, match=message):
        comp.load(tmp_path)


def test_missing_test_file_and_ambiguous_export_folder(tmp_path):
    comp, _ = host_files("code-instruct", tmp_path)
    (tmp_path / "test.csv").unlink()
    with pytest.raises(DataError, match="test: file not found"):
        comp.load(tmp_path)
    export = tmp_path / "export"
    export.mkdir()
    for stem in ("a", "b"):
        pd.DataFrame({"instruction": ["x"], "output": ["y"]}).to_csv(export / f"{stem}.csv", index=False)
    with pytest.raises(DataError, match="not a single export"):
        comp.load(export)


def test_plain_export_loads_with_row_number_ids_and_no_test(tmp_path):
    frame = pd.DataFrame({"instruction": ["add two numbers", "say hi"], "output": ["a + b", "print('hi')\n"]})
    frame.to_json(tmp_path / "export.jsonl", orient="records", lines=True)
    data = get_competition("code-instruct").load(tmp_path)
    assert list(data.train["id"]) == ["1", "2"] and list(data.y) == ["a + b", "print('hi')\n"]
    assert len(data.test) == 0 and data.sample_submission is None


@pytest.mark.parametrize("name", PLUGINS)
def test_limit_is_a_seeded_subset(name):
    comp = get_competition(name)
    a, b = comp.load(comp.sample_dir, limit=20), comp.load(comp.sample_dir, limit=20)
    assert len(a.train) == 20 and list(a.train["id"]) == list(b.train["id"]) and len(a.test) == len(b.test)


@pytest.mark.parametrize("name", PLUGINS)
def test_an_overlong_text_is_cut_to_the_bound_with_a_warning_naming_its_rows(name, tmp_path):
    comp, frames = host_files(name, tmp_path)
    train, test = frames["train"], frames["test"]
    train.loc[2, comp.target_column] = "a long reference. " * 160_000  # 2.9 MB in one cell, as seen
    test.loc[4, comp.source_column] = "x" * 30_000
    write(tmp_path, frames)
    with pytest.warns(LongTextWarning) as seen:
        data = comp.load(tmp_path)
    messages = [str(w.message) for w in seen]
    assert any(f"train.csv, column '{comp.target_column}'" in m and "(rows 3;" in m and "2,880,000" in m
               for m in messages)
    assert any(f"test.csv, column '{comp.source_column}'" in m and "(rows 5;" in m for m in messages)
    assert len(data.y[2]) == MAX_TEXT_CHARS and len(data.test[SOURCE].iloc[4]) == MAX_TEXT_CHARS
    assert data.y[1] == train.loc[1, comp.target_column]  # the others as they were
    with pytest.warns(LongTextWarning):
        assert len(comp.load(tmp_path, max_text_chars=100).y[2]) == 100
    with pytest.raises(LoadOptionError, match="max_text_chars"):
        comp.load(tmp_path, max_text_chars=0)


def test_the_bound_is_a_recipe_key_and_the_warning_reaches_the_cli(tmp_path):
    (tmp_path / "data").mkdir()
    comp, frames = host_files("meta-review", tmp_path / "data")
    frames["train"].loc[0, comp.source_column] = "A review sentence. " * 2_000
    write(tmp_path / "data", frames)
    result = CliRunner().invoke(app, ["run", "meta-review", "--data", str(tmp_path / "data"), "--runs",
                                      str(tmp_path / "runs"), "--set", "data.max_text_chars=5000"])
    assert result.exit_code == 0, result.output
    assert "warning: train.csv, column 'text': 1 text(s) longer than 5,000 characters (rows 1;" in result.output


@pytest.mark.parametrize("name", PLUGINS)
def test_submission_of_texts_passes_the_checks_in_test_order(name):
    comp = get_competition(name)
    data = comp.load(comp.sample_dir)
    decided = np.array([f"answer {i}\nsecond line, with a comma" for i in range(len(data.test))], dtype=object)
    frame = comp.format_submission(data, decided)
    spec = comp.submission_spec(data)
    assert list(frame.columns) == ["id", comp.target_column] and list(frame["id"]) == list(data.test["id"])
    assert submission_problems(frame, data.sample_submission, spec) == []
    with pytest.raises(ValueError, match="1-D array"):
        comp.format_submission(data, decided.reshape(-1, 1))


# --- metrics ------------------------------------------------------------------------------------------


def test_rouge_matches_counts_worked_by_hand():
    # reference "the cat sat on the mat" (6 tokens), candidate "the cat lay on a mat" (6 tokens):
    # unigrams in common: the, cat, on, mat = 4 -> F1 4/6; bigrams in common: "the cat" = 1 of 5 -> F1 1/5;
    # longest common subsequence: the cat on mat = 4 -> F1 4/6.
    ref, cand = "the cat sat on the mat", "the cat lay on a mat"
    assert rouge_f1("rouge1", ref, cand) == pytest.approx(4 / 6)
    assert rouge_f1("rouge2", ref, cand) == pytest.approx(1 / 5)
    assert rouge_f1("rougeL", ref, cand) == pytest.approx(4 / 6)
    assert rouge_f1("rouge1", "Running dogs.", "the dog runs") == pytest.approx(2 * (2 / 3 * 1) / (2 / 3 + 1))


def test_rouge_lsum_reads_sentences_where_rouge_l_reads_one_sequence():
    # Two sentences in swapped order: one LCS over the whole text finds only one of them; the summary-level
    # LCS matches each candidate sentence against each reference sentence, so finds both.
    ref, cand = "alpha beta gamma. delta epsilon zeta.", "delta epsilon zeta. alpha beta gamma."
    assert rouge_f1("rougeL", ref, cand) == pytest.approx(0.5)
    assert rouge_f1("rougeLsum", ref, cand) == pytest.approx(1.0)


def test_metrics_average_rows_and_score_identity_as_perfect():
    y = np.array(["a short text here.", "another one."], dtype=object)
    assert ROUGE_LSUM(y, y) == ROUGE_1(y, y) == ROUGE_2(y, y) == ROUGE_L(y, y) == 1.0
    assert CHRF(y, y) == pytest.approx(100.0)
    assert chrf_pair("abc def", "abc def") == pytest.approx(100.0) and chrf_pair("abc def", "xyz") < 10
    half = np.array(["a short text here.", "nothing in common"], dtype=object)
    assert ROUGE_1(y, half) == pytest.approx(0.5)
    assert all(m.higher_is_better for m in (ROUGE_1, CHRF))


def test_sentences_split_at_ends_and_line_breaks_not_at_abbreviations():
    text = "We use e.g. ResNet (He et al., 2016) as in Fig. 3 of the paper. It works!\nA new line here"
    assert split_sentences(text) == ["We use e.g. ResNet (He et al., 2016) as in Fig. 3 of the paper.", "It works!",
                                     "A new line here"]


# --- the real files -----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_mred_export_loads_and_lead_7_reproduces_the_reference_figures():
    data = get_competition("meta-review").load(shared_data("meta_review"))
    assert len(data.train) == 500 and len(data.test) == 0 and "<sep>" not in data.train["source"][0]
    lead = np.array([" ".join(split_sentences(t)[:7]) for t in data.train["source"]], dtype=object)
    scores = get_competition("meta-review").score(data.y, lead)
    print(scores)
    # The reference on other rows of the same data: ROUGE-1 0.302, ROUGE-2 0.060, and 0.170 for
    # ROUGE-Lsum computed on unsplit texts (which is ROUGE-L); split into sentences, ROUGE-Lsum is higher.
    assert scores["rouge1"] == pytest.approx(0.302, abs=0.01) and scores["rouge2"] == pytest.approx(0.060, abs=0.01)
    assert scores["rougeL"] == pytest.approx(0.170, abs=0.01) and scores["rougeLsum"] > scores["rougeL"] + 0.05


@pytest.mark.realdata
def test_real_evol_instruct_export_loads_as_training_rows():
    data = get_competition("code-instruct").load(shared_data("code_instruct"))
    assert len(data.train) == 1566 and len(data.test) == 0 and data.train["id"].is_unique
    assert sum("\n" in t for t in data.y) > 1000  # multi-line code outputs

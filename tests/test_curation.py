"""Curation steps on hand-made rows (each filter's edges, PII, cleaning, Korean), the pipeline's report,
cache and worker processes, the recipe section's validation, and `submit law-tags --recipe curated`."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from submit.competitions.law_tags import LawTags
from submit.curation.pii import scrubber
from submit.curation.pipeline import curate_dataset, parse_curation
from submit.curation.steps import CurationError, build_step
from submit.cv.recipe import RecipeError, load_recipe
from submit.kernel.competition import Dataset
from submit.kernel.plugins import get_competition
from submit.models.cache import using_cache_dir
from typer.testing import CliRunner

from submit.cli import app
from tests.conftest import shared_data

KOREAN = "면진장치가 뭐야? 건물의 진동을 줄여주는 장치입니다. 한국어 문장 (2024년)."


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


# --- filters, at their edges --------------------------------------------------------------------------


def test_word_count_keeps_16_words_and_drops_15():
    step = build_step("word_count", {"min": 16})
    assert step.measure(words(15), None) == 15 and not step.keeps(step.measure(words(15), None))
    assert step.keeps(step.measure(words(16), None))
    capped = build_step("word_count", {"min": 1, "max": 16})
    assert capped.keeps(capped.measure(words(16), None)) and not capped.keeps(capped.measure(words(17), None))


def test_score_keeps_zero_and_drops_minus_one():
    step = build_step("score", {"min": 0})
    assert step.keeps(step.measure("", 0.0))
    assert not step.keeps(step.measure("", -1.0))
    assert step.keeps(step.measure("", None))  # no score: nothing known against the row


def test_keep_chars_is_the_seed_preprocessing():
    step = build_step("keep_chars", {})
    assert step.apply("Great paper!! (5/5) <sep> naïve\tidea")[0] == "Great paper 55 sep nave\tidea"
    assert build_step("keep_chars", {"allowed": r"a-z\s"}).apply("Ab c1")[0] == "b c"


def repeated_phrase_text(phrase_chars: int, occurrences: int, total_chars: int) -> str:
    """Five distinct words (phrase_chars long with their spaces) `occurrences` times among unique filler words,
    padded to exactly total_chars: the phrase is the only repeated 5-gram."""
    phrase = " ".join(c * 29 for c in "abcd") + " " + "e" * (phrase_chars - 4 * 29 - 4)
    assert len(phrase) == phrase_chars
    parts = []
    for i in range(occurrences):
        parts += [phrase, " ".join(f"g{i}x{j}" for j in range(6))]
    text = " ".join(parts)
    pad = total_chars - len(text) - 1
    filler = " ".join(f"h{j:03d}" for j in range(pad // 5))
    text = f"{text} {filler}"
    return text + "z" * (total_chars - len(text))


@pytest.mark.parametrize(("mode", "occurrences", "total"), [("top", 2, 2000), ("duplicate", 2, 1000)])
def test_repeating_5grams_keep_14_9_percent_and_drop_15_1_percent(mode, occurrences, total):
    # top: both occurrences of the top 5-gram count (2 x 149 of 2,000 chars); duplicate: only the second one
    # (149 of 1,000 chars: the words of the repeat, 145 characters, plus the 4 spaces between them).
    step = build_step("repeating_ngrams", {"n": 5, "max_fraction": 0.15, "mode": mode})
    below = repeated_phrase_text(149, occurrences, total)
    above = repeated_phrase_text(151, occurrences, total)
    assert len(below) == len(above) == total
    assert step.measure(below, None) == pytest.approx(0.149)
    assert step.measure(above, None) == pytest.approx(0.151)
    assert step.keeps(step.measure(below, None)) and not step.keeps(step.measure(above, None))


def test_repeating_ngrams_follow_nemo_on_small_texts():
    top = build_step("repeating_ngrams", {"n": 5, "mode": "top"})
    duplicate = build_step("repeating_ngrams", {"n": 5, "mode": "duplicate"})
    assert top.measure("four words only here", None) == 1.0  # fewer than n words
    # No repeat at all, yet the first 5-gram (23 of 27 characters) is "the top one": NeMo drops the text.
    assert top.measure("one two three four five six", None) == pytest.approx(23 / 27)
    assert duplicate.measure("one two three four five six", None) == 0.0
    # "a b c d e f" twice: the repeated abcde counts 9 characters (5 letters, 4 spaces), then the repeated bcdef
    # adds its one new word "f" and the space before it: 11, the whole second "a b c d e f".
    assert duplicate.measure("a b c d e f a b c d e f", None) == pytest.approx(11 / 23)
    assert top.measure("a b c d e f a b c d e f", None) == pytest.approx(18 / 23)


# --- transforms -----------------------------------------------------------------------------------------


def test_pii_replaces_emails_phones_urls_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("curation tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    scrubber.cache_clear()  # build the engine here, under the guard
    step = build_step("pii", {})
    text, found = step.apply("Write to jane.roe@example.com or call (212) 555-0199; the ruling is at "
                             "https://courts.example.org/case?id=7 (mirror 203.0.113.9).")
    assert text == ("Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER>; the ruling is at <URL> "
                    "(mirror <IP_ADDRESS>).")
    assert found == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1, "URL": 1, "IP_ADDRESS": 1}
    assert scrubber(("PERSON",), "en_core_web_lg", "en").names_checked is False  # no such model here
    assert step.apply(KOREAN) == (KOREAN, {})
    assert step.apply("Is it legal under s. 12(3) of the Act in the U.S.?")[1] == {}


def test_pii_checks_names_with_a_spacy_ner_model_folder(tmp_path):
    import spacy

    nlp = spacy.blank("en")  # a real spaCy pipeline on disk: an entity ruler stands in for a trained NER model
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": "Jane Roe"},
                                               {"label": "GPE", "pattern": "Ohio"}])
    nlp.to_disk(tmp_path / "ner")
    step = build_step("pii", {"ner_model": str(tmp_path / "ner")})
    assert step.apply("Jane Roe moved to Ohio; mail jane@example.com") == (
        "<PERSON> moved to <LOCATION>; mail <EMAIL_ADDRESS>", {"PERSON": 1, "LOCATION": 1, "EMAIL_ADDRESS": 1})


def test_clean_strips_html_and_controls_and_unifies_section_numbers():
    clean = build_step("clean", {})
    cases = {
        "<p>Tenant&nbsp;rights</p><p>Is <b>this</b> &amp; that legal?</p>": "Tenant rights\n\nIs this & that legal?",
        "a\x00b\u200bc  d\t\te\r\n\n\n\nf ": "abc d e\n\nf",
        "Under s. 12(3) of the Act": "Under section 12(3) of the Act",
        "§12 (3) (a) and § 4": "section 12(3)(a) and section 4",
        "Sec. 230 and §§ 101 and ss. 4": "section 230 and sections 101 and sections 4",
        "U.S. 12 states, Ms. 5 and Intersection 5": "U.S. 12 states, Ms. 5 and Intersection 5",
    }
    for raw, expected in cases.items():
        assert clean.apply(raw)[0] == expected
    assert build_step("clean", {"sections": False}).apply("s. 12(3)")[0] == "s. 12(3)"


def test_unicode_repairs_mojibake_and_leaves_korean_alone():
    unicode, clean = build_step("unicode", {}), build_step("clean", {})
    assert unicode.apply("The landlord doesnâ€™t return the deposit")[0] == "The landlord doesn't return the deposit"
    for text in (KOREAN, "日本語の文章です。", "Ünïcödé résumé naïve", "Привет, мир"):
        assert clean.apply(unicode.apply(text)[0])[0] == text


@pytest.mark.realdata
def test_hansol_korean_passes_unicode_and_clean_unharmed():
    raw = pd.read_csv(shared_data("hansol", "train.csv"))
    texts = [t for c in raw.columns if c.startswith(("질문", "답변")) for t in raw[c]]
    unicode, clean = build_step("unicode", {}), build_step("clean", {})
    for text in texts:
        out = clean.apply(unicode.apply(text)[0])[0]
        assert out.split() == text.split()  # only runs of spaces may change
        if " ".join(text.split()) == text:
            assert out == text


# --- the pipeline -----------------------------------------------------------------------------------------


def tiny_dataset() -> Dataset:
    train = pd.DataFrame({
        "id": ["1", "2", "3", "4", "5"],
        "title": ["Can my landlord keep the deposit?", "Short one", "Mail jane@example.com about s. 12(3)",
                  "Is it legal?", "Fired"],
        "body": [words(20), "", words(20), words(20), words(20)],
        "score": pd.array([3, 10, 0, -1, None], dtype="Int64"),
    })
    test = pd.DataFrame({"id": ["9"], "title": ["Too short"], "body": ["Call 212-555-0199"]})
    y = np.eye(5, dtype=np.int8)
    return Dataset(train=train, test=test, y=y, sample_submission=None)


CONFIG = {"steps": {"unicode": None, "clean": None, "pii": None, "word_count": {"min": 16}, "score": {"min": 0}}}


def test_pipeline_report_drops_only_training_rows_and_is_cached():
    config = parse_curation(CONFIG, ["title", "body"])
    curated = curate_dataset(tiny_dataset(), config)
    assert curated.keep.tolist() == [True, False, True, False, True]
    report = curated.report
    assert (report["rows_in"], report["rows_out"], report["test_rows"]) == (5, 3, 1)
    assert report["dropped"] == {"word_count": 1, "score": 1}
    assert report["examples"]["word_count"][0] == {"id": "2", "value": 2.0, "text": "Short one"}
    assert report["examples"]["score"][0]["id"] == "4"
    assert report["pii_entities"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
    assert curated.dataset.train["title"][2] == "Mail <EMAIL_ADDRESS> about section 12(3)"
    assert curated.dataset.test["body"][0] == "Call <PHONE_NUMBER>"  # test rows transformed, never dropped
    assert len(curated.dataset.test) == 1 and list(curated.dataset.train["id"]) == ["1", "2", "3", "4", "5"]
    assert any("names" in note for note in report["notes"])
    assert report["computed_rows"] == 6
    again = curate_dataset(tiny_dataset(), config)
    assert again.report["computed_rows"] == 0
    assert again.dataset.train.equals(curated.dataset.train) and (again.keep == curated.keep).all()


def test_report_names_the_filter_when_most_training_rows_are_dropped():
    kept_most = curate_dataset(tiny_dataset(), parse_curation(CONFIG, ["title", "body"])).report
    assert not any("kept" in note for note in kept_most["notes"])  # 3 of 5 kept: no warning
    strict = {"steps": {"word_count": {"min": 26}, "score": {"min": 0}}}  # only row 1 has 26 words
    report = curate_dataset(tiny_dataset(), parse_curation(strict, ["title", "body"])).report
    assert report["rows_out"] == 1
    assert any(note.startswith("the filters kept 20% of the training rows, 'word_count' dropping the most (4)")
               and "--set curation.steps.word_count=false" in note for note in report["notes"])


def test_score_step_is_skipped_without_a_score_column():
    data = tiny_dataset()
    data.train = data.train.drop(columns="score")
    curated = curate_dataset(data, parse_curation(CONFIG, ["title", "body"]))
    assert "score" not in curated.report["dropped"]
    assert any("no 'score' column" in note for note in curated.report["notes"])


def test_worker_processes_give_the_same_rows_as_one_process(tmp_path):
    rows = 40
    train = pd.DataFrame({"id": [str(i) for i in range(rows)],
                          "question": [f"질문 {i}:  {'word ' * (i % 9)}  <br>end" for i in range(rows)]})
    data = Dataset(train=train, test=train.iloc[:0], y=None, sample_submission=None)
    steps = {"unicode": None, "clean": None, "word_count": {"min": 4}}
    local = curate_dataset(data, parse_curation({"steps": steps}, ["question"]))
    with using_cache_dir(tmp_path):  # an empty cache: every row is computed again
        spread = curate_dataset(data, parse_curation({"steps": steps, "workers": 2, "parallel_min_rows": 10},
                                                     ["question"]))
    assert spread.report["computed_rows"] == rows
    assert spread.dataset.train.equals(local.dataset.train) and (spread.keep == local.keep).all()


def test_preference_and_answer_embedding_text_curate_on_their_samples():
    for name, columns in (("lmsys", ["prompt", "response_a", "response_b"]), ("hansol", ["question"])):
        comp = get_competition(name)
        data = comp.load(comp.sample_dir)
        recipe = load_recipe(comp, "default", [f"curation={json.dumps({'steps': {'unicode': None, 'clean': None}})}"])
        assert recipe.curation.columns == columns  # the task's text inputs by default
        curated = curate_dataset(data, recipe.curation)
        assert curated.keep.all() and len(curated.dataset.test) == len(data.test)
        if name == "hansol":
            assert [q.split() for q in curated.dataset.train["question"]] == \
                [q.split() for q in data.train["question"]]


# --- the recipe section ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("override", "message"), [
    ("curation.steps.spellcheck={}", "unknown curation step 'spellcheck'; known: unicode, clean, pii"),
    ("curation.steps.word_count.minimum=3", "takes no parameter 'minimum'; its parameters: min, max"),
    ("curation.steps.word_count.min=many", "'many' does not fit the type int | None"),
    ("curation.steps.repeating_ngrams.mode=sometimes", "mode top or duplicate"),
    ("curation.steps.pii.entities=[NAME]", "known: EMAIL_ADDRESS"),
    ("curation.colums=[title]", "unknown key(s) colums; allowed: columns, steps"),
    ("curation.workers=-1", "curation.workers: expected a whole number >= 0"),
])
def test_recipe_curation_section_is_validated(override, message):
    with pytest.raises(RecipeError, match="recipe 'curated'") as err:
        load_recipe(LawTags(), "curated", [override])
    assert message in str(err.value)


def test_missing_extra_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ftfy", None)  # what an install without the curate extra looks like
    with pytest.raises(RecipeError, match=r"step 'unicode' needs ftfy.*pip install -e '\.\[curate\]'"):
        load_recipe(LawTags(), "curated")
    assert load_recipe(LawTags(), "default").curation is None  # recipes without curation do not need it


def test_curation_is_in_the_digest_but_workers_are_not():
    comp = LawTags()
    curated = load_recipe(comp, "curated")
    assert curated.digest() != load_recipe(comp, "curated", ["curation.steps.word_count.min=17"]).digest()
    assert curated.digest() == load_recipe(comp, "curated", ["curation.workers=1"]).digest()
    assert curated.digest() != load_recipe(comp, "curated", ["curation.steps.pii=false"]).digest()
    assert list(curated.curation.steps) == ["unicode", "clean", "pii", "word_count", "score", "repeating_ngrams"]
    with pytest.raises(CurationError):
        build_step("word_count", {})


# --- end to end -------------------------------------------------------------------------------------------


def submit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.slow
def test_submit_law_tags_curated_prints_the_report_and_runs_cv_on_the_shared_folds(tmp_path):
    data = tmp_path / "law"
    data.mkdir()
    for path in LawTags().sample_dir.iterdir():
        data.joinpath(path.name).write_bytes(path.read_bytes())
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    train.loc[0, "body"] += " Write to jane.roe@example.com or call (212) 555-0199, see https://example.org/x."
    train.loc[1, "title"] = "Can my employer read my messages? It doesnâ€™t say"
    train.to_csv(data / "train.csv", index=False)
    runs = str(tmp_path / "runs")

    code, text = submit("run", "law-tags", "--data", str(data), "--recipe", "curated", "--runs", runs)
    assert code == 0, text
    assert "500 training rows in" in text and "60 test rows transformed, never dropped" in text
    assert "replaced EMAIL_ADDRESS 1" in text and "dropped 41 training rows" in text
    assert "Examples of dropped rows" in text and "names (LOCATION, PERSON) were not checked" in text
    assert "CV micro_f1:" in text and "micro_f1_kept_rows:" in text and "Submission written and validated" in text
    exp = Path(text.split("on the law-tags leaderboard (")[1].split(")")[0])
    report = json.loads((exp / "curation.json").read_text())
    assert report["rows_in"] == 500 and 0 < report["rows_out"] < 500
    assert report["pii_entities"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1, "URL": 1}
    assert report["changed_rows"]["unicode"] == 1  # the mojibake title
    assert sum(report["dropped"].values()) == 500 - report["rows_out"] and report["dropped"]["score"] > 0
    assert len(pd.read_parquet(exp / "oof.parquet")) == 500  # every row is still predicted

    code, default = submit("run", "law-tags", "--data", str(data), "--runs", runs)
    assert code == 0
    default_exp = Path(default.split("on the law-tags leaderboard (")[1].split(")")[0])
    scores = [json.loads((e / "scores.json").read_text()) for e in (exp, default_exp)]
    assert scores[0]["folds_id"] == scores[1]["folds_id"]  # same folds: the two rank side by side

    code, again = submit("run", "law-tags", "--data", str(data), "--recipe", "curated", "--runs", runs)
    assert code == 0 and "0 of 560 rows curated now" in again and "5 finished fold(s) reused" in again


def test_filters_that_leave_no_training_rows_are_a_user_error(tmp_path):
    code, text = submit("run", "law-tags", "--recipe", "curated", "--runs", str(tmp_path),
                        "--set", "curation.steps.word_count.min=10000")
    assert code == 2
    assert "curation kept no training rows" in text and "loosen its filters" in text


@pytest.mark.realdata
def test_law_titles_through_the_curated_recipe():
    comp = LawTags()
    data = comp.load(shared_data("law"))
    curated = curate_dataset(data, load_recipe(comp, "curated").curation)
    report = curated.report
    short = int((data.train["title"].str.split().str.len() <= 15).sum())
    assert report["dropped"]["word_count"] == short > 3000  # titles only: most questions are short
    assert any("'word_count' dropping the most" in note for note in report["notes"])
    assert report["rows_out"] == int(curated.keep.sum()) == 3700 - short - report["dropped"]["repeating_ngrams"]
    assert report["pii_entities"].get("URL", 0) >= 5 and "score" not in report["dropped"]
    assert report["changed_rows"]["unicode"] >= 10  # curly quotes and apostrophes
    assert curated.dataset.train["title"].str.contains("<URL>").sum() == report["pii_entities"]["URL"]

"""The law-tags plugin: every accepted layout loads to the same dataset, bad files give located errors,
the OOF threshold decision, the submission frame, the bundled sample and the recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from submit.competitions.law_tags import LawTags, parse_tags
from submit.cv.recipe import load_recipe
from submit.kernel.checks import DataError
from submit.kernel.plugins import get_competition
from submit.kernel.submissions import TAGS
from submit.kernel.tasks import TaggingDecision, micro_f1, micro_f1_at

from tests.conftest import shared_data

COMP = LawTags()
STEMS = ("train", "test", "sample_submission")


def frames() -> dict[str, pd.DataFrame]:
    return {stem: pd.read_csv(COMP.sample_dir / f"{stem}.csv", dtype=str, keep_default_na=False) for stem in STEMS}


def write(folder: Path, tables: dict[str, pd.DataFrame], suffix: str = ".csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, frame in tables.items():
        path = folder / f"{stem}{suffix}"
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        elif suffix == ".jsonl":
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(path, index=False)
    return folder


def as_brackets(tags: str) -> str:
    return "".join(f"<{t}>" for t in tags.split())


# --- layouts ----------------------------------------------------------------------------------------------


def test_bundled_sample_loads_in_canonical_columns():
    data = COMP.load(COMP.sample_dir)
    assert list(data.train.columns) == ["id", "title", "body", "score"]
    assert list(data.test.columns) == ["id", "title", "body", "score"]
    assert (len(data.train), len(data.test), len(data.sample_submission)) == (500, 60, 60)
    assert data.label_names == sorted(data.label_names) and 20 <= len(data.label_names) <= 30
    assert data.y.shape == (500, len(data.label_names)) and set(np.unique(data.y)) == {0, 1}
    assert data.stratify is data.y
    per_row = data.y.sum(axis=1)
    assert per_row.min() == 1 and per_row.max() == 3
    # united-states is the frequent tag, as on the real site
    assert data.label_names[int(data.y.sum(axis=0).argmax())] == "united-states"
    assert data.train["score"].dtype == "Int64"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_jsonl_and_parquet_load_like_csv(tmp_path, suffix):
    tables = frames()
    tables["train"]["score"] = tables["train"]["score"].astype(int)  # typed fields, as those formats hold them
    tables["train"]["id"] = tables["train"]["id"].astype(int)
    got = COMP.load(write(tmp_path, tables, suffix))
    want = COMP.load(COMP.sample_dir)
    pd.testing.assert_frame_equal(got.train, want.train)
    pd.testing.assert_frame_equal(got.test, want.test)
    np.testing.assert_array_equal(got.y, want.y)
    assert got.label_names == want.label_names
    assert got.files["train"].suffix == suffix


def test_both_tag_syntaxes_parse_to_the_same_sets(tmp_path):
    assert parse_tags("<a><b-c>") == parse_tags("a b-c") == parse_tags("  A \t b-c ") == ["a", "b-c"]
    assert parse_tags("<c#> <asp.net>") == ["c#", "asp.net"]
    assert parse_tags("<x><x>") == ["x"]
    tables = frames()
    tables["train"]["tags"] = tables["train"]["tags"].map(as_brackets)
    got = COMP.load(write(tmp_path, tables))
    want = COMP.load(COMP.sample_dir)
    np.testing.assert_array_equal(got.y, want.y)
    assert got.label_names == want.label_names


def test_plain_export_loads_with_row_number_ids(tmp_path):
    train = frames()["train"]
    export = pd.DataFrame({"Title": train["title"], "Tags": train["tags"].map(as_brackets)})
    export.to_csv(tmp_path / "titles_tags.csv", index=False)
    data = COMP.load(tmp_path)
    assert list(data.train["id"]) == [str(i) for i in range(1, 501)]
    assert (data.train["body"] == "").all() and "score" not in data.train.columns
    assert len(data.test) == 0 and list(data.test.columns) == ["id", "title", "body"]
    assert data.sample_submission is None
    np.testing.assert_array_equal(data.y, COMP.load(COMP.sample_dir).y)


def test_export_with_body_score_and_id_keeps_them(tmp_path):
    train = frames()["train"]
    export = pd.DataFrame({"Id": train["id"].astype(int) * 10, "Title": train["title"], "Body": train["body"],
                           "Tags": train["tags"], "Score": train["score"].astype(int)})
    export.to_parquet(tmp_path / "law.parquet", index=False)
    data = COMP.load(tmp_path)
    assert data.train["id"].iloc[0] == "10" and data.train["body"].iloc[0] == train["body"].iloc[0]
    assert data.train["score"].dtype == "Int64"


def test_registered_under_its_name():
    comp = get_competition("law-tags")
    assert isinstance(comp, LawTags) and comp.task.name == "tagging" and comp.folds_scheme == "multilabel"
    assert [m.name for m in comp.metrics] == ["micro_f1", "mean_row_f1"]
    assert all(m.higher_is_better for m in comp.metrics)


# --- bad inputs: the message names the file, the column and the row ---------------------------------------


def _mutate(stem, fn):
    def apply(tables):
        tables[stem] = fn(tables[stem].copy())
    return apply


def _set(stem, row, column, value):
    def fn(frame):
        frame.loc[row - 1, column] = value
        return frame
    return _mutate(stem, fn)


BAD_INPUTS = {
    "missing title": (_mutate("train", lambda f: f.drop(columns="title")), "train.csv", "'title'", None),
    "duplicate id": (_set("train", 3, "id", "2"), "train.csv", "column 'id'", "rows 2 and 3"),
    "empty title": (_set("train", 5, "title", ""), "train.csv", "column 'title'", "row 5"),
    "no tags": (_set("train", 7, "tags", ""), "train.csv", "column 'tags'", "row 7"),
    "blank tags": (_set("train", 8, "tags", "  <> "), "train.csv", "column 'tags'", "row 8"),
    "malformed tags": (_set("train", 9, "tags", "<law><court"), "train.csv", "column 'tags'", "row 9"),
    "tag with a quote": (_set("train", 4, "tags", "['law', 'court']"), "train.csv", "column 'tags'", "row 4"),
    "non-integer score": (_set("train", 4, "score", "3.5"), "train.csv", "column 'score'", "row 4"),
    "word score": (_set("test", 2, "score", "many"), "test.csv", "column 'score'", "row 2"),
    "test id not in sample": (_mutate("sample_submission", lambda f: f.drop(index=10)), "test.csv", "column 'id'",
                              "row 11"),
    "empty test title": (_set("test", 6, "title", ""), "test.csv", "column 'title'", "row 6"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_located_data_error(tmp_path, case):
    mutate, file, column, row = BAD_INPUTS[case]
    tables = frames()
    mutate(tables)
    with pytest.raises(DataError) as caught:
        COMP.load(write(tmp_path, tables))
    message = str(caught.value)
    assert file in message and column in message, message
    if row is not None:
        assert row in message, message


def test_non_utf8_bytes_are_located(tmp_path):
    folder = write(tmp_path, frames())
    raw = (folder / "train.csv").read_bytes().replace(b"Is it legal", b"Is it l\xe9gal", 1)
    (folder / "train.csv").write_bytes(raw)
    with pytest.raises(DataError, match="UTF-8") as caught:
        COMP.load(folder)
    assert "train.csv" in str(caught.value) and "column 'title'" in str(caught.value)


def test_missing_test_file_is_named(tmp_path):
    tables = frames()
    del tables["test"]
    with pytest.raises(DataError, match="test"):
        COMP.load(write(tmp_path, tables))


def test_export_without_tags_column_and_ambiguous_folder(tmp_path):
    pd.DataFrame({"Title": ["a question"]}).to_csv(tmp_path / "export.csv", index=False)
    with pytest.raises(DataError, match="'Tags'"):
        COMP.load(tmp_path)
    pd.DataFrame({"Title": ["a question"], "Tags": ["<x>"]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(DataError, match=r"export\.csv, other\.csv"):
        COMP.load(tmp_path)
    with pytest.raises(DataError, match="not found"):
        COMP.load(tmp_path / "absent")


# --- loader options -----------------------------------------------------------------------------------------


def test_limit_is_a_deterministic_subset():
    full = COMP.load(COMP.sample_dir)
    a, b = COMP.load(COMP.sample_dir, limit=120), COMP.load(COMP.sample_dir, limit=120)
    assert len(a.train) == 120 and a.fingerprint() == b.fingerprint()
    assert set(a.train["id"]) < set(full.train["id"]) and list(a.train.index) == list(range(120))
    ids = a.train["id"].astype(int)
    assert ids.is_monotonic_increasing and ids.max() > 120  # spread over the file, not its head
    assert len(a.test) == len(full.test)  # the test rows are never subset
    with pytest.raises(ValueError, match="limit"):
        COMP.load(COMP.sample_dir, limit=0)


def test_min_tag_count_drops_rare_tags_and_rows_left_without_tags(tmp_path):
    tables = frames()
    tables["train"].loc[0, "tags"] = "only-once"  # a row whose only tag is rare
    tables["train"].loc[1, "tags"] += " also-once"  # a row that keeps its other tags
    folder = write(tmp_path, tables)
    assert {"only-once", "also-once"} <= set(COMP.load(folder).label_names)
    data = COMP.load(folder, min_tag_count=2)
    assert not {"only-once", "also-once"} & set(data.label_names)
    assert len(data.train) == 499 and data.train["id"].iloc[0] == "2"
    assert data.y.sum(axis=1).min() >= 1 and data.y.sum(axis=0).min() >= 2
    strict = COMP.load(folder, min_tag_count=40)
    assert strict.y.sum(axis=0).min() >= 40 and strict.y.sum(axis=1).min() >= 1
    assert len(strict.train) < 500
    with pytest.raises(ValueError, match="min_tag_count"):
        COMP.load(folder, min_tag_count=10_000)


# --- decision and submission --------------------------------------------------------------------------------


def oof_like(seed: int = 0, n: int = 400, k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Scores that rank well but sit low, as OOF probabilities of rare tags do: 0.5 is a poor cut."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.15).astype(np.float32)
    y[np.arange(n), rng.integers(k, size=n)] = 1
    scores = np.clip(0.3 * y + rng.normal(0.05, 0.08, size=y.shape), 0, 1)
    return y, scores


def test_fitted_threshold_does_at_least_as_well_as_one_half():
    y, scores = oof_like()
    decision = COMP.fit_decision(y, scores)
    assert set(decision) == {"threshold"} and 0 < decision["threshold"] < 1
    tuned = micro_f1(y, COMP.decide(scores, decision))
    assert tuned >= micro_f1(y, TaggingDecision(0.5).apply(scores))
    assert tuned > 0.8  # scores separate the tags well; a bad threshold would not reach this
    # every row gets at least one tag, even when no score clears the threshold
    assert COMP.decide(np.full((3, 12), 0.01), decision).sum(axis=1).min() == 1
    with pytest.raises(ValueError, match="threshold"):
        COMP.decide(scores, {})


def test_submission_frame_lists_tag_names_in_test_order():
    data = COMP.load(COMP.sample_dir)
    decided = np.zeros((len(data.test), len(data.label_names)), dtype=np.int8)
    decided[:, data.label_names.index("united-states")] = 1
    decided[0, data.label_names.index("copyright")] = 1
    frame = COMP.format_submission(data, decided)
    assert list(frame.columns) == ["id", "tags"] and list(frame["id"]) == list(data.test["id"])
    assert frame["tags"].iloc[0] == "copyright united-states" and frame["tags"].iloc[1] == "united-states"
    spec = COMP.submission_spec(data)
    assert (spec.id_column, spec.kind, spec.columns) == ("id", TAGS, ("tags",))
    assert spec.labels == frozenset(data.label_names)
    with pytest.raises(ValueError, match="shape"):
        COMP.format_submission(data, decided[:, :-1])


# --- bundled sample and recipes -----------------------------------------------------------------------------


def test_sample_regenerates_equal_and_depends_on_the_seed(tmp_path):
    COMP.write_sample(tmp_path / "a")
    for stem in STEMS:
        assert (tmp_path / "a" / f"{stem}.csv").read_bytes() == (COMP.sample_dir / f"{stem}.csv").read_bytes()
    COMP.write_sample(tmp_path / "b", seed=1)
    assert (tmp_path / "b" / "train.csv").read_bytes() != (COMP.sample_dir / "train.csv").read_bytes()


def test_recipes_name_their_heads_and_multilabel_folds():
    default, prior = load_recipe(COMP, "default"), load_recipe(COMP, "prior")
    assert default.head == "tfidf-ovr" and default.folds.scheme == "multilabel"
    assert prior.head == "prior"
    assert load_recipe(COMP, "default", ["data.min_tag_count=2"]).data == {"min_tag_count": 2}


@pytest.mark.realdata
def test_real_titles_load_as_export():
    data = COMP.load(shared_data("law"))
    assert data.y.shape == (3700, 584) and len(data.test) == 0 and data.sample_submission is None
    assert data.train["id"].iloc[-1] == "3700"
    assert data.label_names[int(data.y.sum(axis=0).argmax())] == "united-states"
    fewer = COMP.load(shared_data("law"), min_tag_count=5)
    assert fewer.y.shape[1] < 584 and fewer.y.sum(axis=0).min() >= 5


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int8, st.tuples(st.integers(1, 12), st.integers(1, 8)), elements=st.integers(0, 4)),
       st.integers(0, 2**16), st.lists(st.integers(0, 5), min_size=1, max_size=8))
def test_micro_f1_at_every_threshold_equals_deciding_then_scoring(levels, seed, cuts):
    scores = levels / 4.0  # few distinct values: ties within rows and at the thresholds
    y = (np.random.default_rng(seed).random(scores.shape) < 0.3).astype(np.float32)
    thresholds = np.array(sorted(c / 4.0 for c in cuts))
    expected = [micro_f1(y, TaggingDecision(float(t)).apply(scores)) for t in thresholds]
    np.testing.assert_array_equal(micro_f1_at(y, scores, thresholds), expected)

"""The wsdm and lmsys plugins: bundled samples, checks on bad input, LMSYS->WSDM conversion, submissions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from submit.competitions._preference import log_loss
from submit.competitions.lmsys import Lmsys
from submit.competitions.wsdm import Wsdm
from submit.kernel.checks import DataError
from submit.kernel.submissions import LABELS, PROBABILITIES

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CANONICAL = ["id", "prompt", "response_a", "response_b", "n_turns"]


def real_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data not found at {path} (it sits beside the repository, not in a fresh clone)")
    return path


@pytest.fixture
def lmsys_dir(tmp_path: Path) -> Path:
    """A writable copy of the bundled LMSYS sample, to spoil one file at a time."""
    return Path(shutil.copytree(Lmsys().sample_dir, tmp_path / "lmsys"))


@pytest.fixture
def wsdm_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(Wsdm().sample_dir, tmp_path / "wsdm"))


def assert_names(err: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(err.value)
    for part in parts:
        assert part in message, f"{part!r} not in error message:\n{message}"


# --- the bundled samples ------------------------------------------------------------------------------

def test_wsdm_sample_loads_in_canonical_columns():
    data = Wsdm().load(Wsdm().sample_dir)
    assert data.train.shape[0] == 600 and len(data.test) == 40
    assert list(data.train.columns) == [*CANONICAL, "language"]
    assert list(data.test.columns) == CANONICAL
    assert "model_a" not in data.train.columns and "winner" not in data.train.columns
    assert data.y.shape == (600, 2) and set(np.unique(data.y)) == {0.0, 1.0}
    assert (data.y.sum(axis=1) == 1).all()
    assert 0.3 < data.y[:, 0].mean() < 0.7
    assert (data.train["n_turns"] == 1).all()
    np.testing.assert_array_equal(data.stratify, data.y.argmax(axis=1))


def test_lmsys_sample_loads_in_canonical_columns():
    data = Lmsys().load(Lmsys().sample_dir)
    assert list(data.train.columns) == CANONICAL and list(data.test.columns) == CANONICAL
    assert data.y.shape == (600, 3) and (data.y.sum(axis=1) == 1).all()
    assert 0.15 < data.y[:, 2].mean() < 0.45  # ties, about as often as on Kaggle
    assert data.train["n_turns"].max() > 1
    multi = data.train[data.train["n_turns"] > 1].iloc[0]
    assert "\n\n" in multi["prompt"]


def test_groups_follow_the_prompt_text():
    data = Lmsys().load(Lmsys().sample_dir)
    groups = pd.Series(data.groups)
    # Same prompt -> same group, different prompts -> different groups.
    assert (groups.groupby(data.train["prompt"]).nunique() == 1).all()
    assert groups.nunique() == data.train["prompt"].nunique()


@pytest.mark.parametrize("competition", [Wsdm(), Lmsys()], ids=["wsdm", "lmsys"])
def test_sample_regenerates_equal_frames(competition, tmp_path: Path):
    competition.write_sample(tmp_path)
    again, bundled = competition.load(tmp_path), competition.load(competition.sample_dir)
    pd.testing.assert_frame_equal(again.train, bundled.train)
    pd.testing.assert_frame_equal(again.test, bundled.test)
    np.testing.assert_array_equal(again.y, bundled.y)
    for path in competition.sample_dir.iterdir():
        assert path.stat().st_size < 1_000_000, f"{path} is too big to bundle"


@pytest.mark.parametrize("competition", [Wsdm(), Lmsys()], ids=["wsdm", "lmsys"])
def test_limit_keeps_a_seeded_spread_subset(competition):
    full = competition.load(competition.sample_dir)
    part = competition.load(competition.sample_dir, limit=100)
    assert len(part.train) == 100 and len(part.y) == 100 and len(part.groups) == 100
    pd.testing.assert_frame_equal(part.train, competition.load(competition.sample_dir, limit=100).train)
    positions = full.train.reset_index().merge(part.train, on="id")["index"]
    assert positions.max() > 300, "limit must not just take the first rows"
    rows = full.train.set_index("id").loc[part.train["id"]].reset_index()
    pd.testing.assert_frame_equal(rows[part.train.columns], part.train)


# --- submissions --------------------------------------------------------------------------------------

def test_wsdm_submission_labels_by_argmax_in_test_order():
    competition = Wsdm()
    data = competition.load(competition.sample_dir)
    pred = np.tile([0.2, 0.8], (len(data.test), 1))
    pred[0] = [0.9, 0.1]
    sub = competition.format_submission(data, pred)
    assert list(sub.columns) == ["id", "winner"]
    assert list(sub["id"]) == list(data.test["id"])
    assert sub["winner"].iloc[0] == "model_a" and set(sub["winner"].iloc[1:]) == {"model_b"}
    spec = competition.submission_spec(data)
    assert spec.kind is LABELS and spec.labels == {"model_a", "model_b"}


def test_lmsys_submission_carries_probabilities():
    competition = Lmsys()
    data = competition.load(competition.sample_dir)
    pred = np.tile([0.5, 0.3, 0.2], (len(data.test), 1))
    sub = competition.format_submission(data, pred)
    assert list(sub.columns) == ["id", "winner_model_a", "winner_model_b", "winner_tie"]
    np.testing.assert_allclose(sub.iloc[:, 1:].to_numpy(), pred)
    assert competition.submission_spec(data).kind is PROBABILITIES
    with pytest.raises(ValueError, match="shape"):
        competition.format_submission(data, pred[:, :2])


def test_metrics_directions_and_clipping():
    assert Lmsys().metric.name == "log_loss" and not Lmsys().metric.higher_is_better
    assert Wsdm().metric.name == "accuracy" and Wsdm().metric.higher_is_better
    y = np.array([[1.0, 0.0, 0.0]])
    # A confident wrong answer costs -log(1e-15), not infinity, as on Kaggle.
    assert log_loss(y, np.array([[0.0, 1.0, 0.0]])) == pytest.approx(-np.log(1e-15), rel=1e-6)
    assert log_loss(y, np.array([[1 / 3] * 3])) == pytest.approx(np.log(3))


# --- bad input ----------------------------------------------------------------------------------------

def rewrite_csv(path: Path, change) -> None:
    """Read a CSV as text, let `change` edit the frame (or return a new one), write it back."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    changed = change(frame)
    (frame if changed is None else changed).to_csv(path, index=False)


def test_lmsys_missing_column(lmsys_dir: Path):
    rewrite_csv(lmsys_dir / "train.csv", lambda f: f.drop(columns="response_b"))
    with pytest.raises(DataError) as err:
        Lmsys().load(lmsys_dir)
    assert_names(err, "train.csv", "missing column", "response_b")


@pytest.mark.parametrize("file, row, cells, expected", [
    ("train.csv", 4, {"winner_model_a": "1", "winner_model_b": "1", "winner_tie": "0"},
     ("winner_model_a", "row 5", "exactly one")),
    ("train.csv", 0, {"winner_tie": "yes"}, ("winner_tie", "row 1", "'yes'")),
    ("train.csv", 2, {"response_a": "just some text"}, ("response_a", "row 3", "JSON list")),
    ("test.csv", 0, {"prompt": json.dumps(["fine", 42])}, ("prompt", "row 1")),  # a turn that is not a string
    ("train.csv", 6, {"prompt": ""}, ("prompt", "row 7", "empty text")),
], ids=["two-winner-flags", "flag-of-wrong-type", "cell-not-a-json-list", "turn-not-a-string", "empty-text"])
def test_lmsys_bad_cell_is_named(lmsys_dir: Path, file, row, cells, expected):
    def spoil(frame):
        frame.loc[row, list(cells)] = list(cells.values())
    rewrite_csv(lmsys_dir / file, spoil)
    with pytest.raises(DataError) as err:
        Lmsys().load(lmsys_dir)
    assert_names(err, file, *expected)


def test_lmsys_null_turns_read_as_empty(lmsys_dir: Path):
    def spoil(frame):
        frame.loc[0, "response_a"] = json.dumps(["first", None])
        frame.loc[0, "prompt"] = json.dumps(["q1", "q2"])
    rewrite_csv(lmsys_dir / "train.csv", spoil)
    data = Lmsys().load(lmsys_dir)
    assert data.train["response_a"].iloc[0] == "first\n\n" and data.train["n_turns"].iloc[0] == 2


def test_lmsys_duplicate_id(lmsys_dir: Path):
    def spoil(frame):
        frame.loc[1, "id"] = frame.loc[0, "id"]
    rewrite_csv(lmsys_dir / "train.csv", spoil)
    with pytest.raises(DataError) as err:
        Lmsys().load(lmsys_dir)
    assert_names(err, "train.csv", "column 'id'", "duplicate id", "rows 1 and 2")


def test_lmsys_non_utf8_bytes(lmsys_dir: Path):
    path = lmsys_dir / "test.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"[", b"[\xff", 1)
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as err:
        Lmsys().load(lmsys_dir)
    assert_names(err, "test.csv", "line 4", "UTF-8")


def test_lmsys_test_id_missing_from_sample_submission(lmsys_dir: Path):
    rewrite_csv(lmsys_dir / "sample_submission.csv", lambda f: f.drop(index=5))
    with pytest.raises(DataError) as err:
        Lmsys().load(lmsys_dir)
    assert_names(err, "test.csv", "column 'id'", "row 6", "sample_submission.csv")


def test_wsdm_winner_of_wrong_type(wsdm_dir: Path):
    frame = pd.read_parquet(wsdm_dir / "train.parquet")
    frame["winner"] = (frame["winner"] == "model_b").astype(int)  # 0/1 instead of the label names
    frame.to_parquet(wsdm_dir / "train.parquet", index=False)
    with pytest.raises(DataError) as err:
        Wsdm().load(wsdm_dir)
    assert_names(err, "train.parquet", "winner", "row 1", "model_a, model_b")


def test_wsdm_empty_prompt_in_csv_layout(wsdm_dir: Path):
    frame = pd.read_parquet(wsdm_dir / "train.parquet")
    frame.loc[9, "prompt"] = ""
    (wsdm_dir / "train.parquet").unlink()
    frame.to_csv(wsdm_dir / "train.csv", index=False)  # any table may be CSV too
    with pytest.raises(DataError) as err:
        Wsdm().load(wsdm_dir)
    assert_names(err, "train.csv", "prompt", "row 10", "empty text")


def test_wsdm_missing_train_suggests_extra_train(wsdm_dir: Path):
    (wsdm_dir / "train.parquet").unlink()
    with pytest.raises(DataError) as err:
        Wsdm().load(wsdm_dir)
    assert_names(err, "train", "file not found", "extra_train")


def test_wsdm_test_id_missing_from_sample_submission(wsdm_dir: Path):
    sample = pd.read_csv(wsdm_dir / "sample_submission.csv", dtype=str)
    sample.drop(index=0).to_csv(wsdm_dir / "sample_submission.csv", index=False)
    with pytest.raises(DataError) as err:
        Wsdm().load(wsdm_dir)
    assert_names(err, "test.parquet", "column 'id'", "row 1", "sample_submission.csv")


# --- LMSYS rows as WSDM training rows -----------------------------------------------------------------

def test_extra_train_appends_lmsys_rows_without_ties(wsdm_dir: Path):
    lmsys = Lmsys().load(Lmsys().sample_dir)
    n_decided = int((lmsys.y[:, 2] == 0).sum())
    (wsdm_dir / "train.parquet").unlink()
    only_extra = Wsdm().load(wsdm_dir, extra_train=str(Lmsys().sample_dir))
    assert len(only_extra.train) == n_decided < len(lmsys.train)
    assert only_extra.y.shape == (n_decided, 2)
    # The winner carries over: every converted row's label matches its LMSYS flags.
    by_id = dict(zip(lmsys.train["id"], lmsys.y.argmax(axis=1), strict=True))
    converted = [by_id[i.removeprefix("lmsys-")] for i in only_extra.train["id"]]
    np.testing.assert_array_equal(converted, only_extra.y.argmax(axis=1))
    assert only_extra.train["n_turns"].max() > 1  # turns joined, as in the LMSYS loader

    both = Wsdm().load(Wsdm().sample_dir, extra_train=str(Lmsys().sample_dir))
    assert len(both.train) == 600 + n_decided
    assert both.train["language"].iloc[600:].eq("unknown").all()


def test_real_lmsys_loads():
    data = Lmsys().load(real_data("lmsys"))
    assert data.y.shape == (len(data.train), 3) and len(data.train) > 1000
    assert (data.y.sum(axis=1) == 1).all() and len(data.test) >= 1


def test_real_wsdm_with_lmsys_rows():
    data = Wsdm().load(real_data("wsdm"), extra_train=str(real_data("lmsys")))
    assert data.y.shape == (len(data.train), 2) and len(data.train) > 500
    assert len(data.test) >= 1 and list(data.test.columns)[:5] == CANONICAL


def test_extra_train_ids_that_collide_with_train_are_refused(wsdm_dir: Path):
    lmsys = Lmsys().load(Lmsys().sample_dir)
    decided_id = lmsys.train["id"][lmsys.y[:, 2] == 0].iloc[0]
    train = pd.read_parquet(wsdm_dir / "train.parquet")
    train.loc[0, "id"] = f"lmsys-{decided_id}"
    train.to_parquet(wsdm_dir / "train.parquet")
    with pytest.raises(DataError) as err:
        Wsdm().load(wsdm_dir, extra_train=str(Lmsys().sample_dir))
    assert_names(err, "train.parquet", "column 'id'", f"duplicate id 'lmsys-{decided_id}'", "rows 1 and",
                 "after appending the extra training rows")

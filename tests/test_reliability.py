"""What a new user meets when something is wrong: every case one row of one table, ending the same way.

Each row runs a `submit` command on the bundled samples (or a copy of one finished experiment) after its
setup has broken something, and asserts: the exit code; a message naming the file, column, row or setting
and what was expected; no submission written; the store still readable; and no traceback, anywhere.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
import sqlite3
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from submit.cv.store import Store
from submit.kernel.plugins import get_competition
from typer.testing import CliRunner

from submit.cli import app

runner = CliRunner()
OUTPUTS: list[str] = []  # every row's output, for the one Traceback count at the end
QUICK = ["--recipe", "longer-wins"]  # a head that fits at once: the rows are about what goes wrong around it


def submit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    text = result.stdout + result.stderr
    OUTPUTS.append(text)
    return result.exit_code, text


# --- setups: each gets the row's folder and returns nothing; `data` is a copy of a bundled sample ----------

def sample_copy(tmp: Path, competition: str) -> Path:
    data = tmp / "data"
    shutil.copytree(get_competition(competition).sample_dir, data)
    return data


def edit_table(name: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / "data" / name
        read = pd.read_parquet if path.suffix == ".parquet" else lambda p: pd.read_csv(p, dtype=str,
                                                                                         keep_default_na=False)
        frame = change(read(path))
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    return setup


def set_cell(row: int, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.at[row, column] = value
        return frame
    return change


def folder(tmp: Path) -> None:
    (tmp / "a-folder").mkdir()


def read_only_folder(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp / "locked").mkdir()
    (tmp / "locked").chmod(0o555)
    if os.geteuid() == 0:  # root writes through permission bits: the OS's refusal is simulated instead
        real = os.open

        def refuse(path, flags, *args, **kwargs):
            if str(path).startswith(str(tmp / "locked")) and flags & os.O_CREAT:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path, flags, *args, **kwargs)
        monkeypatch.setattr(os, "open", refuse)


def disk_full_at_fold(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.write_bytes

    def full(path: Path, data: bytes) -> int:  # the driver writing a finished fold's result.npz
        if "result.npz" in path.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)
    monkeypatch.setattr(Path, "write_bytes", full)


class _FullConnection:
    """A SQLite connection whose inserts fail as on a full disk."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __getattr__(self, name: str):
        return getattr(self.con, name)

    def __enter__(self):
        self.con.__enter__()
        return self

    def __exit__(self, *exc):
        return self.con.__exit__(*exc)

    def execute(self, sql: str, *args):
        if sql.lstrip().upper().startswith("INSERT"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.con.execute(sql, *args)


def disk_full_in_store(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Store._connect
    monkeypatch.setattr(Store, "_connect", lambda self: _FullConnection(real(self)))


def experiment_file(name: str, damage: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (exp,) = [p for p in (tmp / "runs" / "wsdm").iterdir() if (p / "scores.json").exists()]
        damage(exp / name)
    return setup


def truncate(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(50)


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not what was written\n" * 40)


def upper_case_train(tmp: Path) -> None:
    (tmp / "data" / "train.csv").rename(tmp / "data" / "Train.csv")


def train_twice(tmp: Path) -> None:
    """train.parquet beside train.csv, holding other rows: which one is meant cannot be guessed."""
    frame = pd.read_csv(tmp / "data" / "train.csv", dtype=str, keep_default_na=False)
    frame.iloc[:50].to_parquet(tmp / "data" / "train.parquet", index=False)


def parquet_named_csv(tmp: Path) -> None:
    path = tmp / "data" / "train.csv"
    pd.read_csv(path, dtype=str, keep_default_na=False).to_parquet(path, index=False)


def dict_cell_jsonl(tmp: Path) -> None:
    """train.jsonl in place of train.csv, row 3's title a JSON object."""
    path = tmp / "data" / "train.csv"
    rows = pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
    rows[2]["title"] = {"en": rows[2]["title"]}
    path.unlink()
    path.with_suffix(".jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def hansol_511_columns(tmp: Path) -> None:
    path = tmp / "data" / "sample_submission.csv"
    pd.read_csv(path).drop(columns="vec_511").to_csv(path, index=False)


def submission_file(competition: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    """{tmp}/sub.csv: the competition's sample submission (a valid file) changed."""
    def setup(tmp: Path) -> None:
        sample = pd.read_csv(get_competition(competition).sample_dir / "sample_submission.csv", dtype=str)
        change(sample).to_csv(tmp / "sub.csv", index=False)
    return setup


def swap_columns(a: str, b: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        columns = list(frame.columns)
        i, j = columns.index(a), columns.index(b)
        columns[i], columns[j] = columns[j], columns[i]
        return frame[columns]
    return change


def vector_row(row: int, value: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.iloc[:, 1:] = "0.1"  # the sample's vectors are all zero: give every row a direction first
        frame.iloc[row, 1:] = str(value)
        return frame
    return change


def extra_sample_id(tmp: Path) -> None:
    path = tmp / "data" / "sample_submission.csv"
    frame = pd.read_csv(path, dtype=str)
    pd.concat([frame, frame.tail(1).assign(id="not-a-test-id")]).to_csv(path, index=False)


# --- the table ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # {data}, {runs}, {tmp} are filled in
    code: int
    words: tuple[str, ...]  # all in the output: the file / column / row / setting, and what was expected
    data: str | None = None  # a copy of this competition's bundled sample in {data}
    setup: Callable | None = None  # (tmp) or (tmp, monkeypatch)
    experiment: bool = False  # {runs} starts as a copy of one finished WSDM experiment
    absent: str | None = None  # a path that must not exist after: no work started, nothing created
    extra: str | None = None  # the optional install the command needs (EXTRAS); skipped, saying so, without it


# extra -> the modules it brings that the cases use
EXTRAS = {"llm": ("torch", "transformers", "peft", "accelerate")}


def missing_extra(extra: str | None) -> str | None:
    """Why a case cannot run here: the extra it needs is not installed; None when it can."""
    absent = [m for m in EXTRAS.get(extra, ()) if importlib.util.find_spec(m) is None]
    return f"needs the {extra} extra (pip install -e '.[{extra}]'); missing: {', '.join(absent)}" if absent else None


RUN = ("run", "wsdm", "--runs", "{runs}")
LGBM = ("--recipe", "lgbm")  # LightGBM's parameters: the default before the linear head
CASES = {
    # user errors that ended in a traceback
    "empty train wsdm": Case(("run", "wsdm", "--data", "{data}", "--runs", "{runs}", *QUICK), 2,
                             ("train.parquet", "0 data rows", "at least 1 row"), "wsdm",
                             edit_table("train.parquet", lambda f: f.iloc[:0])),
    "empty train lmsys": Case(("run", "lmsys", "--data", "{data}", "--runs", "{runs}", *QUICK), 2,
                              ("train.csv", "0 data rows"), "lmsys", edit_table("train.csv", lambda f: f.iloc[:0])),
    "empty train hansol": Case(("run", "hansol", "--data", "{data}", "--runs", "{runs}", "--recipe", "prior"), 2,
                               ("train.csv", "0 data rows"), "hansol", edit_table("train.csv", lambda f: f.iloc[:0])),
    "n_estimators null": Case((*RUN, *LGBM, "--set", "params.n_estimators=null"), 2,
                              ("params.n_estimators", "null", "expected a value")),
    "learning_rate -1": Case((*RUN, *LGBM, "--set", "params.learning_rate=-1"), 2,
                             ("params.learning_rate", "-1", "expected a number above 0")),
    "n_splits above rows": Case((*RUN, *QUICK, "--set", "folds.n_splits=10000"), 2,
                                ("folds.n_splits=10000", "600 training rows", "train.parquet", "at most")),
    "scheme bogus": Case((*RUN, "--set", "folds.scheme=bogus"), 2, ("folds.scheme", "'bogus'", "grouped"),
                         absent="{runs}/wsdm"),
    "seed -1": Case((*RUN, "--set", "folds.seed=-1"), 2, ("folds.seed", "-1", "[0, 4294967295]")),
    "folds not a section": Case((*RUN, "--set", "folds=3"), 2, ("folds is 3", "section")),
    "params not a section": Case((*RUN, "--set", "params=5"), 2, ("params is 5", "section")),
    "limit not a number": Case((*RUN, "--set", "data.limit=abc"), 2, ("data.limit", "'abc'", "expected an int")),
    "validate a folder": Case(("validate", "wsdm", "{tmp}/a-folder"), 2, ("a-folder", "is a folder", "submission"),
                              setup=folder),
    "output a folder": Case((*RUN, *QUICK, "--output", "{tmp}/a-folder"), 2, ("a-folder", "is a folder"),
                            setup=folder, absent="{runs}/wsdm"),
    "output read-only": Case((*RUN, *QUICK, "--output", "{tmp}/locked/sub.csv"), 2,
                             ("locked/sub.csv", "permission denied", "--output"), setup=read_only_folder,
                             absent="{runs}/wsdm"),
    "disk full at a fold": Case((*RUN, *QUICK), 2, ("result.npz", "no space left", "run the same command again"),
                                setup=disk_full_at_fold),
    "disk full in the store": Case((*RUN, *QUICK), 2, ("leaderboard.sqlite", "disk is full", "free some space"),
                                   setup=disk_full_in_store),
    "llm max_length below the template": Case(
        ("run", "lmsys", "--runs", "{runs}", "--recipe", "smollm2-qlora", "--set", "params.model=tiny-llama",
         "--set", "params.quantization=full", "--set", "params.max_length=64", "--set", "params.max_steps=2",
         "--set", "folds.n_splits=2"), 2, ("max_length=64", "chat template", "raise max_length"), extra="llm"),
    # bad input accepted or found too late
    "list cell hansol": Case(("run", "hansol", "--data", "{data}", "--runs", "{runs}", "--recipe", "prior"), 2,
                             ("test.parquet", "column '질문'", "row 1", "list cell", "not a list"), "hansol",
                             lambda tmp: _to_parquet_with_list(tmp, "test", "질문")),
    "list cell law-tags title": Case(("run", "law-tags", "--data", "{data}", "--runs", "{runs}", *("--recipe",
                                      "prior")), 2, ("train.parquet", "column 'title'", "row 1", "list cell"),
                                     "law-tags", lambda tmp: _to_parquet_with_list(tmp, "train", "title")),
    "blank prompt wsdm": Case(("run", "wsdm", "--data", "{data}", "--runs", "{runs}", *QUICK), 2,
                              ("train.parquet", "column 'prompt'", "row 4", "empty text"), "wsdm",
                              edit_table("train.parquet", set_cell(3, "prompt", "  \n\t "))),
    "blank title law-tags": Case(("run", "law-tags", "--data", "{data}", "--runs", "{runs}", "--recipe", "prior"), 2,
                                 ("train.csv", "column 'title'", "row 5", "empty text"), "law-tags",
                                 edit_table("train.csv", set_cell(4, "title", "   "))),
    "sample with an extra id": Case(("run", "wsdm", "--data", "{data}", "--runs", "{runs}", *QUICK), 2,
                                    ("sample_submission.csv", "'not-a-test-id'", "test.parquet", "same ids"), "wsdm",
                                    extra_sample_id, absent="{runs}/wsdm"),
    "hansol sample 511 wide": Case(("run", "hansol", "--data", "{data}", "--runs", "{runs}", "--recipe", "prior"), 2,
                                   ("sample_submission.csv", "511 columns", "vec_511", "512"), "hansol",
                                   hansol_511_columns, absent="{runs}/hansol"),
    "validate reordered vectors": Case(("validate", "hansol", "{tmp}/sub.csv"), 2,
                                       ("sub.csv", "column 2 is 'vec_1'", "expected 'vec_0'", "by position"),
                                       setup=submission_file("hansol", lambda f: swap_columns("vec_0", "vec_1")(
                                           vector_row(0, 0.1)(f)))),
    "validate reordered probabilities": Case(("validate", "lmsys", "{tmp}/sub.csv"), 0,
                                             ("warning: columns in another order", "winner_model_b", "by name",
                                              "valid lmsys submission"),
                                             setup=submission_file("lmsys", swap_columns("winner_model_a",
                                                                                         "winner_model_b"))),
    "validate a zero vector": Case(("validate", "hansol", "{tmp}/sub.csv"), 2,
                                   ("sub.csv", "zero vectors", "no cosine", "row 3"),
                                   setup=submission_file("hansol", vector_row(2, 0))),
    "validate a 1e308 vector": Case(("validate", "hansol", "{tmp}/sub.csv"), 2,
                                    ("sub.csv", "too long to normalise", "row 2"),
                                    setup=submission_file("hansol", vector_row(1, 1e308))),
    "law-tags train.csv and train.parquet": Case(("run", "law-tags", "--data", "{data}", "--runs", "{runs}"), 2,
                                                 ("two candidate files", "train.csv and train.parquet"), "law-tags",
                                                 train_twice, absent="{runs}/law-tags"),
    "law-tags Parquet named .csv": Case(("run", "law-tags", "--data", "{data}", "--runs", "{runs}"), 2,
                                        ("train.csv", "a Parquet file named .csv", "train.parquet"), "law-tags",
                                        parquet_named_csv, absent="{runs}/law-tags"),
    "law-tags dict cell": Case(("run", "law-tags", "--data", "{data}", "--runs", "{runs}"), 2,
                               ("train.jsonl", "column 'title'", "row 3", "a dict (JSON object) cell"), "law-tags",
                               dict_cell_jsonl, absent="{runs}/law-tags"),
    "law-tags Train.csv": Case(("run", "law-tags", "--data", "{data}", "--runs", "{runs}"), 2,
                               ("Train.csv", "case-sensitive", "train.csv"), "law-tags", upper_case_train),
    # corrupt artifacts
    "truncated result.npz": Case((*RUN, *LGBM, "--set", "params.n_estimators=40", "--set", "params.encoder=null"), 0,
                                 ("fold 0: result.npz", "refitted", "4 finished fold(s) reused"),
                                 setup=experiment_file("folds/0/result.npz", truncate), experiment=True),
    "edited model.txt": Case(("predict", "wsdm", "-e", "{experiment}", "--runs", "{runs}"), 2,
                             ("folds/1", "model/model.txt", "checksum differs", "run the experiment again"),
                             setup=experiment_file("folds/1/model/model.txt", garbage), experiment=True),
    "garbage scores.json": Case(("predict", "wsdm", "-e", "{experiment}", "--runs", "{runs}"), 2,
                                ("scores.json", "damaged", "submit wsdm --recipe lgbm"),
                                setup=experiment_file("scores.json", garbage), experiment=True),
    "scores.json without decision": Case(("predict", "wsdm", "-e", "{experiment}", "--runs", "{runs}"), 2,
                                         ("scores.json", "decision", "run the experiment again"),
                                         setup=experiment_file("scores.json", lambda p: p.write_text("{}")),
                                         experiment=True),
    "truncated oof.parquet": Case(("ensemble", "wsdm", "--runs", "{runs}"), 2,
                                  ("oof.parquet", "damaged", "run the experiment again"),
                                  setup=experiment_file("oof.parquet", truncate), experiment=True),
    "garbage store, leaderboard": Case(("leaderboard", "wsdm", "--runs", "{runs}"), 2,
                                       ("leaderboard.sqlite", "damaged", "submit leaderboard wsdm --rebuild"),
                                       setup=lambda tmp: garbage(tmp / "runs" / "leaderboard.sqlite"), experiment=True),
    "truncated store, run": Case((*RUN, *QUICK), 2, ("leaderboard.sqlite", "damaged", "--rebuild"),
                                 setup=lambda tmp: truncate(tmp / "runs" / "leaderboard.sqlite"), experiment=True),
    "0-byte store, run": Case((*RUN, *QUICK), 2, ("leaderboard.sqlite", "damaged", "0 bytes",
                                                  "submit leaderboard wsdm --rebuild"),
                              setup=lambda tmp: (tmp / "runs" / "leaderboard.sqlite").write_bytes(b""),
                              experiment=True),
    # usability
    "leaderboard of a missing runs folder": Case(("leaderboard", "wsdm", "--runs", "{tmp}/missing"), 1,
                                                 ("No experiments for wsdm",), absent="{tmp}/missing"),
    "unknown competition": Case(("leaderboard", "nosuchcomp", "--runs", "{runs}"), 2,
                                ("unknown competition 'nosuchcomp'", "law-tags", "lmsys", "wsdm")),
    "plot without sync": Case(("leaderboard", "wsdm", "--runs", "{runs}", "--plot", "{tmp}/cv.png"), 0,
                              ("Plot written", "cv.png"), experiment=True),
}


def _to_parquet_with_list(tmp: Path, stem: str, column: str) -> None:
    """The table as Parquet with `column` a list column (row 2 holding two parts), as a host's file may be."""
    path = tmp / "data" / f"{stem}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame[column] = [[text] for text in frame[column]]
    frame.at[1, column] = ["first part", "second part"]
    path.unlink()
    frame.to_parquet(path.with_suffix(".parquet"), index=False)


def _submissions(*folders: Path) -> set[Path]:
    return {p for f in folders if f.exists() for p in f.rglob("submission*.csv")}


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_ends_in_a_clear_message_and_nothing_half_written(name, tmp_path, wsdm_experiment, monkeypatch):
    case = CASES[name]
    if missing_extra(case.extra):
        OUTPUTS.append("")  # the row is counted as run without output: no traceback
        pytest.skip(missing_extra(case.extra))
    runs = tmp_path / "runs"
    experiment = ""
    if case.experiment:
        shutil.copytree(wsdm_experiment[0], runs)
        experiment = wsdm_experiment[1]
    if case.data:
        sample_copy(tmp_path, case.data)
    if case.setup is not None:
        takes_monkeypatch = case.setup.__code__.co_argcount == 2
        case.setup(tmp_path, monkeypatch) if takes_monkeypatch else case.setup(tmp_path)
    before = _submissions(runs, tmp_path)
    args = [a.format(data=tmp_path / "data", runs=runs, tmp=tmp_path, experiment=experiment) for a in case.args]

    code, text = submit(*args)
    monkeypatch.undo()

    assert code == case.code, text
    if case.absent:
        assert not Path(case.absent.format(runs=runs, tmp=tmp_path)).exists()
    for word in case.words:
        assert word in text, f"{word!r} not in:\n{text}"
    assert "Traceback" not in text
    if case.code != 0:
        assert _submissions(runs, tmp_path) == before  # none written, none changed
        assert not list(tmp_path.rglob("*.tmp"))
    store = runs / "leaderboard.sqlite"
    if "store" in name:
        assert "--rebuild" in text or "disk is full" in text
        submit("leaderboard", "wsdm", "--runs", runs, "--rebuild")
    Store(store, read_only=True).leaderboard("wsdm")  # readable (again)


def test_no_case_printed_a_traceback():
    """`grep -c Traceback` over every row's output: 0 (runs after the table; pytest keeps file order)."""
    assert len(OUTPUTS) >= len(CASES)
    assert sum(text.count("Traceback") for text in OUTPUTS) == 0


def test_a_case_needing_a_missing_extra_is_skipped_saying_which(monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # as on the core install
    assert missing_extra("llm") == "needs the llm extra (pip install -e '.[llm]'); missing: peft"
    assert missing_extra(None) is None


# --- what the table's rows cannot show alone ------------------------------------------------------------

def test_a_damaged_fold_is_refitted_alone_and_gives_the_same_cv(tmp_path, wsdm_experiment):
    runs = tmp_path / "runs"
    shutil.copytree(wsdm_experiment[0], runs)
    exp = runs / "wsdm" / wsdm_experiment[1]
    before = json.loads((exp / "scores.json").read_text())
    stamps = {k: (exp / "folds" / str(k) / "result.npz").stat().st_mtime_ns for k in range(5)}
    truncate(exp / "folds" / "2" / "result.npz")  # `truncate -s 50`
    code, text = submit("run", "wsdm", "--runs", runs, *LGBM, "--set", "params.n_estimators=40", "--set",
                        "params.encoder=null")
    assert code == 0 and "fold 2: result.npz is not as written" in text and "4 finished fold(s) reused" in text
    after = json.loads((exp / "scores.json").read_text())
    assert after["cv_mean"] == before["cv_mean"] and after["fold_scores"] == before["fold_scores"]
    assert {k for k in range(5) if (exp / "folds" / str(k) / "result.npz").stat().st_mtime_ns != stamps[k]} == {2}


def test_rebuild_restores_every_experiment_from_the_folders(tmp_path, wsdm_ensembles):
    runs = tmp_path / "runs"
    shutil.copytree(wsdm_ensembles[0], runs)
    store = runs / "leaderboard.sqlite"
    board = Store(store, read_only=True).leaderboard("wsdm")
    members = {e: Store(store, read_only=True).ensemble_members(e) for e in wsdm_ensembles[1].values()}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    garbage(store)
    assert submit("leaderboard", "wsdm", "--runs", runs)[0] == 2

    code, text = submit("leaderboard", "wsdm", "--runs", runs, "--rebuild", "--format", "json")
    assert code == 0 and f"from {len(board)} experiment folder(s)" in text
    rebuilt = Store(store, read_only=True).leaderboard("wsdm")
    keep = ("id", "kind", "recipe", "head", "cv_mean", "cv_std", "fold_scores", "other_scores", "n_train",
            "fingerprint", "folds_id", "created")
    assert [{k: r[k] for k in keep} for r in rebuilt] == [{k: r[k] for k in keep} for r in board]
    assert {e: Store(store, read_only=True).ensemble_members(e) for e in members} == members
    assert list(runs.glob("leaderboard.sqlite.*.old"))  # the damaged file is kept aside, not deleted


UPLOAD_KEYS = ("experiment_id", "competition", "path", "created", "message", "public_score", "private_score",
               "host_ref", "status")


def _uploads(store: Path) -> list[dict]:
    """Every upload row of a store (Kaggle's with a host ref, Dacon's with a status only), oldest first."""
    with sqlite3.connect(store) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute("SELECT * FROM submissions WHERE host_ref IS NOT NULL OR status IS NOT NULL ORDER BY id")
        return [{k: r[k] for k in UPLOAD_KEYS} for r in rows]


@pytest.mark.parametrize("loss", ["deleted", "damaged"])
def test_rebuild_recovers_the_uploads_from_the_experiment_folders(tmp_path, wsdm_experiment, loss):
    runs, exp_id = tmp_path / "runs", wsdm_experiment[1]
    shutil.copytree(wsdm_experiment[0], runs)
    path = runs / "leaderboard.sqlite"
    store, sub = Store(path), runs / "wsdm" / exp_id / "submission.csv"
    store.record_submission(exp_id, "wsdm", sub, None, "first", host_ref="1001", status="pending")
    store.record_submission(exp_id, "wsdm", sub, None, "dacon-like", status="submitted")  # no host ref
    store.update_submission("wsdm", "1001", "complete", 0.61, 0.58)  # the host's verdict, later
    store.record_submission(exp_id, "wsdm", sub, None)  # a submission file written, never uploaded
    uploads = _uploads(path)
    assert len(uploads) == 2 and uploads[0]["public_score"] == 0.61
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if loss == "damaged":
        garbage(path)

    code, text = submit("leaderboard", "wsdm", "--runs", runs, "--rebuild")
    assert code == 0 and "Rebuilt" in text
    assert _uploads(path) == uploads
    [row] = [r for r in Store(path, read_only=True).leaderboard("wsdm") if r["id"] == exp_id]
    assert (row["public_score"], row["private_score"]) == (0.61, 0.58)


def test_rebuild_keeps_the_old_stores_uploads_that_no_folder_holds_once(tmp_path, wsdm_experiment):
    """Uploads recorded before the folders kept them come from the old store when it reads; none twice."""
    runs, exp_id = tmp_path / "runs", wsdm_experiment[1]
    shutil.copytree(wsdm_experiment[0], runs)
    path = runs / "leaderboard.sqlite"
    store, sub = Store(path), runs / "wsdm" / exp_id / "submission.csv"
    store.record_submission(exp_id, "wsdm", sub, None, "old", host_ref="7", status="complete")
    shutil.rmtree(runs / "wsdm" / exp_id / "uploads")  # as an older version left it
    store.record_submission(exp_id, "wsdm", sub, None, "new", host_ref="8", status="pending")
    uploads = _uploads(path)

    assert submit("leaderboard", "wsdm", "--runs", runs, "--rebuild")[0] == 0
    by_ref = sorted(_uploads(path), key=lambda u: u["host_ref"])  # made in one second: either order is right
    assert by_ref == uploads


def test_rebuild_refuses_a_copied_folder_whose_name_is_not_its_id(tmp_path, wsdm_experiment):
    runs = tmp_path / "runs"
    shutil.copytree(wsdm_experiment[0], runs)
    original = runs / "wsdm" / wsdm_experiment[1]
    shutil.copytree(original, runs / "wsdm" / "my-copy")
    code, text = submit("leaderboard", "wsdm", "--runs", runs, "--rebuild")
    assert code == 0 and "my-copy" in text and f"is experiment {wsdm_experiment[1]}" in text
    assert "from 1 experiment folder(s)" in text
    assert Store(runs / "leaderboard.sqlite", read_only=True).experiment(wsdm_experiment[1])["path"] == str(original)


def test_reading_commands_work_in_a_read_only_runs_folder_and_create_nothing(tmp_path, wsdm_experiment):
    runs = tmp_path / "runs"
    shutil.copytree(wsdm_experiment[0], runs)
    for path in [runs, *runs.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    listing = sorted(map(str, runs.rglob("*")))
    try:
        code, text = submit("leaderboard", "wsdm", "--runs", runs)
        assert code == 0 and wsdm_experiment[1] in text
        assert sorted(map(str, runs.rglob("*"))) == listing
    finally:
        for path in [runs, *runs.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_atomic_writes_respect_the_umask_and_clean_what_a_killed_writer_left(tmp_path):
    from submit.cv.io import atomic_write_text

    dead = tmp_path / ".scores.json.2147483646-0badcafe.tmp"  # no process has this pid
    live = tmp_path / f".scores.json.{os.getpid()}-0badcafe.tmp"  # a writer still at work
    old = tmp_path / ".scores.json.k2j3h4g5.tmp"  # the naming of earlier versions: no pid
    for path in (dead, live, old):
        path.write_text("half")
    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "scores.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "scores.json").stat().st_mode & 0o777 == 0o644
    assert not dead.exists() and not old.exists() and live.exists()


def test_the_help_lists_its_examples_one_per_line():
    code, text = submit("--help")
    assert code == 0
    lines = [line.strip() for line in text.splitlines()]
    assert "submit leaderboard lmsys --format markdown" in lines and "submit list" in lines


def test_the_leaderboard_never_cuts_an_experiment_id(tmp_path, wsdm_ensembles):
    from rich.console import Console

    from submit.leaderboard import rich_table

    rows = Store(wsdm_ensembles[0] / "leaderboard.sqlite", read_only=True).leaderboard("wsdm")
    for width in (60, 80, 200):
        console = Console(width=width, record=True)
        console.print(rich_table(rows, "wsdm", width))
        text = console.export_text()
        assert all(r["id"] in text for r in rows) and "…" not in text
        assert max(map(len, text.splitlines())) <= width


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    exe = Path(sys.executable).with_name("submit")
    slow = [*LGBM, "--set", "params.encoder=null", "--set", "params.early_stopping_rounds=0", "--set",
            "params.n_estimators=5000"]
    proc = subprocess.Popen([exe, "lmsys", "--runs", str(tmp_path), *slow], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("lmsys/*/log.txt")) and time.monotonic() < deadline:  # the folds have begun
        assert proc.poll() is None, "the run ended before its folds began"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "interrupted: finished folds are kept" in err and "Traceback" not in err + out


def test_a_damaged_cache_file_is_removed_and_made_again(tmp_path):
    from submit.models.cache import cached_json, using_cache_dir

    with using_cache_dir(tmp_path):
        assert cached_json("lengths", ["a"], lambda items: [len(i) for i in items]) == [1]
        for suffix in ("-wal", "-shm"):
            Path(f"{tmp_path / 'lengths.sqlite'}{suffix}").unlink(missing_ok=True)
        garbage(tmp_path / "lengths.sqlite")
        with pytest.warns(UserWarning, match="lengths.sqlite was damaged"):
            assert cached_json("lengths", ["a", "bb"], lambda items: [len(i) for i in items]) == [1, 2]
        assert cached_json("lengths", ["bb"], lambda items: pytest.fail("computed again")) == [2]


def test_list_cells_are_read_as_the_host_means_them(tmp_path):
    """Parquet list cells: chat turns joined by a blank line and counted (wsdm, lmsys), tags joined (law-tags);
    never the text of their printed form."""
    wsdm = sample_copy(tmp_path / "wsdm", "wsdm")
    train = pd.read_parquet(wsdm / "train.parquet")
    for column in ("prompt", "response_a", "response_b"):
        train[column] = [[text, f"{column} turn two"] for text in train[column]]
    train.to_parquet(wsdm / "train.parquet", index=False)
    loaded = get_competition("wsdm").load(wsdm).train
    assert loaded["prompt"].iloc[0].endswith("\n\nprompt turn two") and (loaded["n_turns"] == 2).all()
    assert not loaded["response_a"].str.contains(r"\['").any()

    lmsys = sample_copy(tmp_path / "lmsys", "lmsys")
    test = pd.read_csv(lmsys / "test.csv", dtype=str)
    for column in ("prompt", "response_a", "response_b"):
        test[column] = [json.loads(cell) for cell in test[column]]
    test.to_parquet(lmsys / "test.parquet", index=False)
    (lmsys / "test.csv").unlink()
    as_lists = get_competition("lmsys").load(lmsys).test
    assert as_lists.equals(get_competition("lmsys").load(get_competition("lmsys").sample_dir).test)

    law = sample_copy(tmp_path / "law", "law-tags")
    train = pd.read_csv(law / "train.csv", dtype=str, keep_default_na=False)
    train["tags"] = [cell.split() for cell in train["tags"]]
    train.to_parquet(law / "train.parquet", index=False)
    (law / "train.csv").unlink()
    assert get_competition("law-tags").load(law).label_names == \
        get_competition("law-tags").load(get_competition("law-tags").sample_dir).label_names


def test_runs_making_the_store_at_once_all_find_it_whole(tmp_path):
    """A file at the store's place always holds the schema, so a run never takes another's new store for a
    damaged one (nor a damaged one for new)."""
    errors: list[Exception] = []

    def open_store() -> None:
        try:
            Store(tmp_path / "leaderboard.sqlite")
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and Store(tmp_path / "leaderboard.sqlite", read_only=True).leaderboard("wsdm") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard.sqlite"]

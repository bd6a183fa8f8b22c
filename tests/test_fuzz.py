"""Fuzzing the loaders and `submit validate` with hypothesis: whatever the files hold, the answer is a result or a
UserError (exit code 2 on the command line), never a traceback, and nothing is written.

The examples are derandomised (the same ones on every run) and few, so the suite's cost stays small; raise
FUZZ_EXAMPLES to search longer: `FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from submit.kernel.checks import read_any
from submit.kernel.errors import UserError
from submit.kernel.plugins import get_competition
from typer.testing import CliRunner

from submit.cli import app

FUZZED = ["hansol", "law-tags", "lmsys", "wsdm", "meta-review", "code-instruct"]  # plugins with sample files
SETTINGS = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "12")), derandomize=True, deadline=None,
                    database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Cells of every kind a host's file (or a broken export) may hold, one kind per column so Parquet can store it.
CELLS = {
    "text": st.text(max_size=12),
    "blank": st.sampled_from(["", " ", "\t\n", "\u3000"]),
    "int": st.integers(-(2**40), 2**40),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "bool": st.booleans(),
    "none": st.none(),
    "list": st.lists(st.one_of(st.text(max_size=6), st.none()), max_size=3),
}


def _write(frame: pd.DataFrame, path: Path) -> None:
    """The frame in the file's own format. Parquet cannot hold a column of mixed types (pyarrow refuses it), so
    no host could send that file: hypothesis discards the example (`assume`) rather than counting it as passed.
    Any other failure to write is a bug of the test and fails it."""
    if path.suffix == ".parquet":
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table = None
        assume(table is not None)
        pq.write_table(table, path)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, index=False)


@st.composite
def damaged_folder(draw: st.DrawFn, competition: str) -> dict:
    """A change to one file of the bundled sample: random bytes, or some cells, columns or rows replaced."""
    sample_dir = get_competition(competition).sample_dir
    name = draw(st.sampled_from(sorted(p.name for p in sample_dir.iterdir() if not p.name.startswith("."))))
    how = draw(st.sampled_from(["bytes", "cells", "columns", "rows"]))
    change: dict = {"file": name, "how": how}
    if how == "bytes":
        change["bytes"] = draw(st.binary(max_size=300))
        return change
    frame = read_any(sample_dir / name)
    if how == "cells":
        column = draw(st.sampled_from(list(frame.columns)))
        kind = draw(st.sampled_from(sorted(CELLS)))
        rows = draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=3, unique=True))
        values = frame[column].astype(object).tolist()
        if kind == "list":  # Parquet needs the whole column as lists
            values = [[str(v)] for v in values]
        for row in rows:
            values[row] = draw(CELLS[kind])
        frame[column] = values
    elif how == "columns":
        keep = draw(st.lists(st.sampled_from(list(frame.columns)), unique=True, max_size=len(frame.columns)))
        frame = frame[keep]
        if draw(st.booleans()):
            frame = frame.assign(**{draw(st.sampled_from(["extra", "vec_512", "id.1", "0"])): 1})
    else:
        n = draw(st.integers(0, 3))
        frame = frame.iloc[draw(st.lists(st.integers(0, len(frame) - 1), max_size=n))] if n else frame.iloc[:0]
    change["frame"] = frame
    return change


def _apply(change: dict, folder: Path) -> None:
    path = folder / change["file"]
    if change["how"] == "bytes":
        path.write_bytes(change["bytes"])
    else:
        _write(change["frame"], path)


def _listing(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.parametrize("competition", FUZZED)
def test_loaders_answer_any_file_with_data_or_a_user_error(competition):
    comp = get_competition(competition)

    @SETTINGS
    @given(change=damaged_folder(competition))
    def check(change: dict) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            shutil.copytree(comp.sample_dir, data)
            _apply(change, data)
            before = _listing(Path(tmp))
            with contextlib.suppress(UserError):  # a clear refusal is an answer; anything else fails the test
                comp.load(data)
            assert _listing(Path(tmp)) == before  # nothing written, nothing touched

    check()


@st.composite
def submission(draw: st.DrawFn, competition: str) -> tuple[pd.DataFrame, str]:
    """A change to the sample submission (itself valid): cells, columns reordered or dropped, rows dropped or
    repeated; saved as CSV or Parquet."""
    frame = read_any(get_competition(competition).sample_dir / "sample_submission.csv")
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["cell", "reorder", "drop column", "rows"]))
        if how == "cell" and len(frame):
            column = draw(st.sampled_from(list(frame.columns)))
            kind = draw(st.sampled_from(sorted(set(CELLS) - {"list"})))
            values = frame[column].astype(object).tolist()
            values[draw(st.integers(0, len(values) - 1))] = draw(CELLS[kind])
            frame[column] = values
        elif how == "reorder":
            frame = frame[draw(st.permutations(list(frame.columns)))]
        elif how == "drop column" and len(frame.columns) > 1:
            frame = frame.drop(columns=draw(st.sampled_from(list(frame.columns))))
        elif how == "rows" and len(frame):
            frame = frame.iloc[draw(st.lists(st.integers(0, len(frame) - 1), max_size=len(frame) + 2))]
    return frame, draw(st.sampled_from([".csv", ".parquet"]))


@pytest.mark.parametrize("competition", FUZZED)
def test_validate_answers_any_submission_with_exit_0_or_2(competition):
    runner = CliRunner()

    @SETTINGS
    @given(case=submission(competition))
    def check(case: tuple[pd.DataFrame, str]) -> None:
        frame, suffix = case
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"submission{suffix}"
            _write(frame, path)
            before = _listing(Path(tmp))
            result = runner.invoke(app, ["validate", competition, str(path)], catch_exceptions=False)
            assert result.exit_code in (0, 2), result.stdout + result.stderr
            assert "Traceback" not in result.stdout + result.stderr
            assert _listing(Path(tmp)) == before

    check()

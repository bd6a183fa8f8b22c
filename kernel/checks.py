"""Reading a host's files with checks whose errors name the file, the column, the row and what was expected.

    from submit.kernel.checks import Column, read_table
    train = read_table(data_dir / "train.csv", [Column("id", "id"), Column("prompt", "text")])

Row numbers in messages count data rows from 1 (the header is not a row). File lines are not given
for CSV rows, since quoted cells (chat turns, answers) often span several lines.

One rule for every plugin: a `text` or `id` cell that is empty or only whitespace is refused; a list
cell (a Parquet or JSON list) is joined as the column's `join_lists` says, or refused; a cell of bytes
is read as UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.errors import UserError

TABLE_SUFFIXES = (".csv", ".parquet", ".jsonl", ".json")


class DataError(UserError, ValueError):
    """A problem in a competition's input files, phrased so the user can find and fix it."""

    def __init__(self, file: Path | str, problem: str, *, column: str | None = None, row: int | None = None,
                 expected: str | None = None):
        self.file, self.column, self.row, self.expected = str(file), column, row, expected
        where = [Path(file).name]
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row {row}")
        message = f"{', '.join(where)}: {problem}"
        if expected:
            message += f"; expected {expected}"
        super().__init__(f"{message}\n  file: {file}")


@dataclass(frozen=True)
class Column:
    """One expected column. kind: id | text | optional_text | int | float | bool | choice.

    join_lists: how a list cell is meant (chat turns joined by a blank line, tags by a space); None: a
    list cell is refused, never read as the text of its repr.
    """

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    required: bool = True
    join_lists: str | None = None


def find_table(data_dir: Path, stem: str) -> Path | None:
    """The one of stem.csv / .parquet / .jsonl / .json present in data_dir. Two of them is an error naming
    both (which one holds the data is not ours to guess); so is a file whose name differs only in case
    (Train.csv), since file names are case-sensitive here."""
    found = [data_dir / f"{stem}{suffix}" for suffix in TABLE_SUFFIXES if (data_dir / f"{stem}{suffix}").is_file()]
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        raise DataError(data_dir, f"two candidate files for the {stem} table: {names}",
                        expected=f"one {stem} file (move or delete the others)")
    if found:
        return found[0]
    wanted = {f"{stem}{suffix}" for suffix in TABLE_SUFFIXES}
    near = sorted(p.name for p in data_dir.glob("*") if p.name.lower() in wanted) if data_dir.is_dir() else []
    if near:
        raise DataError(data_dir / near[0], f"found {near[0]}, but file names are case-sensitive",
                        expected=f"{stem}{Path(near[0]).suffix.lower()} (rename the file)")
    return None


def require_table(data_dir: Path, stem: str) -> Path:
    path = find_table(data_dir, stem)
    if path is None:
        raise DataError(data_dir / stem, "file not found",
                        expected=f"one of {', '.join(stem + s for s in TABLE_SUFFIXES)} in {data_dir}")
    return path


def only_table(data_dir: Path, layouts: str) -> Path:
    """The folder's single table (a plain export with no train/test split); `layouts` says what was expected."""
    if not data_dir.is_dir():
        raise DataError(data_dir, "folder not found", expected="a folder holding the competition's files")
    tables = sorted(p for p in data_dir.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
    if not tables:
        raise DataError(data_dir, "no table found", expected=layouts)
    if len(tables) > 1:
        names = ", ".join(p.name for p in tables)
        raise DataError(data_dir, f"found the tables {names} but none named train.csv (or train.parquet, "
                                  "train.jsonl), so it is not the host's layout, and more than one table, so it is "
                                  "not a single export", expected=layouts)
    return tables[0]


def _locate_in_csv(prefix: str) -> tuple[str | None, int | None]:
    """The column and data row where a CSV whose text so far is `prefix` continues."""
    records = list(csv.reader(io.StringIO(prefix)))
    if not records:
        return None, None
    header = records[0]
    if prefix.endswith(("\n", "\r")):  # the bad byte opens a new record
        return header[0], len(records)
    if len(records) == 1:  # inside the header
        return None, None
    partial = records[-1]
    return header[min(len(partial), len(header)) - 1], len(records) - 1


PARQUET_MAGIC = b"PAR1"  # the first and last four bytes of every Parquet file


def _check_not_parquet(path: Path, raw: bytes) -> None:
    """A Parquet file under another name (train.csv) is said to be one, rather than called bad UTF-8."""
    if raw[:4] == PARQUET_MAGIC and raw[-4:] == PARQUET_MAGIC:
        raise DataError(path, f"a Parquet file named {path.suffix}",
                        expected=f"a {path.suffix[1:]} file, or this file renamed to {path.stem}.parquet")


def _check_utf8(path: Path) -> None:
    raw = path.read_bytes()
    _check_not_parquet(path, raw)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column, row = None, None
        if path.suffix.lower() == ".csv":
            column, row = _locate_in_csv(raw[: err.start].decode("utf-8"))
        elif path.suffix.lower() == ".jsonl":
            row = line
        raise DataError(path, f"bytes that are not valid UTF-8 (line {line}, byte offset {err.start})",
                        column=column, row=row, expected="UTF-8 text (re-save the file as UTF-8)") from None


def read_any(path: Path) -> pd.DataFrame:
    """Read a table by its suffix, with a DataError for unreadable files and bytes that are not UTF-8.
    Column names come back as text, whatever the file held."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(path, f"unknown file type '{suffix}'", expected=" or ".join(TABLE_SUFFIXES))
    if not path.is_file():
        raise DataError(path, "is a folder" if path.is_dir() else "file not found", expected=f"a {suffix[1:]} file")
    try:
        frame = _read(path, suffix)
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror or err})", expected="a file you can read") from None
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read(path: Path, suffix: str) -> pd.DataFrame:
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except Exception as err:
            raise DataError(path, f"cannot be read as Parquet ({err})", expected="a Parquet file") from None
    _check_utf8(path)
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, pd.errors.ParserError) as err:
        raise DataError(path, f"cannot be parsed ({err})", expected=f"a well-formed {suffix[1:]} file") from None


def _first_bad(mask: pd.Series) -> int:
    return int(mask.to_numpy().nonzero()[0][0]) + 1


def check_unique_ids(path: Path, ids: pd.Series, *, column: str = "id", context: str = "") -> None:
    """No id twice; the message names the first repeated id and two rows that hold it."""
    dup = ids.duplicated(keep=False)
    if dup.any():
        rows = (dup.to_numpy().nonzero()[0][:2] + 1).tolist()
        raise DataError(path, f"duplicate id '{ids[dup].iloc[0]}' at rows {rows[0]} and {rows[1]}{context}",
                        column=column, expected="unique ids")


_CONTAINERS = (list, tuple, np.ndarray, dict, set)


def _shown(value: object) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _scalar_cell(path: Path, value: object, col: Column, row: int) -> object:
    """One cell as a single value: a list joined as `col.join_lists` says (else refused), bytes as UTF-8."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(path, f"bytes that are not UTF-8 text ({_shown(value)})", column=col.name, row=row,
                            expected="UTF-8 text") from None
    if not isinstance(value, _CONTAINERS):
        return value
    joinable = col.join_lists is not None and not isinstance(value, dict)
    if joinable and all(i is None or isinstance(i, str) for i in value):
        return col.join_lists.join("" if i is None else i for i in value)
    kind = "a dict (JSON object) cell" if isinstance(value, dict) else "a list cell"
    expected = (f"a text or a list of texts (joined by {col.join_lists!r})" if col.join_lists is not None
                else "a single value, not a list or a dict")
    raise DataError(path, f"{kind} {_shown(value)}", column=col.name, row=row, expected=expected)


def _scalar_cells(path: Path, values: pd.Series, col: Column) -> pd.Series:
    """Cells as single values (see _scalar_cell)."""
    if values.dtype != object:
        return values
    out = [_scalar_cell(path, value, col, row) for row, value in enumerate(values, start=1)]
    return pd.Series(out, index=values.index, dtype=object)


def _numbers(path: Path, values: pd.Series, missing: pd.Series, col: Column) -> pd.Series:
    numbers = pd.to_numeric(values.where(~missing), errors="coerce")
    bad = numbers.isna() & ~missing if not col.required else numbers.isna()
    if col.kind == "int":
        bad |= numbers.notna() & (numbers % 1 != 0)
    if bad.any():
        row = _first_bad(bad)
        expected = "an integer" if col.kind == "int" else "a number"
        raise DataError(path, f"value {values.iloc[row - 1]!r} is not {expected}", column=col.name, row=row,
                        expected=expected)
    return numbers


def _booleans(path: Path, values: pd.Series, col: Column) -> pd.Series:
    lowered = values.astype(str).str.lower()
    bad = ~lowered.isin(["true", "false", "1", "0"])
    if bad.any():
        row = _first_bad(bad)
        raise DataError(path, f"value {values.iloc[row - 1]!r} is not a boolean", column=col.name, row=row,
                        expected="true/false")
    return lowered.isin(["true", "1"])


def _choices(path: Path, values: pd.Series, col: Column) -> pd.Series:
    as_str = values.astype(str)
    bad = ~as_str.isin(col.choices)
    if bad.any():
        row = _first_bad(bad)
        raise DataError(path, f"value {as_str.iloc[row - 1]!r} is not allowed", column=col.name, row=row,
                        expected=f"one of {', '.join(col.choices)}")
    return as_str


def _check_column(path: Path, frame: pd.DataFrame, col: Column) -> pd.Series:
    values = _scalar_cells(path, frame[col.name], col)
    blank = values.astype(str).str.strip() == "" if col.kind in ("id", "text") else values.astype(str) == ""
    missing = values.isna() | blank
    if col.kind in ("id", "text") and missing.any():
        what = "missing id" if col.kind == "id" else "empty text"
        raise DataError(path, what, column=col.name, row=_first_bad(missing), expected="a non-empty value")
    if col.kind == "id":
        as_str = values.astype(str)
        check_unique_ids(path, as_str, column=col.name)
        return as_str
    if col.kind in ("text", "optional_text"):
        return values.where(~values.isna(), "").astype(str)
    if col.kind in ("int", "float"):
        return _numbers(path, values, missing, col)
    if col.kind == "bool":
        return _booleans(path, values, col)
    if col.kind == "choice":
        return _choices(path, values, col)
    raise ValueError(f"unknown column kind {col.kind!r}")


def read_table(path: Path, columns: Sequence[Column], *, min_rows: int = 0, exact: bool = False) -> pd.DataFrame:
    """Read a CSV/Parquet/JSON-lines table and check it (see check_table)."""
    return check_table(path, read_any(path), columns, min_rows=min_rows, exact=exact)


def check_table(path: Path, frame: pd.DataFrame, columns: Sequence[Column], *, min_rows: int = 0,
                exact: bool = False) -> pd.DataFrame:
    """Check the listed columns of a table read from path; other columns are kept as read.
    min_rows: fewer data rows is an error (a training file needs rows; a header alone is not data).
    exact: other columns are an error too (a sample submission: the host expects exactly its columns)."""
    path = Path(path)
    frame = frame.reset_index(drop=True)
    if len(frame) < min_rows:
        raise DataError(path, f"{len(frame)} data rows" + (" (a header and no data)" if len(frame) == 0 else ""),
                        expected=f"at least {min_rows} row{'s' if min_rows > 1 else ''}")
    expected = f"columns {', '.join(c.name for c in columns if c.required)}; found {', '.join(frame.columns)}"
    absent = [c.name for c in columns if c.required and c.name not in frame.columns]
    if absent:
        raise DataError(path, f"missing column{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))}",
                        expected=expected)
    extra = [c for c in frame.columns if c not in {col.name for col in columns}] if exact else []
    if extra:
        raise DataError(path, f"unexpected column{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}",
                        expected="only " + expected)
    for col in columns:
        if col.name in frame.columns:
            frame[col.name] = _check_column(path, frame, col)
    return frame


def list_length(value: object) -> int:
    """How many items a list cell holds (1 for a single value): e.g. the turns of a chat cell."""
    return len(value) if isinstance(value, (list, tuple, np.ndarray)) else 1


def check_ids_covered(ids: Iterable[str], sample_ids: Iterable[str], *, ids_file: Path, sample_file: Path) -> None:
    """The test file and the sample submission hold the same ids (the host scores exactly those rows), so a
    submission made for the test rows passes the host's checks."""
    expected = "the same ids in the test file and sample_submission"
    ids, sample_ids = list(map(str, ids)), list(map(str, sample_ids))
    known, tested = set(sample_ids), set(ids)
    for row, value in enumerate(ids, start=1):
        if value not in known:
            raise DataError(ids_file, f"test id '{value}' has no row in {Path(sample_file).name}", column="id",
                            row=row, expected=expected)
    for row, value in enumerate(sample_ids, start=1):
        if value not in tested:
            raise DataError(sample_file, f"id '{value}' is not in {Path(ids_file).name}", column="id", row=row,
                            expected=expected)

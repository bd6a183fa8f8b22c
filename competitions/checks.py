"""Reading a host's files with checks whose errors name the file, the column, the row and what was expected.

    from competitions.checks import Column, read_table
    train = read_table(data_dir / "train.csv", [Column("id", "id"), Column("prompt", "text")])

Row numbers in messages count data rows from 1 (the header is not a row). File lines are not given
for CSV rows, since quoted cells (chat turns, answers) often span several lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from competitions.errors import UserError

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
    """One expected column. kind: id | text | optional_text | int | float | bool | choice."""

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    required: bool = True


def find_table(data_dir: Path, stem: str) -> Path | None:
    """The first of stem.csv / .parquet / .jsonl / .json present in data_dir."""
    for suffix in TABLE_SUFFIXES:
        path = data_dir / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def require_table(data_dir: Path, stem: str) -> Path:
    path = find_table(data_dir, stem)
    if path is None:
        raise DataError(data_dir / stem, "file not found",
                        expected=f"one of {', '.join(stem + s for s in TABLE_SUFFIXES)} in {data_dir}")
    return path


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


def _check_utf8(path: Path) -> None:
    raw = path.read_bytes()
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
    """Read a table by its suffix, with a DataError for unreadable files and bytes that are not UTF-8."""
    suffix = path.suffix.lower()
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
        if suffix == ".json":
            return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(path, f"cannot be parsed ({err})", expected=f"a well-formed {suffix[1:]} file") from None
    raise DataError(path, f"unknown file type '{suffix}'", expected=" or ".join(TABLE_SUFFIXES))


def _first_bad(mask: pd.Series) -> int:
    return int(mask.to_numpy().nonzero()[0][0]) + 1


def check_unique_ids(path: Path, ids: pd.Series, *, column: str = "id", context: str = "") -> None:
    """No id twice; the message names the first repeated id and two rows that hold it."""
    dup = ids.duplicated(keep=False)
    if dup.any():
        rows = (dup.to_numpy().nonzero()[0][:2] + 1).tolist()
        raise DataError(path, f"duplicate id '{ids[dup].iloc[0]}' at rows {rows[0]} and {rows[1]}{context}",
                        column=column, expected="unique ids")


def _check_column(path: Path, frame: pd.DataFrame, col: Column) -> pd.Series:
    values = frame[col.name]
    missing = values.isna() | (values.astype(str) == "")
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
    if col.kind == "bool":
        lowered = values.astype(str).str.lower()
        bad = ~lowered.isin(["true", "false", "1", "0"])
        if bad.any():
            row = _first_bad(bad)
            raise DataError(path, f"value {values.iloc[row - 1]!r} is not a boolean", column=col.name, row=row,
                            expected="true/false")
        return lowered.isin(["true", "1"])
    if col.kind == "choice":
        as_str = values.astype(str)
        bad = ~as_str.isin(col.choices)
        if bad.any():
            row = _first_bad(bad)
            raise DataError(path, f"value {as_str.iloc[row - 1]!r} is not allowed", column=col.name, row=row,
                            expected=f"one of {', '.join(col.choices)}")
        return as_str
    raise ValueError(f"unknown column kind {col.kind!r}")


def read_table(path: Path, columns: Sequence[Column]) -> pd.DataFrame:
    """Read a CSV/Parquet/JSON-lines table and check the listed columns; other columns are kept as read."""
    path = Path(path)
    frame = read_any(path).reset_index(drop=True)
    absent = [c.name for c in columns if c.required and c.name not in frame.columns]
    if absent:
        raise DataError(path, f"missing column{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))}",
                        expected=f"columns {', '.join(c.name for c in columns if c.required)}; "
                                 f"found {', '.join(map(str, frame.columns))}")
    for col in columns:
        if col.name in frame.columns:
            frame[col.name] = _check_column(path, frame, col)
    return frame


def check_ids_covered(ids: Iterable[str], sample_ids: Iterable[str], *, ids_file: Path, sample_file: Path) -> None:
    """Every test id must have a row in the sample submission (the host scores exactly those rows)."""
    known = set(map(str, sample_ids))
    for row, value in enumerate(map(str, ids), start=1):
        if value not in known:
            raise DataError(ids_file, f"test id '{value}' has no row in {Path(sample_file).name}", column="id",
                            row=row, expected="the same ids in the test file and sample_submission")

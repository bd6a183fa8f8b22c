"""Checks a submission the way the host would before scoring it, and writes it only when it passes.

    problems = submission_problems(frame, sample_submission, spec)    # [] when the host would accept it
    path = write_submission(frame, sample_submission, spec, "runs/wsdm/submission.csv")

What is checked here: the id column and the other columns by name; the ids are exactly the sample's
(order does not matter, duplicates do); no missing values (unless the spec allows empty text). Then the
spec's kind checks its values (competitions/submissions.py): labels in the allowed set, probabilities in
[0, 1] summing to 1, vectors finite and of the right width, tags from the vocabulary, text not too long.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from submit.cv.io import atomic_write
from submit.kernel.checks import DataError, read_any
from submit.kernel.errors import UserError
from submit.kernel.submissions import SubmissionSpec, examples, rows_text


class SubmissionError(UserError, ValueError):
    def __init__(self, file: Path | str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{file}: the host would reject this submission:\n" + "\n".join(f"  - {p}" for p in problems))


def column_order(frame: pd.DataFrame, spec: SubmissionSpec) -> str | None:
    """The columns in another order than the host's (all of them present), said; None when in order."""
    expected = [spec.id_column, *spec.columns]
    if list(frame.columns) == expected or sorted(map(str, frame.columns)) != sorted(expected):
        return None
    first = next(i for i, (a, b) in enumerate(zip(frame.columns, expected, strict=True)) if a != b)
    return (f"columns in another order than sample_submission: column {first + 1} is '{frame.columns[first]}', "
            f"expected '{expected[first]}'")


def submission_problems(frame: pd.DataFrame, sample: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
    problems: list[str] = []
    expected = [spec.id_column, *spec.columns]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing:
        problems.append(f"missing column(s) {examples(missing)}; expected {len(expected)} columns: "
                        f"{examples(expected)}")
    if extra:
        problems.append(f"unexpected column(s) {examples(extra)}")
    order = column_order(frame, spec)
    if order and spec.kind.by_position:
        problems.append(f"{order}; the host reads {spec.kind.name} by position: write the columns in its order")
    if spec.id_column not in frame.columns:
        return problems

    ids = frame[spec.id_column].astype(str)
    sample_ids = set(sample[spec.id_column].astype(str))
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        problems.append(f"duplicate ids {examples(ids[dup].unique())} ({rows_text(dup)})")
    absent = sorted(sample_ids - set(ids))
    if absent:
        problems.append(f"{len(absent)} id(s) of sample_submission have no row: {examples(absent)}")
    unknown = ~ids.isin(sample_ids).to_numpy()
    if unknown.any():
        problems.append(f"id(s) not in sample_submission: {examples(ids[unknown])} ({rows_text(unknown)})")

    values = frame[[c for c in spec.columns if c in frame.columns]]
    if spec.allow_empty:
        values = values.fillna("")
    else:
        empty = (values.isna() | (values.astype(str).apply(lambda s: s.str.strip()) == "")).to_numpy()
        if empty.any():
            problems.append(f"missing values in {rows_text(empty.any(axis=1))}")
            return problems
    return problems + spec.kind.problems(values, spec)


def check_submission(frame: pd.DataFrame, sample: pd.DataFrame, spec: SubmissionSpec, file: Path | str) -> None:
    problems = submission_problems(frame, sample, spec)
    if problems:
        raise SubmissionError(file, problems)


def validate_file(path: Path, sample: pd.DataFrame, spec: SubmissionSpec) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "is a folder" if path.is_dir() else "file not found",
                        expected="a submission file (.csv, .parquet, .jsonl or .json)")
    frame = read_any(path)
    check_submission(frame, sample, spec, path)
    return frame


def write_submission(frame: pd.DataFrame, sample: pd.DataFrame, spec: SubmissionSpec, path: Path) -> Path:
    """Validate, then write atomically: an invalid submission never reaches the disk."""
    check_submission(frame, sample, spec, f"{path} (not written)")
    return atomic_write(Path(path), lambda tmp: frame.to_csv(tmp, index=False))

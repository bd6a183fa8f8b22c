"""Checks a submission the way the host would before scoring it, and writes it only when it passes.

    problems = submission_problems(frame, sample_submission, spec)    # [] when the host would accept it
    path = write_submission(frame, sample_submission, spec, "runs/wsdm/submission.csv")

What is checked: the id column and the other columns by name; the ids are exactly the sample's (order
does not matter, duplicates do); no missing values; labels in the allowed set; probabilities in [0, 1]
with rows summing to 1; vectors of the right width and finite; tags from the vocabulary, at least one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from competitions.base import SubmissionSpec
from competitions.checks import DataError, read_any
from competitions.errors import UserError
from cv.io import atomic_write

MAX_LISTED = 3  # examples shown per problem


class SubmissionError(UserError, ValueError):
    def __init__(self, file: Path | str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{file}: the host would reject this submission:\n" + "\n".join(f"  - {p}" for p in problems))


def _examples(values: pd.Series | list) -> str:
    shown = list(values)[:MAX_LISTED]
    more = len(values) - len(shown)
    return ", ".join(map(repr, shown)) + (f" and {more} more" if more > 0 else "")


def _rows(mask: np.ndarray) -> str:
    rows = (np.flatnonzero(mask) + 1).tolist()
    return "row" + ("s " if len(rows) > 1 else " ") + _examples(rows).replace("'", "")


def submission_problems(frame: pd.DataFrame, sample: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
    problems: list[str] = []
    expected = [spec.id_column, *spec.columns]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing:
        problems.append(f"missing column(s) {_examples(missing)}; expected {len(expected)} columns: "
                        f"{_examples(expected)}")
    if extra:
        problems.append(f"unexpected column(s) {_examples(extra)}")
    if spec.id_column not in frame.columns:
        return problems

    ids = frame[spec.id_column].astype(str)
    sample_ids = set(sample[spec.id_column].astype(str))
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        problems.append(f"duplicate ids {_examples(ids[dup].unique())} ({_rows(dup)})")
    absent = sorted(sample_ids - set(ids))
    if absent:
        problems.append(f"{len(absent)} id(s) of sample_submission have no row: {_examples(absent)}")
    unknown = ~ids.isin(sample_ids).to_numpy()
    if unknown.any():
        problems.append(f"id(s) not in sample_submission: {_examples(ids[unknown])} ({_rows(unknown)})")

    present = [c for c in spec.columns if c in frame.columns]
    values = frame[present]
    empty = (values.isna() | (values.astype(str).apply(lambda s: s.str.strip()) == "")).to_numpy()
    if empty.any():
        problems.append(f"missing values in {_rows(empty.any(axis=1))}")
        return problems

    if spec.kind == "labels":
        for col in present:
            bad = ~frame[col].astype(str).isin(spec.labels).to_numpy()
            if bad.any():
                problems.append(f"column '{col}': {_examples(frame[col][bad].unique())} not in the allowed labels "
                                f"{_examples(sorted(spec.labels))} ({_rows(bad)})")
    elif spec.kind in ("probabilities", "vectors"):
        numbers = values.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(numbers).all(axis=1)
        if bad.any():
            problems.append(f"values that are not finite numbers in {_rows(bad)}")
        elif spec.kind == "probabilities":
            out = ((numbers < 0) | (numbers > 1)).any(axis=1)
            if out.any():
                problems.append(f"probabilities outside [0, 1] in {_rows(out)}")
            sums = numbers.sum(axis=1)
            off = np.abs(sums - 1) > 1e-4
            if off.any():
                problems.append(f"probabilities do not sum to 1 in {_rows(off)} (e.g. {sums[off][0]:.6f})")
        elif spec.width and len(present) != spec.width:
            problems.append(f"vectors have {len(present)} values, expected {spec.width}")
    elif spec.kind == "tags":
        tags = frame[spec.columns[0]].astype(str).str.split()
        unknown_tags = sorted({t for row in tags for t in row} - spec.labels) if spec.labels else []
        if unknown_tags:
            problems.append(f"tags not in the vocabulary: {_examples(unknown_tags)}")
    return problems


def check_submission(frame: pd.DataFrame, sample: pd.DataFrame, spec: SubmissionSpec, file: Path | str) -> None:
    problems = submission_problems(frame, sample, spec)
    if problems:
        raise SubmissionError(file, problems)


def validate_file(path: Path, sample: pd.DataFrame, spec: SubmissionSpec) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found", expected="a submission file")
    frame = read_any(path)
    check_submission(frame, sample, spec, path)
    return frame


def write_submission(frame: pd.DataFrame, sample: pd.DataFrame, spec: SubmissionSpec, path: Path) -> Path:
    """Validate, then write atomically: an invalid submission never reaches the disk."""
    check_submission(frame, sample, spec, path)
    return atomic_write(Path(path), lambda tmp: frame.to_csv(tmp, index=False))

"""What a host accepts in a submission file: the spec of one competition, and the kinds of values.

    spec = SubmissionSpec(id_column="id", kind=PROBABILITIES, columns=("winner_model_a", ...))
    spec.kind.problems(values, spec)     # values: the frame's non-id columns; [] when the host reads them

A kind checks the values of the non-id columns (labels from a set, probabilities summing to 1, finite
vectors of a width, tags from a vocabulary, text within a length). The checks every kind shares (the id
column, the columns by name, ids equal to the sample's, no missing value) are in submit/validate.py.
Each task type lists the kinds its predictions can be submitted as (`TaskType.submission_kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_LISTED = 3  # examples shown per problem


def examples(values: pd.Series | list) -> str:
    shown = list(values)[:MAX_LISTED]
    more = len(values) - len(shown)
    return ", ".join(map(repr, shown)) + (f" and {more} more" if more > 0 else "")


def rows_text(mask: np.ndarray) -> str:
    """'row 3' or 'rows 3, 7, 9 and 2 more' (1-based data rows) for a mask over the frame's rows."""
    rows = (np.flatnonzero(mask) + 1).tolist()
    return "row" + ("s " if len(rows) > 1 else " ") + examples(rows).replace("'", "")


class SubmissionKind:
    """The values of a submission's non-id columns; `problems` says what the host would reject in them.
    by_position: the host reads these columns by their place, not their name (a vector is its values in
    order), so a submission with its columns in another order than the sample's is refused, not warned of."""

    name: str
    by_position: bool = False

    def problems(self, values: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
        """values: the submission's non-id columns that are present, with no missing cell."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Labels(SubmissionKind):
    name = "labels"

    def problems(self, values: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
        out = []
        for col in values.columns:
            bad = ~values[col].astype(str).isin(spec.labels).to_numpy()
            if bad.any():
                out.append(f"column '{col}': {examples(values[col][bad].unique())} not in the allowed labels "
                           f"{examples(sorted(spec.labels))} ({rows_text(bad)})")
        return out


def _numbers(values: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    numbers = values.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers).all(axis=1)
    return numbers, [f"values that are not finite numbers in {rows_text(bad)}"] if bad.any() else []


class Probabilities(SubmissionKind):
    name = "probabilities"

    def problems(self, values: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
        numbers, out = _numbers(values)
        if out:
            return out
        outside = ((numbers < 0) | (numbers > 1)).any(axis=1)
        if outside.any():
            out.append(f"probabilities outside [0, 1] in {rows_text(outside)}")
        sums = numbers.sum(axis=1)
        off = np.abs(sums - 1) > 1e-4
        if off.any():
            out.append(f"probabilities do not sum to 1 in {rows_text(off)} (e.g. {sums[off][0]:.6f})")
        return out


class Vectors(SubmissionKind):
    """Scored by cosine: a zero vector has none, and one whose length overflows (1e308) gives NaN."""

    name = "vectors"
    by_position = True

    def problems(self, values: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
        numbers, out = _numbers(values)
        if out:
            return out
        if spec.width and values.shape[1] != spec.width:
            out.append(f"vectors have {values.shape[1]} values, expected {spec.width}")
        with np.errstate(over="ignore"):
            norms = np.linalg.norm(numbers, axis=1)
        if (norms == 0).any():
            out.append(f"zero vectors (all values 0: a zero vector has no cosine) in {rows_text(norms == 0)}")
        if not np.isfinite(norms).all():
            out.append(f"vectors too long to normalise (values near the float limit, e.g. 1e308) in "
                       f"{rows_text(~np.isfinite(norms))}")
        return out


class Tags(SubmissionKind):
    name = "tags"

    def problems(self, values: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
        tags = [t for col in values.columns for row in values[col].astype(str).str.split() for t in row]
        unknown = sorted(set(tags) - spec.labels) if spec.labels else []
        return [f"tags not in the vocabulary: {examples(unknown)}"] if unknown else []


class Text(SubmissionKind):
    name = "text"

    def problems(self, values: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
        out = []
        for col in values.columns:
            long = (values[col].astype(str).str.len() > spec.max_chars).to_numpy()
            if long.any():
                out.append(f"column '{col}': text longer than {spec.max_chars:,} characters in {rows_text(long)}")
        return out


class Numbers(SubmissionKind):
    """Finite numbers in each column (regression targets); `unit`: each in [0, 1] (a binary or a multilabel
    column's probability, which need not sum to 1 across columns)."""

    def __init__(self, name: str, *, unit: bool = False) -> None:
        self.name, self.unit = name, unit

    def problems(self, values: pd.DataFrame, spec: SubmissionSpec) -> list[str]:
        numbers, out = _numbers(values)
        outside = ((numbers < 0) | (numbers > 1)).any(axis=1)
        if not out and self.unit and outside.any():
            out.append(f"probabilities outside [0, 1] in {rows_text(outside)}")
        return out


LABELS, PROBABILITIES, VECTORS, TAGS, TEXT = Labels(), Probabilities(), Vectors(), Tags(), Text()
NUMBERS, COLUMN_PROBABILITIES = Numbers("numbers"), Numbers("column probabilities", unit=True)


@dataclass(frozen=True)
class SubmissionSpec:
    """What the host accepts: the id column, the other columns in the host's order, and their kind."""

    id_column: str
    kind: SubmissionKind
    columns: tuple[str, ...]  # the non-id columns, in the host's order
    labels: frozenset[str] = frozenset()  # allowed labels (labels) or tag vocabulary (tags)
    width: int = 0  # vector width (vectors)
    max_chars: int = 100_000  # longest text cell (text)
    allow_empty: bool = False  # an empty cell is a valid answer (text)

"""The generic plugin of described competitions: a competition.yaml beside the host's files (kernel/description.py).

    cls = described_class("house", Path("data/house"))   # what kernel.plugins.get_competition builds
    comp = cls()
    data = comp.load(Path("data/house"))                  # features typed by role; y in the task's arrays
    frame = comp.format_submission(data, decided)         # the sample's columns, ids and dtypes

Features come typed by their role, which is how heads know them: numeric float64, categorical pandas
`category` (the categories of train and test together, so codes agree), text `str` (object, missing ""),
datetime `datetime64`. The id column becomes the canonical `id` (as text). Targets, by task: regression
(n, k) floats; binary and multiclass one-hot over `classes` (the description's order); multilabel (n, k) 0/1;
tags (n, tags) 0/1 over the vocabulary, the sorted tags of train's tags column (`Dataset.label_names`).

A Python plugin can use the same description: subclass `Described`, set `description` and `folder`, and
override only `read_tables` (e.g. to flatten JSON turns) or `features`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from submit.kernel.checks import DataError, check_ids_covered, find_table, read_any
from submit.kernel.competition import Competition, Dataset, subset_rows
from submit.kernel.description import FILE, Description, kernel_task, label_text, missing, read_description
from submit.kernel.metrics import metric_for
from submit.kernel.submissions import COLUMN_PROBABILITIES, LABELS, NUMBERS, PROBABILITIES, TAGS, SubmissionSpec
from submit.kernel.tabular import tabular_task
from submit.kernel.tasks import TaskType, tagging_task

TAGS_EXPECTED = "space-separated tags in every row of train, e.g. 'contract-law united-states'"


def numeric_column(path: Path, name: str, values: pd.Series) -> pd.Series:
    """float64 with NaN for missing cells; a DataError naming the first cell that is not a number."""
    numbers = pd.to_numeric(values.where(~missing(values)), errors="coerce").astype(np.float64)
    bad = numbers.isna() & ~missing(values)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(path, f"'{values.iloc[row]}' is not a number", column=name, row=row + 1,
                        expected="a number or an empty cell (or describe the column as categorical or text)")
    return numbers


def dates(values: pd.Series) -> pd.Series:
    """datetime64 of a column of dates: in the format of its first value (fast), else each value parsed alone."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    parsed = pd.to_datetime(values, errors="coerce")
    if parsed.isna().sum() > values.isna().sum():  # several formats: parse each value on its own (slow)
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    return parsed


def typed_features(path: Path, frame: pd.DataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """The feature columns of one table, each typed by its role (categories are set later, over both tables)."""
    absent = [c for c in roles if c not in frame.columns]
    if absent:
        raise DataError(path, f"no column(s) {absent}", expected=f"the feature columns of {FILE}")
    out = {}
    for name, role in roles.items():
        values = frame[name]
        if role == "numeric":
            out[name] = numeric_column(path, name, values)
        elif role == "datetime":
            out[name] = dates(values.where(~missing(values)))
        elif role == "categorical":
            out[name] = label_text(values.where(~missing(values))).where(~missing(values))
        else:
            out[name] = values.fillna("").astype(str)
    return pd.DataFrame(out, index=frame.index)


def tag_matrix(path: Path, column: str, values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A tags column as (n, tags) 0/1 float32 over its vocabulary, the sorted set of its tags (spelt as written:
    the host reads them so). A DataError when no row holds a tag (an empty vocabulary) or one row holds none."""
    empty = missing(values).to_numpy()
    if empty.all():
        raise DataError(path, "no row holds a tag (an empty vocabulary): the tags column is empty", column=column,
                        expected=TAGS_EXPECTED)
    if empty.any():
        raise DataError(path, "the row has no tags", column=column, row=int(np.argmax(empty)) + 1,
                        expected=TAGS_EXPECTED)
    rows = [list(dict.fromkeys(str(v).split())) for v in values]
    vocabulary = sorted({t for row in rows for t in row})
    index = {t: j for j, t in enumerate(vocabulary)}
    # float32, not int8: scikit-learn's LabelBinarizer silently corrupts int8 indicators wider than 128.
    y = np.zeros((len(rows), len(vocabulary)), dtype=np.float32)
    for i, row in enumerate(rows):
        y[i, [index[t] for t in row]] = 1.0
    return y, vocabulary


def _same_categories(train: pd.DataFrame, test: pd.DataFrame, roles: dict[str, str]) -> None:
    for name in (c for c, r in roles.items() if r == "categorical"):
        categories = sorted(set(train[name].dropna()) | set(test[name].dropna()))
        train[name] = pd.Categorical(train[name], categories=categories)
        test[name] = pd.Categorical(test[name], categories=categories)


class Described(Competition):
    """A competition read from its description; subclasses made by `described_class` set the class attributes."""

    description: ClassVar[Description]
    folder: ClassVar[Path]
    host = "local"
    title = "a described competition"
    synthetic_sample = False

    @property
    def sample_dir(self) -> Path:
        """The folder of its description: `submit NAME` without --data runs on it."""
        return self.folder

    @property
    def recipes_dir(self) -> Path:
        """recipes/ of this package; a tags task's own in recipes/tags/ (the table heads do not serve tag sets)."""
        own = super().recipes_dir
        return own / "tags" if self.description.task == "tags" else own

    def table_path(self, data_dir: Path, role: str) -> Path:
        named = data_dir / self.description.files.get(role, "")
        path = named if named.is_file() else find_table(data_dir, role)
        if path is None:
            raise DataError(data_dir / self.description.files.get(role, role), "file not found",
                            expected=f"the {role} table named in {FILE} (or {role}.csv / .parquet)")
        return path

    def read_tables(self, data_dir: Path) -> dict[str, tuple[Path, pd.DataFrame]]:
        """train, test and sample_submission as read (role -> (path, frame)). Plugins override this alone when
        their files need code of their own."""
        paths = {role: self.table_path(data_dir, role) for role in ("train", "test", "sample_submission")}
        return {role: (path, read_any(path)) for role, path in paths.items()}

    def targets_of(self, path: Path, train: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """y in the task's array, and the names of its columns (classes, targets or the tag vocabulary)."""
        d = self.description
        absent = [t for t in d.targets if t not in train.columns]
        if absent:
            raise DataError(path, f"no target column(s) {absent}", expected=f"the targets of {FILE} in train")
        if d.task == "tags":
            return tag_matrix(path, d.targets[0], train[d.targets[0]])
        return self._numeric_or_classes(path, train), list(d.classes or d.targets)

    def _numeric_or_classes(self, path: Path, train: pd.DataFrame) -> np.ndarray:
        d = self.description
        if d.task in ("regression", "multilabel"):
            y = np.column_stack([numeric_column(path, t, train[t]).to_numpy() for t in d.targets])
            empty = np.isnan(y).any(axis=1)
            if empty.any():
                raise DataError(path, "a target cell is empty", column=d.targets[0], row=int(np.argmax(empty)) + 1,
                                expected="a value in every target cell of train")
            if d.task == "multilabel" and not np.isin(y, (0, 1)).all():
                raise DataError(path, "a multilabel target holds a value other than 0 and 1",
                                column=d.targets[0], expected="0/1 in every target column")
            return y
        labels = label_text(train[d.targets[0]])
        index = {c: j for j, c in enumerate(d.classes)}
        unknown = ~labels.isin(index) | missing(train[d.targets[0]])
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            raise DataError(path, f"class '{train[d.targets[0]].iloc[row]}' is not one of the classes",
                            column=d.targets[0], row=row + 1, expected=f"one of {list(d.classes)} ({FILE})")
        return np.eye(len(d.classes))[labels.map(index).to_numpy(dtype=np.int64)]

    def load(self, data_dir: Path, *, limit: int | None = None) -> Dataset:
        """Read and check the three tables. limit: a seeded random subset of that many training rows."""
        return self.dataset(self.read_tables(Path(data_dir)), limit=limit)

    def dataset(self, tables: dict[str, tuple[Path, pd.DataFrame]], *, limit: int | None = None) -> Dataset:
        """The Dataset of tables as read_tables gives them (`submit init` checks the ones it has read)."""
        d = self.description
        (train_path, train), (test_path, test), (sample_path, sample) = (tables[r] for r in (
            "train", "test", "sample_submission"))
        for path, frame in ((test_path, test), (sample_path, sample)):
            if d.id not in frame.columns:
                raise DataError(path, f"no id column '{d.id}'", expected=f"the id column of {FILE}")
        check_ids_covered(test[d.id].astype(str), sample[d.id].astype(str), ids_file=test_path,
                          sample_file=sample_path)
        train = train.iloc[subset_rows(len(train), limit)].reset_index(drop=True)
        y, label_names = self.targets_of(train_path, train)
        X, X_test = typed_features(train_path, train, d.features), typed_features(test_path, test, d.features)
        _same_categories(X, X_test, d.features)
        # A train table without the id column: its data row numbers (from 1), as in error messages.
        train_ids = train[d.id].astype(str) if d.id in train.columns else pd.Series(np.arange(1, len(train) + 1))
        X.insert(0, "id", train_ids.astype(str).to_numpy())
        X_test.insert(0, "id", test[d.id].astype(str).to_numpy())
        groups = train[d.group].astype(str).to_numpy() if d.group else None
        return Dataset(train=X, test=X_test.reset_index(drop=True), y=y, sample_submission=sample, groups=groups,
                       stratify=None if d.task == "regression" else y,
                       label_names=label_names,
                       files={"train": train_path, "test": test_path, "sample_submission": sample_path})

    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        d = self.description
        kind = {"values": NUMBERS, "labels": LABELS, "tags": TAGS, "ranked": TAGS}.get(d.submission)
        if kind is None:  # probabilities: a distribution over classes, or one probability per column
            kind = PROBABILITIES if d.task == "multiclass" else COLUMN_PROBABILITIES
        return SubmissionSpec(id_column=d.id, kind=kind, columns=tuple(d.submission_columns),
                              labels=frozenset(dataset.label_names if d.task == "tags" else d.classes))

    def _values(self, dataset: Dataset, decided: np.ndarray) -> dict[str, Any]:
        d, columns = self.description, self.description.submission_columns
        if d.submission == "labels":
            return {columns[0]: np.asarray(d.classes, dtype=object)[decided.argmax(axis=1)]}
        names = np.asarray(dataset.label_names, dtype=object)
        if d.submission == "tags":  # the decided 0/1 tag sets
            return {columns[0]: [" ".join(names[np.flatnonzero(row)]) for row in decided]}
        if d.submission == "ranked":
            k = self.task.metric_spec.k or 3
            top = np.argsort(-decided, axis=1, kind="stable")[:, :k]
            return {columns[0]: [" ".join(names[row]) for row in top]}
        if d.task == "binary" and len(columns) == 1:  # one column: the positive (second) class's probability
            return {columns[0]: decided[:, 1]}
        order = list(d.classes or d.targets)
        return {c: decided[:, order.index(c)] for c in columns}

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        """The sample's columns in its order; a column the sample holds as integers is written as integers."""
        frame = pd.DataFrame({self.description.id: dataset.test["id"].to_numpy(), **self._values(dataset, decided)})
        sample = dataset.sample_submission
        for column in self.description.submission_columns:
            values = frame[column]
            if sample is not None and column in sample.columns and pd.api.types.is_numeric_dtype(values) \
                    and label_text(sample[column]).str.fullmatch(r"-?\d+").all() \
                    and np.allclose(values, np.round(values)):
                frame[column] = np.round(values).astype(np.int64)
        return frame

    def write_sample(self, out_dir: Path, seed: int = 0) -> None:
        raise NotImplementedError(f"{self.name} is described by its own files ({self.folder}); it has no sample")


def _scheme(desc: Description) -> str:
    if desc.group:
        return "grouped"
    return "multilabel" if desc.task in ("multilabel", "tags") else "stratified"  # regression: no stratify -> KFold


def described_class(name: str, folder: Path, description: Description | None = None,
                    base: type[Described] = Described) -> type[Described]:
    """The Competition subclass of folder/competition.yaml (or of `description`, not yet written) under `name`:
    a class, as the registry's contract asks."""
    desc = description or read_description(Path(folder) / FILE)
    task: TaskType = tagging_task(desc.metric) if desc.task == "tags" else tabular_task(desc.task, desc.metric)
    attributes = {"name": name, "title": desc.title or f"{name} ({desc.task}, {desc.metric})",
                  "host": "kaggle" if desc.kaggle else "local", "slug": desc.kaggle, "description": desc,
                  "folder": Path(folder), "task": task, "metrics": (metric_for(desc.metric, kernel_task(desc.task)),),
                  "folds_scheme": _scheme(desc), "__module__": __name__}
    return type(f"Described[{name}]", (base,), attributes)

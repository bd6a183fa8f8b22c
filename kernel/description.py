"""A competition described by a file instead of code: `competition.yaml` beside the host's files.

    desc = read_description(Path("data/house/competition.yaml"))    # validated; DescriptionError (exit 2) if not
    desc.task, desc.metric, desc.targets, desc.features              # "regression", "rmse", ("SalePrice",), {...}
    write_description(desc, Path("data/house"))                      # atomic; validated first
    remember("house", Path("data/house")); described()               # {"house": Path("data/house")}

`submit init` writes the file (submit/init.py); competitions/described reads it as a plugin. Which names
are described competitions and where their folders are is kept in a small index, `competitions.yaml` in
the user's config folder: $SUBMIT_CONFIG_DIR, else $XDG_CONFIG_HOME/submit, else ~/.config/submit. It
is per user, not per runs folder, since `submit NAME` must find NAME from any folder and before it knows
which runs folder a command uses.

The file, as `submit init` writes it (a person may edit it; it is validated on every read):

    name: house                      # the competition's name in `submit NAME`
    task: regression                 # regression | binary | multiclass | multilabel | tags
    metric: rmsle                    # kernel/metrics.py
    higher_is_better: false          # the metric's direction, written for the reader and checked
    id: Id                           # shared by test and sample_submission
    targets: [SalePrice]             # train columns predicted (binary, multiclass: the one class column; tags: the
                                     # one column of space-separated tags, its vocabulary read from train)
    classes: []                      # binary, multiclass: the class values, in the submission's order
    submission: values               # values | labels | probabilities | tags | ranked (map@k: top-k labels)
    submission_columns: [SalePrice]  # the sample's columns after the id, in its order
    features: {LotArea: numeric, Street: categorical, Notes: text, Sold: datetime}
    dropped: {Name: identifier-like (one value per row)}
    group: null                      # rows sharing this column's value stay in one fold
    files: {train: train.csv, test: test.csv, sample_submission: sample_submission.csv}
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from submit.kernel.errors import UserError, writing
from submit.kernel.metrics import get_metric

FILE = "competition.yaml"
TASK_NAMES = ("regression", "binary", "multiclass", "multilabel", "tags")
ROLES = ("numeric", "categorical", "text", "datetime")
SUBMISSIONS = ("values", "labels", "probabilities", "tags", "ranked")
_SUBMISSIONS_OF = {"regression": ("values",), "binary": ("labels", "probabilities"),
                   "multiclass": ("labels", "probabilities", "ranked"), "multilabel": ("probabilities", "ranked"),
                   "tags": ("tags", "ranked")}
KERNEL_TASK = {"tags": "tagging"}  # a description's task -> the kernel's task type of that name, where they differ


def kernel_task(task: str) -> str:
    """The name of the kernel's task type (and of the tasks metrics fit) for a description's task."""
    return KERNEL_TASK.get(task, task)


MISSING = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")  # cells read as missing in numbers and dates


def missing(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().isin(MISSING)


def as_numbers(values: pd.Series) -> pd.Series | None:
    """The present cells as float64, or None when one is not a number. The first cells are tried alone first:
    converting a text column cell by cell, each failing, is what makes a wide table slow to read."""
    present = values[~missing(values)]
    if pd.to_numeric(present.head(64), errors="coerce").isna().any():
        return None
    numbers = pd.to_numeric(present, errors="coerce")
    return None if numbers.isna().any() else numbers.astype(np.float64)


def label_text(values: pd.Series) -> pd.Series:
    """Class labels as text, one spelling per value: 1.0 and 1 both read '1' (a CSV and a Parquet agree)."""
    numbers = as_numbers(values) if len(values) and not values.isna().any() else None
    if numbers is not None and len(numbers) == len(values) and (numbers == numbers.round()).all():
        return numbers.astype(np.int64).astype(str)
    return values.astype(str).str.strip()


class DescriptionError(UserError, ValueError):
    """A competition.yaml that does not describe a competition: the file, the key and what was expected."""


@dataclass(frozen=True)
class Description:
    name: str
    task: str
    metric: str
    higher_is_better: bool
    id: str
    targets: tuple[str, ...]
    submission: str
    submission_columns: tuple[str, ...]
    features: dict[str, str]
    classes: tuple[str, ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)
    group: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    title: str = ""
    kaggle: str | None = None  # the Kaggle slug it was downloaded from, if any

    def problems(self) -> list[str]:
        """What is wrong with the description, each as 'key: found, expected ...'; [] when valid."""
        if self.task not in TASK_NAMES:
            return [f"task: '{self.task}', expected one of {', '.join(TASK_NAMES)}"]
        return self._target_problems() + self._column_problems()

    def _target_problems(self) -> list[str]:
        out = []
        try:
            spec = get_metric(self.metric, kernel_task(self.task))
            if spec.higher_is_better != bool(self.higher_is_better):
                out.append(f"higher_is_better: {self.higher_is_better}, but {self.metric} is better "
                           f"{'higher' if spec.higher_is_better else 'lower'}")
        except UserError as err:
            out.append(f"metric: {err}")
        if self.submission not in _SUBMISSIONS_OF[self.task]:
            out.append(f"submission: '{self.submission}', expected for a {self.task} task one of "
                       f"{', '.join(_SUBMISSIONS_OF[self.task])}")
        if not self.targets or (self.task in ("binary", "multiclass", "tags") and len(self.targets) != 1):
            wanted = {"tags": "one column of space-separated tags"}.get(
                self.task, "one class column" if self.task in ("binary", "multiclass") else "at least one column")
            out.append(f"targets: {list(self.targets)}, expected {wanted}")
        if self.task in ("binary", "multiclass"):
            wanted = "two classes" if self.task == "binary" else "at least two classes"
            if (self.task == "binary") != (len(self.classes) == 2) or len(self.classes) < 2:
                out.append(f"classes: {list(self.classes)}, expected {wanted}")
        return out

    def _column_problems(self) -> list[str]:
        out = []
        bad_roles = {c: r for c, r in self.features.items() if r not in ROLES}
        if bad_roles:
            out.append(f"features: roles {bad_roles}, expected each one of {', '.join(ROLES)}")
        if not self.features:
            out.append("features: none, expected at least one feature column")
        clash = sorted({self.id, *self.targets} & set(self.features))
        if clash:
            out.append(f"features: {clash} are the id or a target, not features")
        if self.task == "tags" and "text" not in self.features.values():
            out.append("features: no text column, expected at least one for a tags task (its heads read text)")
        if not self.submission_columns:
            out.append("submission_columns: none, expected the sample's columns after the id")
        absent = {"train", "test", "sample_submission"} - set(self.files)
        if absent:
            out.append(f"files: no {', '.join(sorted(absent))}, expected train, test and sample_submission")
        return out

    def check(self, where: Path | str) -> Description:
        problems = self.problems()
        if problems:
            raise DescriptionError(f"{where}: not a valid competition description:\n"
                                   + "\n".join(f"  - {p}" for p in problems))
        return self

    def to_mapping(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("targets", "classes", "submission_columns"):
            out[key] = list(out[key])
        return out


_TUPLES = ("targets", "classes", "submission_columns")
_REQUIRED = ("name", "task", "metric", "higher_is_better", "id", "targets", "submission", "submission_columns",
             "features")


def description_from(mapping: Any, where: Path | str) -> Description:
    """A Description from a parsed YAML mapping, checked."""
    if not isinstance(mapping, dict):
        raise DescriptionError(f"{where}: expected a mapping of keys ({', '.join(_REQUIRED)}), "
                               f"got {type(mapping).__name__}")
    known = {f for f in Description.__dataclass_fields__}
    unknown, absent = sorted(set(mapping) - known), [k for k in _REQUIRED if k not in mapping]
    if unknown or absent:
        raise DescriptionError(f"{where}: " + "; ".join(
            ([f"unknown key(s) {unknown}; known: {', '.join(sorted(known))}"] if unknown else [])
            + ([f"missing key(s) {absent}"] if absent else [])))
    values = {k: tuple(str(v) for v in (mapping[k] or ())) if k in _TUPLES else mapping[k] for k in mapping}
    for key in ("features", "dropped", "files"):
        if not isinstance(values.get(key) or {}, dict):
            raise DescriptionError(f"{where}: {key}: expected a mapping of column -> value")
        values[key] = {str(k): str(v) for k, v in (values.get(key) or {}).items()}
    return Description(**values).check(where)


def read_description(path: Path) -> Description:
    path = Path(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: file not found; run `submit init NAME --data {path.parent}` to write it")
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DescriptionError(f"{path}: not valid YAML ({err})") from None
    return description_from(mapping, path)


HEADER = ("# Written by `submit init`; edit freely: it is checked on every read. Keys: kernel/description.py.\n")


def write_description(desc: Description, folder: Path) -> Path:
    """Validate, then write folder/competition.yaml atomically (a temp file renamed over it)."""
    path = Path(folder) / FILE
    desc.check(path)
    text = HEADER + yaml.safe_dump(desc.to_mapping(), sort_keys=False, allow_unicode=True, width=120)
    tmp = path.with_name(f".{FILE}.tmp")
    with writing(path):
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return path


# --- the index of described competitions ------------------------------------------------------------------

def config_dir() -> Path:
    if os.environ.get("SUBMIT_CONFIG_DIR"):
        return Path(os.environ["SUBMIT_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "submit"


def index_path() -> Path:
    return config_dir() / "competitions.yaml"


def described() -> dict[str, Path]:
    """Described competitions by name -> their folder (those whose competition.yaml still exists)."""
    path = index_path()
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, yaml.YAMLError):
        mapping = {}  # a damaged index is rebuilt by the next `submit init`; built-ins still work
    mapping = mapping if isinstance(mapping, dict) else {}
    return {str(k): Path(v) for k, v in mapping.items() if (Path(str(v)) / FILE).is_file()}


def remember(name: str, folder: Path) -> Path:
    """Add (or move) a described competition in the index; returns the index's path."""
    entries = {k: str(v) for k, v in described().items()} | {name: str(Path(folder).resolve())}
    path = index_path()
    tmp = path.with_name(f".{path.name}.tmp")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(yaml.safe_dump(entries, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    return path

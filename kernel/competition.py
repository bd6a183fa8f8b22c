"""What a competition plugin provides: loading and checking its files, metrics, folds, submission format.

    class Wsdm(Competition):
        name = "wsdm"
        task = PREFERENCE
        metrics = (Metric("accuracy", accuracy, higher_is_better=True),)
        def load(self, data_dir, **options) -> Dataset: ...

A plugin is a package: its class in `__init__.py`, a bundled synthetic sample in `sample/` (the host's
file layout, made by its `write_sample`), and recipes in `recipes/*.yaml` (`default.yaml` at least).
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from submit.kernel.errors import UserError
from submit.kernel.metrics import Metric
from submit.kernel.registry import RegistrationError
from submit.kernel.submissions import SubmissionSpec
from submit.kernel.tabular import TABULAR
from submit.kernel.tasks import TEXT_TASKS, TaskType

TASKS: dict[str, TaskType] = {t.name: t for t in (*TEXT_TASKS, *TABULAR)}  # every task type, by name

SCHEMES = ("stratified", "grouped", "multilabel")  # how folds are made (cv/folds.py)


class LoadOptionError(UserError, ValueError):
    """A loader option (the recipe's `data` section) outside what it accepts."""


def subset_rows(n_rows: int, limit: int | None) -> np.ndarray:
    """Row indices of the recipe's `data.limit`: a seeded random subset kept in file order.

    Random rather than the first rows, which are often the oldest; seeded, so every run keeps the same
    rows and the saved folds and caches stay valid.
    """
    if limit is None or limit >= n_rows:
        return np.arange(n_rows)
    if limit < 1:
        raise LoadOptionError(f"data.limit must be at least 1, got {limit}")
    return np.sort(np.random.default_rng(0).choice(n_rows, size=limit, replace=False))


def _array_bytes(array: np.ndarray) -> bytes:
    """Bytes that identify an array's content: numbers as they are stored (with dtype and shape), anything else
    (group keys) as text. Never numbers as text: that copy is 128 bytes a cell (GBs for a wide tag matrix)."""
    if array.dtype.kind in "biuf":
        return f"{array.dtype.str}{array.shape}".encode() + np.ascontiguousarray(array).tobytes()
    return array.astype(str).astype("U").tobytes()


@dataclass(frozen=True)
class NotebookHardware:
    """A host's notebook against this machine, for a code competition's run-time estimate (submit/budget.py)."""

    ratio: float  # host seconds for one CPU second of prediction here
    why: str  # said beside the estimate


# Prediction runs on one core (one BLAS thread, one LightGBM thread), so per-core speed decides: Kaggle's CPU
# notebooks run on Xeon vCPUs at 2.0-2.2 GHz, this machine on 2.6 GHz EPYC cores. A GPU notebook speeds up only
# the LLM heads.
KAGGLE_CPU_NOTEBOOK = NotebookHardware(1.5, "Kaggle's CPU notebook cores (Xeon, 2.0-2.2 GHz) taken as 1.5 times "
                                            "as slow as this machine's (EPYC, 2.6 GHz)")
AS_FAST_AS_HERE = NotebookHardware(1.0, "the host taken as fast as this machine")


@dataclass
class Dataset:
    """A competition's files, read and checked, in the task's canonical columns.

    `train` and `test` both have an `id` column and the task's input columns. `y` is the target array
    (see kernel/tasks.py); `groups` keeps related rows in one fold; `stratify` holds the labels that
    stratified folds balance (multi-label: the indicator matrix).
    """

    train: pd.DataFrame
    test: pd.DataFrame
    y: np.ndarray | None
    sample_submission: pd.DataFrame | None
    groups: np.ndarray | None = None
    stratify: np.ndarray | None = None
    label_names: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # plugin-specific (e.g. reference answers)

    def fingerprint(self) -> str:
        """A content hash of everything the experiments learn from and predict on."""
        digest = hashlib.sha256()
        for frame in (self.train, self.test):
            digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
            digest.update(",".join(map(str, frame.columns)).encode())
        for array in (self.y, self.groups):
            if array is not None:
                digest.update(_array_bytes(np.asarray(array)))
        for key in sorted(self.extra):
            digest.update(repr((key, self.extra[key])).encode())
        return digest.hexdigest()[:16]


class Competition:
    """Base class of competition plugins; subclasses set the class attributes and implement `load`."""

    name: ClassVar[str]
    title: ClassVar[str]
    host: ClassVar[str]  # kaggle | dacon | local
    slug: ClassVar[str | None] = None  # the host's id for the competition
    url: ClassVar[str | None] = None
    code_competition: ClassVar[bool] = False  # the host scores a notebook run offline, not an uploaded file
    # Code competitions: the notebook's run-time limit on the host, and about how many test rows it predicts
    # there (the hidden test set), for `submit package` and `submit predict`'s run-time estimate.
    notebook_limit_h: ClassVar[float | None] = None
    host_test_rows: ClassVar[int | None] = None
    notebook_hardware: ClassVar[NotebookHardware] = AS_FAST_AS_HERE  # how fast the host's notebook runs
    # The host's training rows and a row's mean tokens (prompt and answers), for `submit plan`'s time.
    host_train_rows: ClassVar[int | None] = None
    host_row_tokens: ClassVar[int | None] = None
    task: ClassVar[TaskType]
    metrics: ClassVar[tuple[Metric, ...]]  # the first is the leaderboard's
    folds_scheme: ClassVar[str]  # stratified | grouped | multilabel
    # The folder `sample_dir` names is a synthetic sample shipped with the plugin (a described competition's
    # is the user's own files instead): said so when a run falls back to it.
    synthetic_sample: ClassVar[bool] = True

    @property
    def metric(self) -> Metric:
        return self.metrics[0]

    @property
    def package_dir(self) -> Path:
        return Path(inspect.getfile(type(self))).parent

    @property
    def sample_dir(self) -> Path:
        return self.package_dir / "sample"

    @property
    def recipes_dir(self) -> Path:
        return self.package_dir / "recipes"

    def recipe_names(self) -> list[str]:
        return sorted(p.stem for p in self.recipes_dir.glob("*.yaml"))

    def load(self, data_dir: Path, **options: Any) -> Dataset:
        """Read and check the files in data_dir; raise competitions.checks.DataError on bad input."""
        raise NotImplementedError

    def load_unlabeled(self, data_dir: Path) -> pd.DataFrame:
        """Rows without labels (for pseudo-labels: the recipe's data.unlabeled), in the canonical columns of
        the test rows: data_dir holds a `test` table in the host's layout of its test file."""
        raise LoadOptionError(f"{self.name} does not read unlabelled rows (data.unlabeled); pseudo-label its test "
                              "rows instead (leave data.unlabeled out)")

    def write_sample(self, out_dir: Path, seed: int = 0) -> None:
        """Write a deterministic synthetic sample, with a learnable signal, in the host's file layout."""
        raise NotImplementedError

    def targets(self, dataset: Dataset, embedder: str | None) -> np.ndarray:
        """The target array heads learn from; answer-embedding plugins embed references with `embedder`."""
        if dataset.y is None:
            raise ValueError(f"{self.name}: the data holds no training targets")
        return dataset.y

    def fit_decision(self, y: np.ndarray, oof: np.ndarray) -> dict[str, Any]:
        """Parameters of the step from raw predictions to what is scored, fitted on OOF: the task's own."""
        return self.task.fit_decision(y, oof)

    def decide(self, pred: np.ndarray, decision: dict[str, Any]) -> np.ndarray:
        return self.task.decide(pred, decision)

    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        raise NotImplementedError

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        """The host's submission frame for the test rows, from decided test predictions."""
        raise NotImplementedError

    def score(self, y: np.ndarray, decided: np.ndarray) -> dict[str, float]:
        return {m.name: m(y, decided) for m in self.metrics}


def check_competition_class(name: str, cls: Any) -> None:
    """What registering `cls` as `name` needs: a Competition subclass of that name, a known task type, a metric,
    a folds scheme, and a constructor that takes nothing and stores nothing (work belongs in load)."""
    if not (isinstance(cls, type) and issubclass(cls, Competition)):
        raise RegistrationError(f"competition '{name}': {cls!r} is not a competitions.base.Competition subclass")
    problems = []
    if getattr(cls, "name", None) != name:
        problems.append(f"its name attribute is {getattr(cls, 'name', None)!r}")
    task = getattr(cls, "task", None)
    # A competition may bring its own instance of a task type (a generation task with its metric as the
    # similarity), but of a known type under its known name: heads declare the tasks they serve by name.
    if not (isinstance(task, TaskType) and type(task) is type(TASKS.get(task.name))):
        problems.append(f"its task {task!r} is not an instance of one of the task types of TASKS "
                        f"({', '.join(TASKS)}) under its name")
    if not getattr(cls, "metrics", ()) or not all(isinstance(m, Metric) for m in cls.metrics):
        problems.append("metrics must be a non-empty tuple of Metric")
    if getattr(cls, "folds_scheme", None) not in SCHEMES:
        problems.append(f"folds_scheme {getattr(cls, 'folds_scheme', None)!r} is not one of {', '.join(SCHEMES)}")
    if not problems:
        try:
            stored = vars(cls())
        except TypeError as err:
            stored = {"(the constructor)": str(err)}
        if stored:
            problems.append(f"its constructor must take no arguments and store nothing, got {sorted(stored)}")
    if problems:
        raise RegistrationError(f"competition '{name}' ({cls.__module__}.{cls.__qualname__}): " + "; ".join(problems))

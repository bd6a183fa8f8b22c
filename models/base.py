"""The head contract, scikit-learn style.

    head = HEADS.get("lgbm-pairwise")(n_estimators=300, seed=0)   # the constructor only stores
    head.prepare(X_all, task=PREFERENCE)                            # optional: cache features of all rows first
    head.fit(X_train, y_train, task=PREFERENCE, X_valid=X_valid, y_valid=y_valid)   # returns the head
    head.fit(X_train, y_train, context=FitContext(work_dir=fold / "work", label_names=("a", "b")))
    HEADS.get("lgbm-pairwise").param_problem("learning_rate", -1)   # "expected a number above 0"
    pred = head.predict(X_test)                                     # the task's prediction array
    head.save(folder); same = type(head).load(folder)

X is a DataFrame in the task's canonical columns (kernel/tasks.py, kernel/tabular.py). A head is handed its task in
`fit` (by default the one task it declares) and keeps it as `task_`; y and predictions are of the
task's prediction kind (float (n, k) arrays, or (n,) arrays of str for text): heads do not guess their
task from the columns. Subclasses implement `_fit`, `_predict`, and `_save`/`_load` for their fitted
state (JSON, safetensors, LightGBM text: no pickles). Fitted attributes end in `_`. What a caller knows about
a fit beyond its rows (a folder for checkpoints, the names of y's columns) comes as a FitContext to `fit`,
which the head keeps as `context_` while it fits; nothing sets attributes on a head from outside.

A head declares the values each parameter takes beyond its type in `limits`, next to its defaults:
`limits = limits_of(n_estimators=at_least(1), subsample=between(0, 1, low_open=True))`. A recipe is checked
against them before any work, and `fit` checks them again for heads built in code. A parameter takes
None only when its annotation says so (`encoder: str | None`).
"""

from __future__ import annotations

import inspect
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from submit.kernel.competition import TASKS
from submit.kernel.errors import UserError, writing
from submit.kernel.registry import RegistrationError
from submit.kernel.tasks import TaskType


class NotFittedError(RuntimeError):
    pass


class HeadSettingError(UserError, ValueError):
    """A head's parameters out of their range, or settings that do not go together."""


@dataclass(frozen=True)
class Limit:
    """The values a parameter takes beyond its type: a range (`low`/`high`, left out when `*_open`), or `choices`."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()

    def allows(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True  # the type is checked elsewhere
        if not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.high is None:
            return f"a number {'above' if self.low_open else 'at least'} {_number(self.low)}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"a number in {left}{_number(self.low)}, {_number(self.high)}{right}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def at_least(low: float) -> Limit:
    return Limit(low=low)


def above(low: float) -> Limit:
    return Limit(low=low, low_open=True)


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Limit:
    return Limit(low=low, high=high, low_open=low_open, high_open=high_open)


def one_of(*choices: Any) -> Limit:
    return Limit(choices=choices)


def limits_of(**by_param: Limit) -> Mapping[str, Limit]:
    """A head's `limits`, read-only: `limits = limits_of(n_estimators=at_least(1), learning_rate=above(0))`."""
    return MappingProxyType(by_param)


def held_out_mask(X: pd.DataFrame, column: str, fraction: float, seed: int) -> np.ndarray | None:
    """The rows to hold out for early stopping (a boolean mask): a seeded share of the values of `column`, all
    rows of a value on one side; None when a side would be empty. Heads use it on their training fold: the
    runner never passes them the scored fold."""
    keys = X[column].astype(str)
    unique = keys.unique()
    rng = np.random.default_rng(seed)
    held = set(rng.choice(unique, size=max(1, int(len(unique) * fraction)), replace=False))
    mask = keys.isin(held).to_numpy()
    return None if mask.all() or not mask.any() else mask


def one_hot(y: np.ndarray) -> bool:
    """Every row a single class with weight 1: hard labels."""
    return bool(np.isin(y, (0.0, 1.0)).all() and (y.sum(axis=1) == 1).all())


def soft_label_rows(y: np.ndarray, sample_weight: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, class, weight) of each copy: a row once per class it gives weight to, weighted by that class's
    share times the row's weight. A classifier fitted on these weighted hard labels minimises the
    cross-entropy of the soft targets (the distillation loss), for any number of classes."""
    rows, classes = np.nonzero(y > 0)
    weights = y[rows, classes] * (1.0 if sample_weight is None else sample_weight[rows])
    return rows, classes, weights


@dataclass(frozen=True)
class FitContext:
    """What a fit is told beyond its rows and parameters; the CV runner gives each fold one."""

    work_dir: Path | None = None  # a folder whose content survives an interrupted fit (checkpoints); None: none
    label_names: tuple[str, ...] = ()  # the names of y's columns (tags), if the data names them


class Head:
    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]]
    limits: ClassVar[Mapping[str, Limit]] = MappingProxyType({})  # parameter -> the values it takes (see above)
    # The head learns from soft targets (class distributions, tag probabilities, blended vectors: what a
    # teacher's soft labels and pseudo-labels are) and takes per-row `sample_weight` in fit. Heads without it
    # read only hard labels, so distillation and pseudo-labels refuse them.
    soft_targets: ClassVar[bool] = False

    @classmethod
    def param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY]

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        signature = inspect.signature(cls.__init__)
        return {p.name: p.default for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY}

    @classmethod
    def param_limits(cls) -> dict[str, Limit]:
        """Limits declared by this class and the classes it extends (a subclass's own win)."""
        merged: dict[str, Limit] = {}
        for klass in reversed(cls.__mro__):
            merged |= dict(vars(klass).get("limits", {}))
        return merged

    @classmethod
    def _takes_none(cls, name: str) -> bool:
        for klass in cls.__mro__:
            init = vars(klass).get("__init__")
            if init is not None and name in init.__annotations__:
                hint = typing.get_type_hints(init).get(name)
                return hint is type(None) or type(None) in typing.get_args(hint)
        return False

    @classmethod
    def param_problem(cls, name: str, value: Any) -> str | None:
        """What is wrong with `value` for the parameter `name` (its type is checked by the recipe), or None."""
        if value is None:
            default = cls.param_defaults().get(name)
            if default is None or cls._takes_none(name):
                return None
            return f"null, expected a value ({default!r} by default)"
        limit = cls.param_limits().get(name)
        if limit is not None and not limit.allows(value):
            return f"{value!r}, expected {limit.expected()}"
        return None

    def check_params(self) -> None:
        """Each parameter within its limits, then the ones that must agree with each other (HeadSettingError)."""
        problems = [f"{name}={problem}" for name in self.param_names()
                    if (problem := self.param_problem(name, getattr(self, name))) is not None]
        problems = problems or self._combination_problems()
        if problems:
            raise HeadSettingError(f"{self.name}: " + "; ".join(problems))

    def _combination_problems(self) -> list[str]:
        """Parameters that are each allowed but do not go together (for subclasses)."""
        return []

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def clone(self) -> Head:
        """A fresh, unfitted head with the same parameters (one per fold keeps folds independent)."""
        return type(self)(**self.get_params())

    @property
    def is_fitted(self) -> bool:
        return getattr(self, "fitted_", False)

    @classmethod
    def resolve_task(cls, task: TaskType | str | None) -> TaskType:
        """The task a head is fitted for: the one given (by object or name), or the only one it declares."""
        if task is None:
            if len(cls.tasks) != 1:
                raise ValueError(f"{cls.name} serves {', '.join(sorted(cls.tasks))}: pass the task to fit "
                                 f"(fit(X, y, task=...))")
            task = next(iter(cls.tasks))
        if isinstance(task, str):
            task = TASKS[task]
        if task.name not in cls.tasks:
            raise ValueError(f"{cls.name} serves {', '.join(sorted(cls.tasks))}, not the {task.name} task")
        return task

    def fit(self, X: pd.DataFrame, y: np.ndarray, *, task: TaskType | str | None = None,
            X_valid: pd.DataFrame | None = None, y_valid: np.ndarray | None = None,
            sample_weight: np.ndarray | None = None, context: FitContext | None = None) -> Head:
        """Learn from rows X and targets y; `sample_weight` (heads with soft_targets): each row's weight;
        `context`: where to keep checkpoints and what y's columns are called (kept as `context_`)."""
        self.check_params()
        if len(X) != len(y):
            raise ValueError(f"{self.name}: X has {len(X)} rows but y has {len(y)}")
        weights = {}
        if sample_weight is not None:
            if not self.soft_targets:
                raise ValueError(f"{self.name} takes no sample weights (it learns from hard labels only)")
            if len(sample_weight) != len(X):
                raise ValueError(f"{self.name}: {len(sample_weight)} sample weights for {len(X)} rows")
            weights = {"sample_weight": np.asarray(sample_weight, dtype=np.float64)}
        self.task_ = self.resolve_task(task)
        self.context_ = context or FitContext()
        kind = self.task_.prediction
        y = kind.coerce(y)
        self.n_outputs_ = kind.width(y)
        self._fit(X.reset_index(drop=True), y, None if X_valid is None else X_valid.reset_index(drop=True),
                  None if y_valid is None else kind.coerce(y_valid), **weights)
        self.fitted_ = True
        return self

    def prepare(self, X: pd.DataFrame, *, task: TaskType | str | None = None) -> None:
        """Compute and cache what fit and predict will need for these rows (embeddings, text features), for
        the task fit will be given (by default the one task the head declares).

        Optional: the CV runner calls it once on all training and test rows before the folds, so that work is
        done once, shown as its own stage, and spread over worker processes where the cache allows, rather
        than inside the first fold. It must not change what fit and predict return. Subclasses implement
        `_prepare`; by default it does nothing.
        """
        self._prepare(X.reset_index(drop=True), self.resolve_task(task))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: call fit before predict")
        return self.task_.prediction.coerce(self._predict(X.reset_index(drop=True)))

    def evaluate(self, X: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
        """Measures of the fitted head on held-out rows with their targets, beside the competition's metric
        (LLM heads: the loss of the reference answers). The runner records them per fold; none by default."""
        return {}

    def save(self, path: Path) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: nothing to save before fit")
        path = Path(path)
        meta = {"head": self.name, "task": self.task_.name, "params": self.get_params(), "n_outputs": self.n_outputs_}
        with writing(path):  # a full disk says so; the fold is not finished until its result is written
            path.mkdir(parents=True, exist_ok=True)
            (path / "head.json").write_text(json.dumps(meta, indent=2))
            self._save(path)

    @classmethod
    def load(cls, path: Path) -> Head:
        path = Path(path)
        meta = json.loads((path / "head.json").read_text())
        if meta["head"] != cls.name:
            raise ValueError(f"{path} holds a '{meta['head']}' head, not '{cls.name}'")
        head = cls(**meta["params"])
        head.task_ = cls.resolve_task(meta.get("task"))  # saved before heads kept their task: the only one
        head.n_outputs_ = meta["n_outputs"]
        head._load(path)
        head.fitted_ = True
        return head

    # --- for subclasses ---
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_valid: pd.DataFrame | None,
             y_valid: np.ndarray | None) -> None:
        """Learn from the rows; a head with soft_targets also takes `sample_weight` (given only when set)."""
        raise NotImplementedError

    def _prepare(self, X: pd.DataFrame, task: TaskType) -> None:
        pass

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _save(self, path: Path) -> None:
        raise NotImplementedError

    def _load(self, path: Path) -> None:
        raise NotImplementedError


def check_head_class(name: str, cls: Any) -> None:
    """What registering `cls` as `name` needs: a Head subclass of that name serving known task types, every
    parameter keyword-only with a default inside its limits, and a constructor that only stores them."""
    if not (isinstance(cls, type) and issubclass(cls, Head)):
        raise RegistrationError(f"head '{name}': {cls!r} is not a models.base.Head subclass")
    problems = []
    if getattr(cls, "name", None) != name:
        problems.append(f"its name attribute is {getattr(cls, 'name', None)!r}")
    tasks = getattr(cls, "tasks", frozenset())
    if not tasks or set(tasks) - set(TASKS):
        problems.append(f"its tasks {sorted(tasks)} must be task types of submit.kernel.competition.TASKS "
                        f"({', '.join(TASKS)})")
    params = inspect.signature(cls.__init__).parameters.values()
    positional = [p.name for p in params if p.name != "self" and p.kind != p.KEYWORD_ONLY]
    no_default = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if positional or no_default:
        problems.append(f"every parameter must be keyword-only with a default: {sorted(positional + no_default)}")
    defaults = cls.param_defaults()
    unknown = sorted(set(cls.param_limits()) - set(defaults))
    if unknown:
        problems.append(f"limits name no parameter: {unknown}")
    problems += [f"the default {name_}={problem}" for name_, value in defaults.items()
                 if name_ not in unknown and (problem := cls.param_problem(name_, value)) is not None]
    if not problems:
        stored = vars(cls())
        if stored != defaults:
            problems.append(f"its constructor must store each parameter as given and nothing else; it stored "
                            f"{sorted(stored)} for the parameters {sorted(defaults)}")
    if problems:
        raise RegistrationError(f"head '{name}' ({cls.__module__}.{cls.__qualname__}): " + "; ".join(problems))

"""The head contract, scikit-learn style.

    head = HEADS.get("lgbm-pairwise")(n_estimators=300, seed=0)   # the constructor only stores
    head.fit(X_train, y_train, task=PREFERENCE, X_valid=X_valid, y_valid=y_valid)   # returns the head
    pred = head.predict(X_test)                                     # the task's prediction array
    head.save(folder); same = type(head).load(folder)

X is a DataFrame in the task's canonical columns (competitions.tasks). A head is handed its task in
`fit` (by default the one task it declares) and keeps it as `task_`; y and predictions are of the
task's prediction kind (float (n, k) arrays, or (n,) arrays of str for text): heads do not guess their
task from the columns. Subclasses implement `_fit`, `_predict`, and `_save`/`_load` for their fitted
state (JSON, safetensors, LightGBM text: no pickles). Fitted attributes end in `_`.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from competitions.errors import UserError
from competitions.tasks import TASKS, TaskType


class NotFittedError(RuntimeError):
    pass


class HeadUnavailable(UserError, RuntimeError):
    """A head whose optional packages are not installed; the message gives the install command."""


def hold_out_groups(X: pd.DataFrame, y: np.ndarray, column: str, fraction: float, seed: int
                    ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None, np.ndarray | None]:
    """Hold out a seeded share of the values of `column` (all rows of a value on one side) for early stopping.

    Returns (X_train, y_train, X_valid, y_valid); the valid pair is None when the split would leave a side
    empty. Heads use it on their training fold: the runner never passes them the scored fold.
    """
    keys = X[column].astype(str)
    unique = keys.unique()
    rng = np.random.default_rng(seed)
    held = set(rng.choice(unique, size=max(1, int(len(unique) * fraction)), replace=False))
    mask = keys.isin(held).to_numpy()
    if mask.all() or not mask.any():
        return X, y, None, None
    return X[~mask].reset_index(drop=True), y[~mask], X[mask].reset_index(drop=True), y[mask]


class Head:
    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]]
    # Lent by the CV runner before fit; plain attributes, not parameters. work_dir: a folder whose content
    # survives an interrupted fold (checkpoints); label_names: the names of y's columns (tags), if any.
    work_dir: Path | None = None
    label_names: list[str] | None = None

    @classmethod
    def param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY]

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        signature = inspect.signature(cls.__init__)
        return {p.name: p.default for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY}

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
            X_valid: pd.DataFrame | None = None, y_valid: np.ndarray | None = None) -> Head:
        if len(X) != len(y):
            raise ValueError(f"{self.name}: X has {len(X)} rows but y has {len(y)}")
        self.task_ = self.resolve_task(task)
        kind = self.task_.prediction
        y = kind.coerce(y)
        self.n_outputs_ = kind.width(y)
        self._fit(X.reset_index(drop=True), y, None if X_valid is None else X_valid.reset_index(drop=True),
                  None if y_valid is None else kind.coerce(y_valid))
        self.fitted_ = True
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: call fit before predict")
        return self.task_.prediction.coerce(self._predict(X.reset_index(drop=True)))

    def save(self, path: Path) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{self.name}: nothing to save before fit")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"head": self.name, "task": self.task_.name, "params": self.get_params(), "n_outputs": self.n_outputs_}
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
        raise NotImplementedError

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _save(self, path: Path) -> None:
        raise NotImplementedError

    def _load(self, path: Path) -> None:
        raise NotImplementedError

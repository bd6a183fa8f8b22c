"""LightGBM on a typed table with text columns: the default head of described competitions.

    head = TabularLgbm(n_estimators=2000, learning_rate=0.05, text="both")
    head.fit(X, y, task=tabular_task("regression", "rmsle"))   # X: competitions/described's typed columns
    pred = head.predict(X_new)                                  # the task's array (expm1 undone for RMSLE)
    head.save(folder); same = TabularLgbm.load(folder)          # LightGBM text, JSON, npz: no pickles

Columns by dtype (models/tabular_features.py): numbers as they are, categoricals as LightGBM's native
categoricals, datetimes as parts and an epoch, each text column as TF-IDF word and char n-grams turned into
`text` features: "svd" (components), "linear" (honest out-of-fold ridge predictions of the targets that the
trees then read) or "both".

Targets by task: regression learns the task's model space (log1p for RMSLE; L1 when the metric is MAE), one
booster per target column; binary one booster on the positive class; multiclass one softmax booster;
multilabel one booster per column. With `early_stopping_rounds` > 0, a seeded `valid_fraction` of the training
rows is held out to pick the number of trees (never the scored fold: the runner never passes it).

Soft targets (a teacher's predictions mixed in by distillation, pseudo-labelled rows) and row weights: regression
takes the values as they are; binary and multilabel probabilities switch the objective from `binary` to
LightGBM's `cross_entropy`, which takes labels in [0, 1]; multiclass distributions become one weighted copy of
a row per class it gives weight to (models/base.py soft_label_rows), whose softmax loss is the distributions'
cross-entropy. A copy is held out for early stopping with its row. Hard labels take the plain path unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from submit.kernel.tabular import TabularTask
from submit.models.base import Head, above, at_least, between, limits_of, one_hot, one_of, soft_label_rows
from submit.models.tabular_features import (
    TextModel,
    category_codes,
    category_list,
    column_roles,
    date_parts,
    one_blas_thread,
)


@dataclass(frozen=True)
class BoosterTarget:
    """What one booster learns: a target per row and the rows' weights; for soft classes, weighted copies of
    rows, `rows` giving the original row of each copy (None: the rows themselves, in order)."""

    values: np.ndarray
    weight: np.ndarray | None = None
    rows: np.ndarray | None = None


class TabularLgbm(Head):
    name = "tabular-lgbm"
    tasks = frozenset({"regression", "binary", "multiclass", "multilabel", "tagging"})  # tagging: as multilabel
    soft_targets = True  # a teacher's values or probabilities and row weights: see the module docstring
    limits = limits_of(n_estimators=at_least(1), learning_rate=above(0), num_leaves=at_least(2),
                       min_child_samples=at_least(1), feature_fraction=between(0, 1, low_open=True),
                       early_stopping_rounds=at_least(0), valid_fraction=between(0, 1, low_open=True, high_open=True),
                       text=one_of("svd", "linear", "both", "none"), svd_components=at_least(1),
                       word_max=at_least(1), alpha=above(0), n_jobs=at_least(1), seed=at_least(0))

    def __init__(self, *, n_estimators: int = 2000, learning_rate: float = 0.05, num_leaves: int = 31,
                 min_child_samples: int = 20, feature_fraction: float = 0.8, early_stopping_rounds: int = 100,
                 valid_fraction: float = 0.1, text: str = "both", svd_components: int = 16, word_max: int = 2,
                 char_ngrams: bool = True, alpha: float = 3.0, n_jobs: int = 1, seed: int = 0) -> None:
        self.n_estimators = n_estimators  # the most trees; early stopping picks fewer
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction  # a share of the columns per tree: text features do not crowd out
        self.early_stopping_rounds = early_stopping_rounds  # 0: all n_estimators trees, no held-out rows
        self.valid_fraction = valid_fraction
        self.text = text  # svd | linear | both | none (text columns dropped)
        self.svd_components = svd_components
        self.word_max = word_max
        self.char_ngrams = char_ngrams
        self.alpha = alpha  # the ridge of the text predictions
        self.n_jobs = n_jobs
        self.seed = seed

    # --- features ---
    def _text_model(self) -> TextModel:
        return TextModel(word_max=self.word_max, char=self.char_ngrams, svd=self.svd_components if self.text in (
            "svd", "both") else 0, linear=self.text in ("linear", "both"), alpha=self.alpha, seed=self.seed)

    def _matrix(self, X: pd.DataFrame, text_parts: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
        columns, names = [], []
        for name, role in self.roles_.items():
            if role == "numeric":
                columns.append(pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=np.float64)[:, None])
                names.append(name)
            elif role == "categorical":
                columns.append(category_codes(X[name], self.categories_[name])[:, None])
                names.append(name)
            elif role == "datetime":
                parts = date_parts(X[name])
                columns.append(np.column_stack(list(parts.values())))
                names += [f"{name}__{p}" for p in parts]
            elif name in text_parts:
                columns.append(text_parts[name])
                names += [f"{name}__text{j}" for j in range(text_parts[name].shape[1])]
        return (np.hstack(columns) if columns else np.zeros((len(X), 0))), names

    def _texts(self, X: pd.DataFrame, name: str) -> list[str]:
        return X[name].fillna("").astype(str).tolist()

    # --- targets ---
    def _targets(self, y: np.ndarray, sample_weight: np.ndarray | None) -> list[BoosterTarget]:
        """One target per booster: regression and multilabel columns, the positive class, the class index (or,
        for class distributions, the class of each weighted copy of a row)."""
        if self.task_.name == "multiclass":
            if one_hot(y):
                return [BoosterTarget(y.argmax(axis=1), sample_weight)]
            rows, classes, weights = soft_label_rows(y, sample_weight)
            return [BoosterTarget(classes, weights, rows)]
        if self.task_.name == "binary":
            return [BoosterTarget(y[:, 1], sample_weight)]
        if self.task_.name == "regression":
            y = np.log1p(np.maximum(y, 0)) if self.log_target_ else y
        return [BoosterTarget(y[:, j], sample_weight) for j in range(y.shape[1])]

    def _objective(self, y: np.ndarray) -> dict:
        if self.task_.name == "multiclass":
            return {"objective": "multiclass", "num_class": self.n_outputs_}
        if self.task_.name in ("binary", "multilabel", "tagging"):  # cross_entropy: log loss of labels in [0, 1]
            return {"objective": "binary" if np.isin(y, (0.0, 1.0)).all() else "cross_entropy"}
        return {"objective": "l1" if getattr(self.task_, "metric", "") == "mae" else "l2"}

    def _params(self) -> dict:
        return {**self.objective_, "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples, "feature_fraction": self.feature_fraction,
                "seed": self.seed, "num_threads": self.n_jobs, "deterministic": True, "force_row_wise": True,
                "verbosity": -1}

    def _held_out(self, n: int) -> np.ndarray:
        """The training rows held out for early stopping (a seeded share; none when off or too few rows)."""
        held = np.zeros(n, dtype=bool)
        if self.early_stopping_rounds and n >= 20:
            rng = np.random.default_rng(self.seed)
            held[rng.choice(n, size=max(1, int(n * self.valid_fraction)), replace=False)] = True
        return held

    def _booster(self, matrix: np.ndarray, target: BoosterTarget, categorical: list[int]) -> lgb.Booster:
        held = self._held_out(len(matrix))
        if target.rows is not None:  # copies of rows: each goes where its row goes
            matrix, held = matrix[target.rows], held[target.rows]
        weight = target.weight

        def part(side: np.ndarray, **options) -> lgb.Dataset:
            return lgb.Dataset(matrix[side], target.values[side], weight=None if weight is None else weight[side],
                               categorical_feature=categorical, **options)

        train = part(~held, free_raw_data=True)
        if not held.any():
            return lgb.train(self._params(), train, num_boost_round=self.n_estimators)
        stop = lgb.early_stopping(self.early_stopping_rounds, verbose=False)
        return lgb.train(self._params(), train, num_boost_round=self.n_estimators,
                         valid_sets=[part(held, reference=train)], callbacks=[stop])

    @one_blas_thread
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_valid: pd.DataFrame | None, y_valid: np.ndarray | None,
             sample_weight: np.ndarray | None = None) -> None:
        self.log_target_ = bool(getattr(self.task_, "log_target", False))
        self.objective_ = self._objective(y)
        self.roles_ = column_roles(X)
        self.categories_ = {n: category_list(X[n]) for n, r in self.roles_.items() if r == "categorical"}
        self.text_models_, text_parts = {}, {}
        if self.text != "none":
            model_y = self.task_.to_model(y) if isinstance(self.task_, TabularTask) else y
            for name in (n for n, r in self.roles_.items() if r == "text"):
                self.text_models_[name] = self._text_model()
                text_parts[name] = self.text_models_[name].fit(self._texts(X, name), model_y,
                                                                sample_weight=sample_weight)
        matrix, names = self._matrix(X, text_parts)
        categorical = [i for i, n in enumerate(names) if self.roles_.get(n) == "categorical"]
        self.boosters_ = [self._booster(matrix, t, categorical) for t in self._targets(y, sample_weight)]

    @one_blas_thread
    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        text_parts = {n: m.transform(self._texts(X, n)) for n, m in self.text_models_.items()}
        matrix, _ = self._matrix(X, text_parts)
        raw = [b.predict(matrix) for b in self.boosters_]
        if self.task_.name == "multiclass":
            return raw[0].reshape(len(X), -1)
        if self.task_.name == "binary":
            return np.column_stack([1 - raw[0], raw[0]])
        pred = np.column_stack(raw)
        return np.expm1(pred) if self.log_target_ else pred

    # --- plain data ---
    def _save(self, path: Path) -> None:
        meta = {"log_target": self.log_target_, "roles": self.roles_, "categories": self.categories_,
                "objective": self.objective_, "text": {}}
        arrays = {}
        for i, (name, model) in enumerate(self.text_models_.items()):
            meta["text"][name], more = model.state(f"t{i}_")
            arrays |= more
        (path / "tabular.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(path / "text.npz", **arrays)
        for i, booster in enumerate(self.boosters_):
            booster.save_model(str(path / f"booster{i}.txt"))

    def _load(self, path: Path) -> None:
        meta = json.loads((path / "tabular.json").read_text(encoding="utf-8"))
        self.log_target_, self.roles_, self.categories_ = meta["log_target"], meta["roles"], meta["categories"]
        self.objective_ = meta["objective"]
        with np.load(path / "text.npz", allow_pickle=False) as arrays:
            self.text_models_ = {name: TextModel.restore(f"t{i}_", state, arrays)
                                 for i, (name, state) in enumerate(meta["text"].items())}
        count = len(list(path.glob("booster*.txt")))
        self.boosters_ = [lgb.Booster(model_file=str(path / f"booster{i}.txt")) for i in range(count)]

"""A linear model on TF-IDF of a table's text columns, for tables where the text carries most of the signal.

    head = TfidfLinear(C=4.0)
    head.fit(X, y, task=tabular_task("multiclass", "logloss"))   # X: competitions/described's typed columns
    pred = head.predict(X_new)                                   # the task's array
    head.save(folder); same = TfidfLinear.load(folder)           # JSON and npz: no pickles

Each text column gives TF-IDF word (1..word_max) and character (3..5, within words) n-grams; categorical columns
are one-hot, numbers standardised (missing as the mean), datetimes as an epoch; the blocks are stacked. Binary
and multiclass: one multinomial logistic regression; multilabel and tagging: one per column; regression: ridge on the
task's model space (log1p for RMSLE).

Soft targets (distillation, pseudo-labels) and row weights: the ridge takes values and weights as they are;
a class distribution (or a multilabel column's probability p, as the two classes 1 - p and p) becomes one
weighted copy of its row per class (models/base.py soft_label_rows), so the logistic regression minimises
the distributions' cross-entropy. Hard labels take the plain path unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from submit.kernel.tabular import TabularTask
from submit.models.base import Head, above, at_least, limits_of, one_hot, soft_label_rows
from submit.models.tabular_features import category_codes, category_list, column_roles, date_parts, one_blas_thread
from submit.models.tfidf_ovr import restore_vectorizer, vectorizer_state


class TfidfLinear(Head):
    name = "tfidf-linear"
    tasks = frozenset({"regression", "binary", "multiclass", "multilabel", "tagging"})  # tagging: as multilabel
    soft_targets = True  # a teacher's values or probabilities and row weights: see the module docstring
    limits = limits_of(C=above(0), alpha=above(0), word_max=at_least(1), max_features=at_least(1),
                       max_iter=at_least(1), seed=at_least(0))

    def __init__(self, *, C: float = 4.0, alpha: float = 1.0, word_max: int = 2, char_ngrams: bool = True,
                 max_features: int = 100_000, max_iter: int = 300, seed: int = 0) -> None:
        self.C = C  # inverse L2 strength of the logistic regressions
        self.alpha = alpha  # L2 strength of the ridge (regression)
        self.word_max = word_max
        self.char_ngrams = char_ngrams
        self.max_features = max_features  # per vectorizer
        self.max_iter = max_iter
        self.seed = seed

    def _vectorizers(self) -> list[dict]:
        words = {"ngram_range": (1, self.word_max), "min_df": 1, "max_features": self.max_features,
                 "sublinear_tf": True, "dtype": np.float32}
        chars = {**words, "analyzer": "char_wb", "ngram_range": (3, 5)}
        return [words, chars] if self.char_ngrams else [words]

    def _dense(self, X: pd.DataFrame) -> np.ndarray:
        columns = []
        for name, role in self.roles_.items():
            if role == "numeric":
                columns.append(pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=np.float64))
            elif role == "datetime":
                columns.append(date_parts(X[name])["epoch_days"])
        return np.column_stack(columns) if columns else np.zeros((len(X), 0))

    def _matrix(self, X: pd.DataFrame) -> sp.csr_matrix:
        blocks = [v.transform(X[name].fillna("").astype(str).tolist()) for name, v in self.vectorizers_]
        dense = (self._dense(X) - self.means_) / self.scales_
        blocks.append(sp.csr_matrix(np.nan_to_num(dense)))
        for name, categories in self.categories_.items():
            codes = category_codes(X[name], categories)
            rows = np.flatnonzero(~np.isnan(codes))
            blocks.append(sp.csr_matrix((np.ones(len(rows)), (rows, codes[rows].astype(int))),
                                        shape=(len(X), len(categories))))
        return sp.hstack(blocks, format="csr")

    @one_blas_thread
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_valid: pd.DataFrame | None, y_valid: np.ndarray | None,
             sample_weight: np.ndarray | None = None) -> None:
        self.roles_ = column_roles(X)
        self.log_target_ = bool(getattr(self.task_, "log_target", False))
        self.categories_ = {n: category_list(X[n]) for n, r in self.roles_.items() if r == "categorical"}
        self.vectorizers_ = [(name, TfidfVectorizer(**params).fit(X[name].fillna("").astype(str).tolist()))
                             for name in (n for n, r in self.roles_.items() if r == "text")
                             for params in self._vectorizers()]
        dense = self._dense(X)
        self.means_ = np.nan_to_num(np.nanmean(dense, axis=0)) if dense.size else np.zeros(dense.shape[1])
        self.scales_ = np.nan_to_num(np.nanstd(dense, axis=0), nan=1.0) if dense.size else np.ones(dense.shape[1])
        self.scales_[self.scales_ == 0] = 1.0
        matrix = self._matrix(X)
        if self.task_.name == "regression":
            target = self.task_.to_model(y) if isinstance(self.task_, TabularTask) else y
            model = Ridge(alpha=self.alpha, solver="sparse_cg").fit(matrix, target, sample_weight=sample_weight)
            self.coef_, self.intercept_ = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
        elif self.task_.name in ("multilabel", "tagging"):
            models = [self._classes(matrix, np.column_stack([1 - y[:, j], y[:, j]]), sample_weight)
                      for j in range(y.shape[1])]
            self.coef_ = np.vstack([m.coef_ for m in models])
            self.intercept_ = np.concatenate([m.intercept_ for m in models])
        else:
            model = self._classes(matrix, y, sample_weight)
            self.coef_, self.intercept_ = model.coef_, model.intercept_

    def _classes(self, matrix: sp.csr_matrix, y: np.ndarray, weight: np.ndarray | None) -> LogisticRegression:
        """A logistic regression of class distributions y (n, c): hard labels as they are, soft ones as weighted
        copies of their rows per class."""
        if one_hot(y):
            return self._logistic(matrix, y.argmax(axis=1), weight)
        rows, classes, copy_weights = soft_label_rows(y, weight)
        return self._logistic(matrix[rows], classes, copy_weights)

    def _logistic(self, matrix: sp.csr_matrix, target: np.ndarray, weight: np.ndarray | None) -> LogisticRegression:
        if len(np.unique(target)) < 2:  # a column with one value in this fold: a constant model of it
            model = LogisticRegression()
            model.coef_ = np.zeros((1, matrix.shape[1]))
            rate = float(np.clip(np.average(target, weights=weight), 1e-4, 1 - 1e-4))
            model.intercept_ = np.array([np.log(rate / (1 - rate))])
            return model
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        return model.fit(matrix, target, sample_weight=weight)

    @one_blas_thread
    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        raw = self._matrix(X) @ self.coef_.T + self.intercept_
        if self.task_.name == "regression":
            return np.expm1(raw) if self.log_target_ else raw
        if self.task_.name in ("multilabel", "tagging") or raw.shape[1] == 1:
            p = 1 / (1 + np.exp(-raw))
            return p if self.task_.name in ("multilabel", "tagging") else np.column_stack([1 - p[:, 0], p[:, 0]])
        exp = np.exp(raw - raw.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def _save(self, path: Path) -> None:
        meta = {"roles": self.roles_, "categories": self.categories_, "log_target": self.log_target_,
                "vectorizers": [[name, *vectorizer_state(v)[:1]] for name, v in self.vectorizers_]}
        arrays = {f"idf{i}": vectorizer_state(v)[1] for i, (_, v) in enumerate(self.vectorizers_)}
        (path / "linear.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(path / "linear.npz", coef=self.coef_, intercept=self.intercept_, means=self.means_,
                            scales=self.scales_, **arrays)

    def _load(self, path: Path) -> None:
        meta = json.loads((path / "linear.json").read_text(encoding="utf-8"))
        self.roles_, self.categories_, self.log_target_ = meta["roles"], meta["categories"], meta["log_target"]
        params = self._vectorizers()
        with np.load(path / "linear.npz", allow_pickle=False) as arrays:
            self.coef_, self.intercept_ = arrays["coef"], arrays["intercept"]
            self.means_, self.scales_ = arrays["means"], arrays["scales"]
            self.vectorizers_ = [(name, restore_vectorizer(params[i % len(params)], terms, arrays[f"idf{i}"]))
                                 for i, (name, terms) in enumerate(meta["vectorizers"])]

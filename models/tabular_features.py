"""Columns of a typed table turned into numbers for trees and linear models, fitted and saved without pickles.

    text = TextModel(word_max=2, char=True, svd=16, linear=True, alpha=1.0, seed=0)
    train_feats = text.fit(texts, targets, inner_folds=3)     # honest OOF linear predictions + SVD components
    test_feats = text.transform(texts_of_new_rows)             # from the model fitted on every training row
    text.state() -> (json, arrays); TextModel.restore(json, arrays)

Roles come from dtypes (competitions/described types each column by its role): `category` is categorical
(integer codes over the categories seen in fit, missing and unseen as NaN), datetime64 becomes its parts and an
epoch (days), str/object is text, and numbers pass as they are. The `id` column is never a feature.

A text column gives TF-IDF word n-grams (1..word_max) and, with `char`, character n-grams (3..5 within words),
then either or both of: `svd` components of the TF-IDF matrix, and the predictions of a ridge model of the
targets on it (`linear`). The ridge predictions of the training rows are out-of-fold over `inner_folds`
folds of those rows alone, so a tree that reads them never sees a text model that saw its row's label; new
rows get the prediction of the ridge fitted on every training row. In the CV runner the head is fitted on the
outer training folds only, so fold k's text predictions never saw fold k's labels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from submit.models.tfidf_ovr import restore_vectorizer, vectorizer_state
from threadpoolctl import threadpool_limits

F = TypeVar("F", bound=Callable[..., Any])


def one_blas_thread(method: F) -> F:
    """Run on one BLAS thread: the SVD's and the linear models' sums then come out the same in this process,
    a worker process or a Ray task (each given other thread counts), so an experiment's id keeps its scores
    whatever executor ran it. Their costly parts are sparse products, which use one thread anyway."""
    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return method(*args, **kwargs)
    return wrapped  # type: ignore[return-value]

DATE_PARTS = ("year", "month", "day", "day_of_week", "hour")


def column_roles(X: pd.DataFrame) -> dict[str, str]:
    """column -> numeric | categorical | datetime | text, from its dtype (the id column left out)."""
    roles = {}
    for name, dtype in X.dtypes.items():
        if name == "id":
            continue
        if isinstance(dtype, pd.CategoricalDtype):
            roles[name] = "categorical"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            roles[name] = "datetime"
        elif pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            roles[name] = "numeric"
        else:
            roles[name] = "text"
    return roles


def date_parts(values: pd.Series) -> dict[str, np.ndarray]:
    """A datetime column's parts and its epoch in days (NaN where missing)."""
    values = pd.to_datetime(values, errors="coerce")
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(None)
    out = {part: getattr(values.dt, part).to_numpy(dtype=np.float64, na_value=np.nan) for part in DATE_PARTS}
    seconds = (values - pd.Timestamp(0)).dt.total_seconds()
    out["epoch_days"] = seconds.to_numpy(dtype=np.float64, na_value=np.nan) / 86_400
    return out


def category_codes(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Codes over the categories seen in fit; missing and unseen values are NaN (LightGBM's missing)."""
    index = {c: i for i, c in enumerate(categories)}
    codes = values.astype(object).map(lambda v: index.get(str(v), np.nan) if pd.notna(v) else np.nan)
    return codes.to_numpy(dtype=np.float64)


def category_list(values: pd.Series) -> list[str]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(c) for c in values.cat.categories]
    return sorted({str(v) for v in values.dropna()})


@dataclass
class TextModel:
    """One text column's features: see the module docstring. Plain data once fitted (state/restore)."""

    word_max: int = 2
    char: bool = True
    max_features: int = 100_000
    svd: int = 16
    linear: bool = True
    alpha: float = 1.0
    seed: int = 0

    def _vectorizers(self) -> list[TfidfVectorizer]:
        out = [TfidfVectorizer(ngram_range=(1, self.word_max), min_df=2, max_features=self.max_features,
                               sublinear_tf=True, dtype=np.float32)]
        if self.char:
            out.append(TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2,
                                       max_features=self.max_features, sublinear_tf=True, dtype=np.float32))
        return out

    def _matrix(self, texts: list[str]) -> sp.csr_matrix:
        return sp.hstack([v.transform(texts) for v in self.vectorizers_], format="csr")

    def _ridge(self, X: sp.csr_matrix, y: np.ndarray, weight: np.ndarray | None) -> Ridge:
        return Ridge(alpha=self.alpha, solver="sparse_cg", random_state=self.seed).fit(X, y, sample_weight=weight)

    def fit(self, texts: list[str], y: np.ndarray, inner_folds: int = 3,
            sample_weight: np.ndarray | None = None) -> np.ndarray:
        """Fit on the training rows (y may be soft: a ridge takes any values; `sample_weight` weighs the rows
        in it); their features, the ridge part out-of-fold (see the module docstring)."""
        self.vectorizers_ = self._vectorizers()
        blocks = []
        for vectorizer in self.vectorizers_:
            try:
                blocks.append(vectorizer.fit_transform(texts))
            except ValueError:  # too few distinct terms (a tiny sample): an empty vocabulary of its own
                vectorizer.set_params(min_df=1)
                blocks.append(vectorizer.fit_transform([*texts, "empty"])[: len(texts)])
        X = sp.hstack(blocks, format="csr")
        parts = []
        if self.svd:
            k = max(1, min(self.svd, X.shape[1] - 1, X.shape[0] - 1))
            self.svd_ = TruncatedSVD(k, random_state=self.seed).fit(X)
            parts.append(self.svd_.transform(X))
        if self.linear:
            oof = np.zeros((X.shape[0], y.shape[1]))
            n_splits = min(inner_folds, X.shape[0])
            for fit_idx, out_idx in KFold(n_splits, shuffle=True, random_state=self.seed).split(X):
                weight = None if sample_weight is None else sample_weight[fit_idx]
                oof[out_idx] = self._ridge(X[fit_idx], y[fit_idx], weight).predict(X[out_idx]).reshape(len(out_idx), -1)
            self.ridge_ = self._ridge(X, y, sample_weight)
            parts.append(oof)
        return np.hstack(parts) if parts else np.zeros((len(texts), 0))

    def transform(self, texts: list[str]) -> np.ndarray:
        X, parts = self._matrix(texts), []
        if self.svd:
            parts.append(self.svd_.transform(X))
        if self.linear:
            parts.append(self.ridge_.predict(X).reshape(X.shape[0], -1))
        return np.hstack(parts) if parts else np.zeros((len(texts), 0))

    def width(self) -> int:
        return (self.svd_.components_.shape[0] if self.svd else 0) + (
            np.atleast_2d(self.ridge_.coef_).shape[0] if self.linear else 0)

    # --- plain data ---
    def state(self, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta: dict[str, Any] = {"params": {k: getattr(self, k) for k in self.__dataclass_fields__}, "terms": []}
        arrays = {}
        for i, vectorizer in enumerate(self.vectorizers_):
            terms, idf = vectorizer_state(vectorizer)
            meta["terms"].append(terms)
            arrays[f"{prefix}idf{i}"] = idf
        if self.svd:
            arrays[f"{prefix}svd"] = self.svd_.components_
        if self.linear:
            arrays[f"{prefix}coef"] = np.atleast_2d(self.ridge_.coef_)
            arrays[f"{prefix}intercept"] = np.atleast_1d(self.ridge_.intercept_)
        return meta, arrays

    @classmethod
    def restore(cls, prefix: str, meta: dict[str, Any], arrays: Any) -> TextModel:
        model = cls(**meta["params"])
        templates = model._vectorizers()
        model.vectorizers_ = [restore_vectorizer({k: v for k, v in t.get_params().items() if k != "vocabulary"},
                                                 terms, arrays[f"{prefix}idf{i}"])
                              for i, (t, terms) in enumerate(zip(templates, meta["terms"], strict=True))]
        if model.svd:
            model.svd_ = TruncatedSVD(arrays[f"{prefix}svd"].shape[0])
            model.svd_.components_ = arrays[f"{prefix}svd"]
        if model.linear:
            model.ridge_ = Ridge(alpha=model.alpha)
            model.ridge_.coef_, model.ridge_.intercept_ = arrays[f"{prefix}coef"], arrays[f"{prefix}intercept"]
            model.ridge_.n_features_in_ = model.ridge_.coef_.shape[1]
        return model

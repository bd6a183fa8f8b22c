"""TF-IDF word and character n-grams with one logistic regression per tag.

    head = TfidfOvr(C=4.0, char_max=5)
    head.fit(train[["title", "body"]], y)          # y: (n, n_tags) 0/1 indicators
    scores = head.predict(test)                     # (n, n_tags) probabilities
    head.save(folder); same = TfidfOvr.load(folder)

The text is the title, then the body cut to `max_body_chars` (a long body would swamp a short title and
slow the character n-grams). Two vectorizers (words 1..word_max, char_wb char_min..char_max) are
stacked side by side; each block is l2-normalised on its own, so neither dominates by size.

Each tag learns from all its positive rows and at most `max_negatives` negative rows (a seeded sample,
weighted up to stand for all of them): one tag's fit costs about rows^1.15, so from the cap on a fold
grows linearly in rows (32,000 training titles: 39 s on one core; all negatives: about 6 times that).
The real 3,700 titles never reach the cap; on them, keeping half the negatives moved micro-F1 by -0.0005
and a quarter by -0.005 (the std over folds is 0.004).

A tag with fewer than `min_positives` positive rows in the training fold (or no negative row) is not
learned; it still gets a column, scored at its training rate, since predictions always span the whole
vocabulary (y.shape[1]). On the real titles, skipping tags with fewer than 3 positives cost no micro-F1
and a third of the fits.

Saved without pickles: vocabularies as JSON term lists, idf, intercepts and the coefficient matrix in npz
(allow_pickle=False), the vectorizers rebuilt from them on load. Coefficients are kept at float16
precision from fit on, so the files are half the size and a loaded head predicts exactly the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from submit.models.base import Head, above, at_least, limits_of, one_of


def text_columns(X: pd.DataFrame) -> list[str]:
    """The columns a row's text is read from: title and body (the tagging task's canonical columns), or, in a
    table of a described competition (no title), its text columns in order (str: the role it types text as)."""
    if "title" in X.columns:
        return ["title", "body"]
    return [c for c, dtype in X.dtypes.items() if c != "id" and (pd.api.types.is_object_dtype(dtype)
                                                               or pd.api.types.is_string_dtype(dtype))]


def texts_of(X: pd.DataFrame, max_body_chars: int) -> list[str]:
    """The first text column (the title) + " " + each other's (the body's) first max_body_chars characters."""
    first, *others = text_columns(X)
    texts = X[first].fillna("").astype(str)
    others = [c for c in others if c in X.columns]
    if not others or max_body_chars <= 0:
        return texts.tolist()
    for column in others:
        texts = texts + " " + X[column].fillna("").astype(str).str.slice(0, max_body_chars)
    return texts.str.strip().tolist()


def vectorizer_state(vectorizer: TfidfVectorizer) -> tuple[list[str], np.ndarray]:
    """A fitted vectorizer as plain data: its terms in index order and its idf (saved as JSON and npz)."""
    vocab = vectorizer.vocabulary_
    return sorted(vocab, key=vocab.__getitem__), vectorizer.idf_


def restore_vectorizer(params: dict, terms: list[str], idf: np.ndarray) -> TfidfVectorizer:
    """The vectorizer back from `vectorizer_state`, transforming exactly as the fitted one did."""
    vectorizer = TfidfVectorizer(**{**params, "vocabulary": {t: i for i, t in enumerate(terms)}})
    vectorizer.idf_ = idf  # the setter rebuilds the fitted transformer around this idf
    return vectorizer


class TfidfOvr(Head):
    name = "tfidf-ovr"
    tasks = frozenset({"tagging"})
    limits = limits_of(word_max=at_least(0), char_min=at_least(1), char_max=at_least(0), max_features=at_least(0),
                       min_df=at_least(1), C=above(0), class_weight=one_of("balanced"), min_positives=at_least(1),
                       max_body_chars=at_least(0), tol=above(0), max_iter=at_least(1), n_jobs=at_least(1),
                       seed=at_least(0))

    # Defaults measured by 5-fold CV on the 3,700 real law titles: micro-F1 0.386 (0.374 with plain class
    # weights, 0.335 with words only), about 33 s for the five folds on one core.
    def __init__(self, *, word_max: int = 2, char_min: int = 2, char_max: int = 5, max_features: int = 20_000,
                 min_df: int = 1, sublinear_tf: bool = True, C: float = 4.0, class_weight: str | None = "balanced",
                 min_positives: int = 3, max_negatives: int = 4000, max_body_chars: int = 2000, tol: float = 0.05,
                 max_iter: int = 100, n_jobs: int = 1, seed: int = 0) -> None:
        self.word_max = word_max  # word n-grams 1..word_max; 0 turns the word block off
        self.char_min = char_min  # char_wb n-grams char_min..char_max: catch word forms and typos in short titles
        self.char_max = char_max  # 0 turns the character block off
        self.max_features = max_features  # per vectorizer (0: no cap); the weights are learned tags x features
        self.min_df = min_df  # 1: n-grams seen once still help rare tags (min_df=2 lost 0.013 micro-F1)
        self.sublinear_tf = sublinear_tf
        self.C = C  # inverse L2 strength of each tag's logistic regression
        self.class_weight = class_weight  # "balanced" lifts rare tags' scores; None: plain likelihood
        self.min_positives = min_positives  # tags with fewer positive rows in the fold keep their rate, unlearned
        # Negative rows a tag learns from at most (a seeded sample, weighted up; 0: all). A tag's fit costs about
        # rows^1.15, so this keeps a fold linear in rows at scale: a fold of 32,000 titles fits in 39 s on one
        # core (8,000: about 90 s). The real 3,700 titles never reach it.
        self.max_negatives = max_negatives
        self.max_body_chars = max_body_chars  # the body's first characters appended to the title
        self.tol = tol  # liblinear's stopping tolerance: 0.05 scored as 1e-3 on the real titles, 30% faster
        self.max_iter = max_iter
        # Worker processes over tags. 1 by default: on 2 cores a fold of 32,000 titles took 82 s in two workers
        # against 39 s here (each tag's dense weights travel back). Each tag's fit is seeded on its own, so
        # the count changes no result.
        self.n_jobs = n_jobs
        self.seed = seed

    # --- features -------------------------------------------------------------------------------------
    def _combination_problems(self) -> list[str]:
        if self.word_max == 0 and self.char_max == 0:
            return ["word_max and char_max are both 0, so there are no features"]
        if self.char_max and self.char_min > self.char_max:
            return [f"char_min={self.char_min} is above char_max={self.char_max}"]
        return []

    def _vectorizer_params(self) -> dict[str, dict]:
        common = {"min_df": self.min_df, "sublinear_tf": self.sublinear_tf, "max_features": self.max_features or None,
                  "lowercase": True, "dtype": np.float64}
        blocks = {}
        if self.word_max > 0:
            blocks["word"] = {**common, "analyzer": "word", "ngram_range": (1, self.word_max)}
        if self.char_max > 0:
            blocks["char"] = {**common, "analyzer": "char_wb", "ngram_range": (self.char_min, self.char_max)}
        return blocks

    def _features(self, X: pd.DataFrame) -> sp.csr_matrix:
        texts = texts_of(X, self.max_body_chars)
        return sp.hstack([v.transform(texts) for v in self.vectorizers_.values()], format="csr")

    # --- fit / predict --------------------------------------------------------------------------------
    def _fit(self, X, y, X_valid, y_valid) -> None:
        texts = texts_of(X, self.max_body_chars)
        self.vectorizers_ = {}
        blocks = []
        for name, params in self._vectorizer_params().items():
            vectorizer = TfidfVectorizer(**params)
            blocks.append(vectorizer.fit_transform(texts))
            self.vectorizers_[name] = vectorizer
        features = sp.hstack(blocks, format="csr")
        # Sorted now, once: scikit-learn would sort in place per tag, which fails on joblib's read-only copies.
        features.sort_indices()

        # Tags too rare (or on every row) in this fold keep their rate as a constant score, with no model.
        rate, positives = y.mean(axis=0), y.sum(axis=0)
        self.learned_ = (positives >= max(self.min_positives, 1)) & (rate < 1)
        self.constant_ = np.where(self.learned_, 0.0, rate)
        n_features = features.shape[1]
        self.coef_ = np.zeros((int(self.learned_.sum()), n_features), dtype=np.float32)
        self.intercept_ = np.zeros(int(self.learned_.sum()), dtype=np.float64)
        tags = np.flatnonzero(self.learned_)
        fits = Parallel(n_jobs=self.n_jobs, return_as="generator")(  # each tag's weights stored as it comes
            delayed(self._fit_tag)(features, y[:, tag], tag) for tag in tags)
        for k, (coef, intercept) in enumerate(fits):
            # float16 precision: halves the saved weights and moves no score by more than about 1e-3.
            self.coef_[k] = coef.astype(np.float16)
            self.intercept_[k] = intercept

    def _fit_tag(self, features: sp.csr_matrix, labels: np.ndarray, tag: int) -> tuple[np.ndarray, float]:
        """One tag's logistic regression: liblinear (fast on sparse short texts, seeded, so deterministic) on the
        tag's positive rows and at most max_negatives of its negative rows, weighted to stand for all of them."""
        labels = labels.astype(np.int64)
        positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        # "balanced": each class weighs half of the rows in all, as scikit-learn's class_weight computes it.
        weight = {1: len(labels) / (2 * len(positives)), 0: len(labels) / (2 * len(negatives))} \
            if self.class_weight == "balanced" else {1: 1.0, 0: 1.0}
        if self.max_negatives and len(negatives) > self.max_negatives:
            # Seeded by tag, so the sample does not depend on which other tags were learned before it.
            kept = np.random.default_rng([self.seed, tag]).choice(negatives, self.max_negatives, replace=False)
            rows = np.sort(np.concatenate([positives, kept]))
            weight[0] *= len(negatives) / self.max_negatives
            features, labels = features[rows], labels[rows]
        model = LogisticRegression(C=self.C, solver="liblinear", dual=True, tol=self.tol, max_iter=self.max_iter,
                                   random_state=self.seed)
        model.fit(features, labels, sample_weight=np.where(labels == 1, weight[1], weight[0]))
        return model.coef_.ravel(), float(model.intercept_[0])

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        out = np.tile(self.constant_, (len(X), 1))
        if self.learned_.any() and len(X):
            logits = np.asarray(self._features(X) @ self.coef_.T, dtype=np.float64) + self.intercept_
            out[:, self.learned_] = 1.0 / (1.0 + np.exp(-logits))
        return out

    # --- save / load (no pickles) ---------------------------------------------------------------------
    def _save(self, path: Path) -> None:
        terms = {}
        arrays = {"coef": self.coef_.astype(np.float16), "intercept": self.intercept_, "learned": self.learned_,
                  "constant": self.constant_}
        for name, vectorizer in self.vectorizers_.items():
            terms[name], arrays[f"idf_{name}"] = vectorizer_state(vectorizer)
        (path / "vocabulary.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(path / "weights.npz", **arrays)

    def _load(self, path: Path) -> None:
        terms = json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))
        with np.load(path / "weights.npz", allow_pickle=False) as arrays:
            self.coef_ = arrays["coef"].astype(np.float32)  # exactly the fitted values (float16 on purpose)
            self.intercept_ = arrays["intercept"]
            self.learned_ = arrays["learned"]
            self.constant_ = arrays["constant"]
            idf = {name: arrays[f"idf_{name}"] for name in terms}
        self.vectorizers_ = {name: restore_vectorizer(params, terms[name], idf[name])
                             for name, params in self._vectorizer_params().items()}

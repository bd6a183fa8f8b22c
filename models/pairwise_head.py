"""What the heads on the pairwise text features (models/pairwise_features.py) share: the features, the A/B
swap in training and the swap-symmetric prediction.

    class MyPairwise(PairwiseHead):
        def _fit(self, X, y, X_valid, y_valid, sample_weight=None):
            F, y, weights = self._both_orders(self._features(X), y, sample_weight)
            ...
        def _proba(self, F): ...            # class probabilities of a feature table

Training sees every comparison in both A/B orders (its target swapped too), so a model cannot learn a side
bias; a prediction averages the plain one with the swap-inverted one of the swapped features, so
predict(swap(X)) == swap(predict(X)) exactly. A subclass stores `encoder`, `embed_chars` and
`extra_features` (pairwise_features' settings) and implements `_proba`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from submit.kernel.tasks import TaskType, swap_probabilities
from submit.models.base import Head, at_least, limits_of, one_of
from submit.models.embedders import EMBEDDERS
from submit.models.pairwise_features import pairwise_features, swap_features


class PairwiseHead(Head):
    limits = limits_of(encoder=one_of(*EMBEDDERS), embed_chars=at_least(1))

    def _features(self, X: pd.DataFrame) -> pd.DataFrame:
        return pairwise_features(X, encoder=self.encoder, embed_chars=self.embed_chars, extra=self.extra_features)

    def _prepare(self, X: pd.DataFrame, task: TaskType) -> None:
        self._features(X)  # fills the text-statistics and embedding caches; swapped rows hold the same texts

    @staticmethod
    def _both_orders(F: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None
                     ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
        """The rows as given, then with A and B swapped (targets swapped; each copy weighs as its row)."""
        return (pd.concat([F, swap_features(F)], ignore_index=True), np.concatenate([y, swap_probabilities(y)]),
                None if weights is None else np.tile(weights, 2))

    def _proba(self, F: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        if not len(X):  # LightGBM refuses an empty matrix
            return np.zeros((0, self.n_outputs_))
        F = self._features(X)
        return (self._proba(F) + swap_probabilities(self._proba(swap_features(F)))) / 2

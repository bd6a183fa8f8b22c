"""Reference heads that every real head must beat.

- prior: the training mean of y, whatever the task: the class prior (preference), the mean answer
  vector (answer_embedding), each tag's frequency (tagging); for text (generation), the training target
  most similar on average to the others by the task's similarity (the competition's metric).
- longer-wins: preference only; the longer response wins, with the probability that rule had on the
  training rows (a strong rule on chatbot-arena data).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.tasks import TEXTS
from submit.models.base import Head

PRIOR_TEXT_CANDIDATES = 30  # text: training targets tried, each scored against the others (a seeded subset)


class Prior(Head):
    name = "prior"
    tasks = frozenset({"preference", "answer_embedding", "tagging", "generation"})
    soft_targets = True  # a (weighted) mean takes soft targets as they are

    def __init__(self) -> None:
        pass

    def _fit(self, X, y, X_valid, y_valid, sample_weight=None) -> None:
        if self.task_.prediction is not TEXTS:
            self.mean_ = np.average(y, axis=0, weights=sample_weight)
            return
        # The constant text with the best expected score: the medoid of (a seeded subset of) the targets.
        pool = [str(t) for t in y[np.random.default_rng(0).permutation(len(y))[:PRIOR_TEXT_CANDIDATES]]]
        if len(pool) == 1:
            self.mean_ = pool[0]
            return
        pairs = [(a, b) for a in range(len(pool)) for b in range(len(pool)) if a != b]
        scores = self.task_.similarity([pool[a] for a, _ in pairs], [pool[b] for _, b in pairs])
        self.mean_ = pool[int(np.argmax(np.asarray(scores).reshape(len(pool), -1).mean(axis=1)))]

    def _predict(self, X: pd.DataFrame) -> np.ndarray | list[str]:
        if isinstance(self.mean_, str):
            return [self.mean_] * len(X)
        return np.tile(self.mean_, (len(X), 1))

    def _save(self, path: Path) -> None:
        value = self.mean_ if isinstance(self.mean_, str) else self.mean_.tolist()
        (path / "prior.json").write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")

    def _load(self, path: Path) -> None:
        value = json.loads((path / "prior.json").read_text(encoding="utf-8"))
        self.mean_ = value if isinstance(value, str) else np.asarray(value)


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

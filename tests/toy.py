"""A tiny in-memory preference competition and heads for testing the runner, store and CLI plumbing.

It is registered the way a third-party plugin would be (Registry.register), so the tests also show
that a competition from outside the package works end to end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from competitions.base import Competition, Dataset, Metric, SubmissionSpec
from competitions.registry import COMPETITIONS
from competitions.tasks import PREFERENCE
from models.baselines import LongerWins
from models.registry import HEADS


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(y.argmax(axis=1) == pred.argmax(axis=1)))


def log_loss(y: np.ndarray, pred: np.ndarray) -> float:
    return float(-np.mean(np.sum(y * np.log(np.clip(pred, 1e-15, 1)), axis=1)))


class Toy(Competition):
    name = "toy"
    title = "Toy preference"
    host = "local"
    task = PREFERENCE
    metrics = (Metric("log_loss", log_loss, higher_is_better=False), Metric("accuracy", accuracy, True))
    folds_scheme = "grouped"

    def load(self, data_dir: Path, *, n: int = 120) -> Dataset:
        rng = np.random.default_rng(0)
        len_a, len_b = rng.integers(5, 60, n), rng.integers(5, 60, n)
        a_wins = (len_a + rng.normal(0, 15, n)) > len_b
        prompts = [f"prompt {i // 2}" for i in range(n)]  # pairs of rows share a prompt
        train = pd.DataFrame({"id": [str(i) for i in range(n)], "prompt": prompts,
                              "response_a": ["a" * k for k in len_a], "response_b": ["b" * k for k in len_b]})
        test = train.head(10).assign(id=[f"t{i}" for i in range(10)])
        y = np.stack([a_wins, ~a_wins], axis=1).astype(float)
        sample = pd.DataFrame({"id": test["id"], "winner": "model_a"})
        return Dataset(train=train, test=test, y=y, sample_submission=sample, groups=np.array(prompts),
                       stratify=y.argmax(axis=1))

    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        return SubmissionSpec("id", "labels", ("winner",), frozenset({"model_a", "model_b"}))

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"id": dataset.test["id"],
                             "winner": np.where(decided.argmax(axis=1) == 0, "model_a", "model_b")})


class Flaky(LongerWins):
    """longer-wins that dies on its N-th fit in this process: an interrupted run."""

    name = "flaky"
    fits = 0

    def __init__(self, *, die_on_fit: int = 0) -> None:
        self.die_on_fit = die_on_fit

    def _fit(self, X, y, X_valid, y_valid) -> None:
        type(self).fits += 1
        if type(self).fits == self.die_on_fit:
            raise KeyboardInterrupt("simulated interruption")
        super()._fit(X, y, X_valid, y_valid)


if "toy" not in COMPETITIONS.names():
    COMPETITIONS.register("toy", Toy)
if "flaky" not in HEADS.names():
    HEADS.register("flaky", Flaky)

"""Tiny in-memory competitions (preference, and text generation) and heads for testing the runner, store
and CLI plumbing.

It is registered the way a third-party plugin would be (Registry.register), so the tests also show
that a competition from outside the package works end to end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.competition import Competition, Dataset, Metric
from submit.kernel.plugins import COMPETITIONS
from submit.kernel.submissions import LABELS, TEXT, SubmissionSpec
from submit.kernel.tasks import PREFERENCE, GenerationTask
from submit.models.base import Head
from submit.models.baselines import LongerWins
from submit.models.registry import HEADS


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
        return SubmissionSpec("id", LABELS, ("winner",), frozenset({"model_a", "model_b"}))

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


def word_f1(candidates, references) -> np.ndarray:
    """Per pair, the F1 of the two texts' word sets: a stand-in for a text metric."""
    out = []
    for a, b in zip(candidates, references, strict=True):
        x, y = set(a.split()), set(b.split())
        out.append(2 * len(x & y) / (len(x) + len(y)) if x or y else 1.0)
    return np.array(out)


class ToyText(Competition):
    """Write the target from the source: the target is the source's words in upper case, without the last."""

    name = "toy-text"
    title = "Toy text generation"
    host = "local"
    task = GenerationTask(name="generation", inputs=("source",), similarity=word_f1)
    metrics = (Metric("word_f1", lambda y, pred: float(np.mean(word_f1(pred, y))), higher_is_better=True),)
    folds_scheme = "stratified"

    def load(self, data_dir: Path, *, n: int = 60) -> Dataset:
        rng = np.random.default_rng(0)
        words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"])
        sources = [" ".join(rng.choice(words, size=int(rng.integers(3, 8)))) for _ in range(n + 8)]
        targets = [" ".join(s.upper().split()[:-1]) for s in sources]
        train = pd.DataFrame({"id": [str(i) for i in range(n)], "source": sources[:n]})
        test = pd.DataFrame({"id": [f"t{i}" for i in range(8)], "source": sources[n:]})
        sample = pd.DataFrame({"id": test["id"], "output": "text"})
        return Dataset(train=train, test=test, y=np.array(targets[:n], dtype=object), sample_submission=sample)

    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        return SubmissionSpec("id", TEXT, ("output",), max_chars=200)

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"id": dataset.test["id"], "output": decided})


class FirstWords(Head):
    """Text: the source's first `n` words in upper case (n=0: all of them)."""

    name = "first-words"
    tasks = frozenset({"generation"})

    def __init__(self, *, n: int = 0) -> None:
        self.n = n

    def _fit(self, X, y, X_valid, y_valid) -> None:
        pass

    def _predict(self, X: pd.DataFrame) -> list[str]:
        return [" ".join(s.upper().split()[:self.n or None]) for s in X["source"]]

    def _save(self, path: Path) -> None:
        pass

    def _load(self, path: Path) -> None:
        pass


for name, cls in (("toy", Toy), ("toy-text", ToyText)):
    if name not in COMPETITIONS.names():
        COMPETITIONS.register(name, cls)
for name, cls in (("flaky", Flaky), ("first-words", FirstWords)):
    if name not in HEADS.names():
        HEADS.register(name, cls)

"""Task types: the contract between competitions and model heads.

    from competitions.tasks import TASKS
    task = TASKS["preference"]
    view = task.views["swap"]
    pred = view.invert(head.predict(view.transform(X)))   # back in the original A/B order

A task fixes the canonical input columns a competition's loader must produce, the shape of the target
and prediction arrays, the decision step fitted on out-of-fold predictions (tag thresholds), and the
test-time views with their inverses. Heads name the tasks they serve by the task's name only.

Test-time augmentation (the runner's `tta`) predicts each view, inverts it and merges the results with
`task.combine`; the selective variant (`tta_budget` < 1) applies the extra views only to the rows whose
plain prediction is least certain by `task.certainty`.

Arrays by task:
- preference: y one-hot (n, n_classes) over (A wins, B wins[, tie]); prediction (n, n_classes)
  probabilities.
- answer_embedding: y (n, d) mean of the unit-normalised reference-answer embeddings (see
  `cosine_to_references`); prediction (n, d) vectors.
- tagging: y (n, n_tags) 0/1 indicators over the competition's tag vocabulary; prediction (n, n_tags)
  scores in [0, 1], turned into tag sets by a threshold fitted on OOF (`TaggingDecision`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class View:
    """A test-time (or training) view of the inputs and the map that brings predictions back."""

    name: str
    transform: Callable[[pd.DataFrame], pd.DataFrame]
    invert: Callable[[np.ndarray], np.ndarray]
    transform_y: Callable[[np.ndarray], np.ndarray] | None = None  # targets of the view; None: unchanged


def mean_of_views(preds: list[np.ndarray]) -> np.ndarray:
    return np.mean(preds, axis=0)


@dataclass(frozen=True)
class TaskType:
    name: str
    inputs: tuple[str, ...]
    views: dict[str, View] = field(default_factory=dict)
    combine: Callable[[list[np.ndarray]], np.ndarray] = mean_of_views  # merges a row's view predictions
    # (n, k) prediction -> (n,) certainty, higher is surer; None: no selective TTA for the task.
    certainty: Callable[[np.ndarray], np.ndarray] | None = None

    def check_prediction(self, pred: np.ndarray, n_rows: int) -> None:
        if pred.ndim != 2 or pred.shape[0] != n_rows:
            raise ValueError(f"{self.name}: expected a (n={n_rows}, k) prediction, got shape {pred.shape}")
        if not np.isfinite(pred).all():
            raise ValueError(f"{self.name}: prediction holds NaN or infinite values")


# --- preference ---------------------------------------------------------------------------------------

_SWAP_COLUMNS = {"response_a": "response_b", "response_b": "response_a"}


def swap_responses(X: pd.DataFrame) -> pd.DataFrame:
    """Present the same comparison with A and B exchanged (every *_a column trades with its *_b twin)."""
    renames = dict(_SWAP_COLUMNS)
    for col in X.columns:
        if col.endswith("_a") and col[:-2] + "_b" in X.columns:
            renames[col], renames[col[:-2] + "_b"] = col[:-2] + "_b", col
    return X.rename(columns=renames)[list(X.columns)]


def swap_probabilities(pred: np.ndarray) -> np.ndarray:
    """p(a), p(b)[, p(tie)] of the swapped pair -> the same in the original order."""
    out = pred.copy()
    out[:, [0, 1]] = pred[:, [1, 0]]
    return out


def top_two_margin(pred: np.ndarray) -> np.ndarray:
    """The best class's probability minus the runner-up's: 0 for a coin flip, 1 for a sure call."""
    ordered = np.sort(pred, axis=1)
    return ordered[:, -1] - ordered[:, -2]


PREFERENCE = TaskType(
    name="preference",
    inputs=("prompt", "response_a", "response_b"),
    views={
        "swap": View("swap", swap_responses, swap_probabilities, swap_probabilities),
    },
    certainty=top_two_margin,
)

# --- answer embedding ---------------------------------------------------------------------------------


def unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def reference_target(reference_embeddings: np.ndarray) -> np.ndarray:
    """(n, r, d) embeddings of r reference answers -> (n, d) target for `cosine_to_references`."""
    n, r, d = reference_embeddings.shape
    return unit_rows(reference_embeddings.reshape(n * r, d)).reshape(n, r, d).mean(axis=1)


def cosine_to_references(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean over rows of the mean cosine between the prediction and each reference answer.

    With y the mean of the unit reference vectors, unit(pred) . y is exactly the average of the
    per-reference cosines: the expected score against one reference drawn at random.
    """
    return float(np.mean(np.sum(unit_rows(pred) * y, axis=1)))


def whole_line(X: pd.DataFrame) -> pd.DataFrame:
    """Each row asked as one question: a test line holding two questions is embedded whole, not split."""
    return X.assign(questions=[[str(q)] for q in X["question"]])


def unit_mean(preds: list[np.ndarray]) -> np.ndarray:
    """Vectors of the views: each unit-normalised, averaged, renormalised (only the direction is scored)."""
    return unit_rows(np.mean([unit_rows(p) for p in preds], axis=0))


ANSWER_EMBEDDING = TaskType(
    name="answer_embedding",
    inputs=("question",),
    # The plain prediction answers each question a line holds (the split of two-question test lines);
    # `whole-line` answers the line as it stands. On single-question rows the two coincide.
    views={"whole-line": View("whole-line", whole_line, unit_rows)},
    combine=unit_mean,
)

# --- tagging ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaggingDecision:
    """Scores -> tag indicators: every tag at or above `threshold`, and at least the best one."""

    threshold: float

    def apply(self, scores: np.ndarray) -> np.ndarray:
        chosen = scores >= self.threshold
        chosen[np.arange(len(scores)), scores.argmax(axis=1)] = True
        return chosen.astype(np.int8)


def micro_f1(y: np.ndarray, chosen: np.ndarray) -> float:
    tp = float(np.sum((y == 1) & (chosen == 1)))
    denom = float(np.sum(y == 1) + np.sum(chosen == 1))
    return 2 * tp / denom if denom else 0.0


def mean_row_f1(y: np.ndarray, chosen: np.ndarray) -> float:
    tp = np.sum((y == 1) & (chosen == 1), axis=1)
    denom = np.sum(y == 1, axis=1) + np.sum(chosen == 1, axis=1)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 1.0)))


def fit_tagging_decision(y: np.ndarray, scores: np.ndarray) -> TaggingDecision:
    """The threshold that maximises micro-F1 on out-of-fold scores (a grid over score quantiles)."""
    grid = np.unique(np.quantile(scores, np.linspace(0.5, 0.9999, 200)))
    best = max(grid, key=lambda t: micro_f1(y, TaggingDecision(float(t)).apply(scores)))
    return TaggingDecision(float(best))


TAIL_CHARS = 1000


def title_only(X: pd.DataFrame) -> pd.DataFrame:
    return X.assign(body="") if "body" in X.columns else X


def body_tail(X: pd.DataFrame) -> pd.DataFrame:
    """The body's last TAIL_CHARS characters: a head that reads a body's start sees its end instead."""
    return X.assign(body=X["body"].fillna("").astype(str).str.slice(-TAIL_CHARS)) if "body" in X.columns else X


def _same(pred: np.ndarray) -> np.ndarray:
    return pred


def best_score(scores: np.ndarray) -> np.ndarray:
    """A row whose best tag scores low is the least sure of its tags."""
    return scores.max(axis=1)


TAGGING = TaskType(
    name="tagging",
    inputs=("title", "body"),
    views={"title-only": View("title-only", title_only, _same), "body-tail": View("body-tail", body_tail, _same)},
    certainty=best_score,
)

GENERATION = TaskType(name="generation", inputs=("instruction", "input"))

TASKS: dict[str, TaskType] = {t.name: t for t in (PREFERENCE, ANSWER_EMBEDDING, TAGGING, GENERATION)}

"""Task types: the contract between competitions and model heads. A task type is an object that owns
everything that depends on what is predicted, so that no other module dispatches on a task's name.

    from submit.kernel.tasks import PREFERENCE
    task = PREFERENCE
    view = task.views["swap"]
    pred = view.invert(head.predict(view.transform(X)))   # back in the original A/B order
    task.combine([plain, pred])                           # the row's views merged
    task.merge_folds(fold_test_preds)                     # the folds' test predictions merged
    task.blend(member_preds, weights); task.loss(y, p)    # ensembles: the blend and the loss its weights fit
    task.decide(oof, task.fit_decision(y, oof))           # the step from raw predictions to what is scored

A task fixes the canonical input columns a competition's loader must produce; `prediction`, the kind of
its target and prediction arrays (how they are coerced, checked, allocated and stored); the test-time
views with their inverses and how views and folds are merged; how ensemble members are blended and which
methods make sense; the decision step fitted on out-of-fold predictions (tag thresholds); and the
submission kinds its predictions can be written as (competitions/submissions.py).

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
- generation: y and prediction are 1-D object arrays of n strings. Views, folds and ensemble members are
  merged by minimum-Bayes-risk selection: per row, the candidate most similar to the others by the
  competition's own `similarity`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from submit.kernel import metrics, submissions
from submit.kernel.metrics import mean_row_f1, micro_f1  # noqa: F401 (the tag metrics, imported from here too)
from submit.kernel.submissions import SubmissionKind

EPS = 1e-7

# --- prediction kinds -----------------------------------------------------------------------------------


class PredictionKind:
    """How a task's targets and predictions are held: coerced from what a head returns, checked, allocated
    for out-of-fold assembly, and stored (Parquet columns for oof/test.parquet, npz-safe arrays for folds)."""

    name: str
    in_embedder_space: bool = False  # values only compare within one embedder's space (vectors)

    def coerce(self, raw: Any) -> np.ndarray:
        raise NotImplementedError

    def check(self, pred: np.ndarray, n_rows: int, task: str) -> None:
        raise NotImplementedError

    def allocate(self, n_rows: int, like: np.ndarray) -> np.ndarray:
        """An array of n_rows predictions shaped like `like`'s rows, to be filled fold by fold."""
        raise NotImplementedError

    def width(self, pred: np.ndarray) -> int:
        raise NotImplementedError

    def to_frame(self, pred: np.ndarray, names: Sequence[str] = ()) -> pd.DataFrame:
        raise NotImplementedError

    def from_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The predictions back from `to_frame`'s columns (only those: no id or fold column)."""
        raise NotImplementedError

    def to_stored(self, pred: np.ndarray) -> np.ndarray:
        """An array np.savez writes without pickling."""
        return pred

    def from_stored(self, stored: np.ndarray) -> np.ndarray:
        return stored

    def __repr__(self) -> str:
        return self.name


class NumericKind(PredictionKind):
    """(n, k) finite float64: class probabilities, vectors or per-tag scores."""

    def __init__(self, name: str, *, in_embedder_space: bool = False) -> None:
        self.name, self.in_embedder_space = name, in_embedder_space

    def coerce(self, raw: Any) -> np.ndarray:
        return np.asarray(raw, dtype=np.float64)

    def check(self, pred: np.ndarray, n_rows: int, task: str) -> None:
        if pred.ndim != 2 or pred.shape[0] != n_rows:
            raise ValueError(f"{task}: expected a (n={n_rows}, k) prediction, got shape {pred.shape}")
        if not np.isfinite(pred).all():
            raise ValueError(f"{task}: prediction holds NaN or infinite values")

    def allocate(self, n_rows: int, like: np.ndarray) -> np.ndarray:
        return np.zeros((n_rows, like.shape[1]))

    def width(self, pred: np.ndarray) -> int:
        return pred.shape[1]

    def to_frame(self, pred: np.ndarray, names: Sequence[str] = ()) -> pd.DataFrame:
        columns = list(names) if len(names) == pred.shape[1] else [f"p{i}" for i in range(pred.shape[1])]
        return pd.DataFrame(pred, columns=columns)

    def from_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return frame.to_numpy(dtype=np.float64)


class TextKind(PredictionKind):
    """(n,) object array of str: one generated text per row."""

    name = "text"
    column = "text"

    def coerce(self, raw: Any) -> np.ndarray:
        values = list(raw)
        out = np.empty(len(values), dtype=object)
        out[:] = ["" if v is None else str(v) for v in values]
        return out

    def check(self, pred: np.ndarray, n_rows: int, task: str) -> None:
        if pred.ndim != 1 or len(pred) != n_rows:
            raise ValueError(f"{task}: expected {n_rows} texts, got an array of shape {pred.shape}")
        if not all(isinstance(t, str) for t in pred):
            raise ValueError(f"{task}: every prediction must be a str")

    def allocate(self, n_rows: int, like: np.ndarray) -> np.ndarray:
        return self.coerce([""] * n_rows)

    def width(self, pred: np.ndarray) -> int:
        return 1

    def to_frame(self, pred: np.ndarray, names: Sequence[str] = ()) -> pd.DataFrame:
        return pd.DataFrame({self.column: pd.Series(pred, dtype=str)})

    def from_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return self.coerce(frame[self.column].fillna(""))

    def to_stored(self, pred: np.ndarray) -> np.ndarray:
        return np.asarray(pred.tolist(), dtype=np.str_)

    def from_stored(self, stored: np.ndarray) -> np.ndarray:
        return self.coerce(stored.tolist())


PROBABILITIES = NumericKind("probabilities")
VECTORS = NumericKind("vectors", in_embedder_space=True)
SCORES = NumericKind("scores")
TEXTS = TextKind()

# --- the task type ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """A test-time (or training) view of the inputs and the map that brings predictions back."""

    name: str
    transform: Callable[[pd.DataFrame], pd.DataFrame]
    invert: Callable[[np.ndarray], np.ndarray]
    transform_y: Callable[[np.ndarray], np.ndarray] | None = None  # targets of the view; None: unchanged


def _weighted_sum(preds: list[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    return sum(w * p for w, p in zip(weights, preds, strict=True))


@dataclass(frozen=True)
class TaskType:
    """Numeric predictions by default: views and folds averaged, members blended by a weighted mean."""

    name: str
    inputs: tuple[str, ...]
    views: dict[str, View] = field(default_factory=dict)

    prediction: ClassVar[PredictionKind]
    submission_kinds: ClassVar[tuple[SubmissionKind, ...]]
    ensemble_methods: ClassVar[tuple[str, ...]] = ("weighted", "rank", "caruana", "stack")
    # The meta-model layout of stacking: "classes" (one multinomial model over the members' class
    # log-probabilities) or "cells" (one binary model on each (row, column) cell's member scores).
    stack_layout: ClassVar[str | None] = None

    @property
    def has_certainty(self) -> bool:
        """The task defines certainty(), so selective TTA (tta_budget < 1) and pseudo-label thresholds work."""
        return type(self).certainty is not TaskType.certainty

    def combine(self, preds: list[np.ndarray]) -> np.ndarray:
        """A row's predictions under the views (the plain one first) merged into one."""
        return np.mean(preds, axis=0)

    def merge_folds(self, preds: list[np.ndarray]) -> np.ndarray:
        """The folds' predictions of the same test rows merged into one."""
        return np.mean(preds, axis=0)

    def certainty(self, pred: np.ndarray) -> np.ndarray:
        """(n,) certainty of each row's prediction, higher is surer."""
        raise NotImplementedError(f"{self.name} defines no certainty")

    def loss(self, y: np.ndarray, pred: np.ndarray) -> float:
        """A smooth loss in the task's terms, lower is better: what ensemble weights are fitted to."""
        raise NotImplementedError

    def blend(self, preds: list[np.ndarray], weights: Sequence[float]) -> np.ndarray:
        """Members' predictions of the same rows blended with non-negative weights summing to 1."""
        return _weighted_sum(preds, weights)

    def normalise(self, pred: np.ndarray) -> np.ndarray:
        """Scores of the task's shape (e.g. averaged ranks) brought back to what a prediction is."""
        return pred

    def soften(self, pred: np.ndarray, temperature: float) -> np.ndarray:
        """A teacher's predictions made softer (temperature > 1) or sharper (< 1), as distillation targets.
        By default only 1 (unchanged) is defined: a temperature means nothing for e.g. vectors."""
        if temperature != 1:
            raise ValueError(f"{self.name}: a distillation temperature means nothing for {self.prediction} "
                             f"predictions; leave distill_temperature at 1")
        return pred

    def fit_decision(self, y: np.ndarray, oof: np.ndarray) -> dict[str, Any]:
        """Parameters of the step from raw predictions to what is scored, fitted on OOF (none by default)."""
        return {}

    def decide(self, pred: np.ndarray, decision: dict[str, Any]) -> np.ndarray:
        return pred

    def check_prediction(self, pred: np.ndarray, n_rows: int) -> None:
        self.prediction.check(pred, n_rows, self.name)


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


class ClassProbabilities:
    """What a task predicting one class per row as probabilities (n, c) does with them: its certainty, loss,
    normalisation and softening. Preference and the tabular binary/multiclass tasks share it."""

    def certainty(self, pred: np.ndarray) -> np.ndarray:
        return top_two_margin(pred)

    def loss(self, y: np.ndarray, pred: np.ndarray) -> float:
        return float(-np.mean(np.sum(y * np.log(np.clip(pred, EPS, 1)), axis=1)))

    def normalise(self, pred: np.ndarray) -> np.ndarray:
        return pred / pred.sum(axis=1, keepdims=True)

    def soften(self, pred: np.ndarray, temperature: float) -> np.ndarray:
        """softmax(log p / T): the class distribution at temperature T."""
        logits = np.log(np.clip(pred, EPS, 1)) / temperature
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class PreferenceTask(ClassProbabilities, TaskType):
    prediction: ClassVar[PredictionKind] = PROBABILITIES
    submission_kinds: ClassVar[tuple[SubmissionKind, ...]] = (submissions.LABELS, submissions.PROBABILITIES)
    stack_layout: ClassVar[str | None] = "classes"


PREFERENCE = PreferenceTask(
    name="preference",
    inputs=("prompt", "response_a", "response_b"),
    views={
        "swap": View("swap", swap_responses, swap_probabilities, swap_probabilities),
    },
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


@dataclass(frozen=True)
class AnswerEmbeddingTask(TaskType):
    prediction: ClassVar[PredictionKind] = VECTORS
    submission_kinds: ClassVar[tuple[SubmissionKind, ...]] = (submissions.VECTORS,)
    ensemble_methods: ClassVar[tuple[str, ...]] = ("weighted", "caruana")  # ranks of vector cells mean nothing

    def combine(self, preds: list[np.ndarray]) -> np.ndarray:
        return unit_mean(preds)

    def loss(self, y: np.ndarray, pred: np.ndarray) -> float:
        return -cosine_to_references(y, pred)

    def blend(self, preds: list[np.ndarray], weights: Sequence[float]) -> np.ndarray:
        """Blended as unit vectors and renormalised: only directions are scored."""
        return unit_rows(_weighted_sum([unit_rows(p) for p in preds], weights))

    def normalise(self, pred: np.ndarray) -> np.ndarray:
        return unit_rows(pred)


ANSWER_EMBEDDING = AnswerEmbeddingTask(
    name="answer_embedding",
    inputs=("question",),
    # The plain prediction answers each question a line holds (the split of two-question test lines);
    # `whole-line` answers the line as it stands. On single-question rows the two coincide.
    views={"whole-line": View("whole-line", whole_line, unit_rows)},
)

# --- tagging ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaggingDecision:
    """Scores -> tag indicators: every tag at or above `threshold`, every tag scoring at least `relative` times its
    row's best (1: the best alone), and at least the best one."""

    threshold: float
    relative: float = 1.0

    def apply(self, scores: np.ndarray) -> np.ndarray:
        chosen = scores >= self.threshold
        if self.relative < 1:
            chosen |= scores >= self.relative * scores.max(axis=1, keepdims=True)
        chosen[np.arange(len(scores)), scores.argmax(axis=1)] = True
        return chosen.astype(np.int8)


def tag_threshold_grid(scores: np.ndarray, points: int = 300) -> np.ndarray:
    """Candidate thresholds: score quantiles dense in the upper tail, where the threshold lies. With hundreds of
    tags and one or two per row, the chosen cells are the top 0.1-1% of all scores (an even grid from the median
    left few points there: on the real law titles it cost TF-IDF 0.010 micro-F1)."""
    return np.unique(np.quantile(scores, 1 - np.geomspace(0.5, 1e-5, points)))


RELATIVE_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # shares of a row's best score tried by a row metric


def fit_tagging_decision(y: np.ndarray, scores: np.ndarray,
                         score: Callable[[np.ndarray, np.ndarray], float] | None = None) -> TaggingDecision:
    """The decision that maximises the metric on out-of-fold scores (the first best on a tie).

    Micro-F1 (score None): a threshold over `tag_threshold_grid`, computed for the whole grid at once. Another
    metric (mean row F1) scores each row on its own, so a cut relative to the row's best score is tried too, over
    RELATIVE_GRID x 40 thresholds: on the real law titles it lifted TF-IDF's mean row F1 from 0.367 to 0.386 (a
    threshold alone leaves rows whose scores are all low with one tag, and confident rows with too many)."""
    if score is None:
        grid = tag_threshold_grid(scores)
        return TaggingDecision(float(grid[np.argmax(micro_f1_at(y, scores, grid))]))
    candidates = [TaggingDecision(float(t), r) for r in RELATIVE_GRID for t in tag_threshold_grid(scores, 40)]
    return candidates[int(np.argmax([score(y, d.apply(scores)) for d in candidates]))]


def micro_f1_at(y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """micro_f1(y, TaggingDecision(t).apply(scores)) for every t at once, from sorted scores instead of a pass
    over the whole matrix per threshold (40,000 rows x 584 tags: 12 s for 200 thresholds that way).

    A cell is chosen when its score is >= t, or when it is its row's best (argmax) and that best is < t."""
    positive = y == 1
    best = scores.argmax(axis=1)
    row_max = scores[np.arange(len(scores)), best]
    best_hit = positive[np.arange(len(scores)), best]
    order = np.argsort(row_max, kind="stable")
    rows_below = np.searchsorted(row_max[order], thresholds, side="left")
    hits_below = np.concatenate([[0], np.cumsum(best_hit[order])])[rows_below]
    cells_at_least = scores.size - np.searchsorted(np.sort(scores, axis=None), thresholds, side="left")
    hits_at_least = positive.sum() - np.searchsorted(np.sort(scores[positive]), thresholds, side="left")
    tp = hits_at_least + hits_below
    denom = positive.sum() + cells_at_least + rows_below
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


TAIL_CHARS = 1000


def title_only(X: pd.DataFrame) -> pd.DataFrame:
    return X.assign(body="") if "body" in X.columns else X


def body_tail(X: pd.DataFrame) -> pd.DataFrame:
    """The body's last TAIL_CHARS characters: a head that reads a body's start sees its end instead."""
    return X.assign(body=X["body"].fillna("").astype(str).str.slice(-TAIL_CHARS)) if "body" in X.columns else X


def _same(pred: np.ndarray) -> np.ndarray:
    return pred


@dataclass(frozen=True)
class TaggingTask(TaskType):
    """Tag sets: y (n, tags) 0/1, predictions (n, tags) scores. `metric` (kernel/metrics.py) decides the step
    fitted on OOF: a threshold for micro-F1 (law-tags), a threshold and a cut relative to each row's best score
    for the other F1s, the k best tags for map@k."""

    metric: str = "micro-f1"
    prediction: ClassVar[PredictionKind] = SCORES
    submission_kinds: ClassVar[tuple[SubmissionKind, ...]] = (submissions.TAGS,)
    stack_layout: ClassVar[str | None] = "cells"

    def certainty(self, pred: np.ndarray) -> np.ndarray:
        """A row whose best tag scores low is the least sure of its tags."""
        return pred.max(axis=1)

    def loss(self, y: np.ndarray, pred: np.ndarray) -> float:
        p = np.clip(pred, EPS, 1 - EPS)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def soften(self, pred: np.ndarray, temperature: float) -> np.ndarray:
        """Each tag's probability at temperature T: sigmoid(logit p / T)."""
        p = np.clip(pred, EPS, 1 - EPS)
        return 1 / (1 + np.exp(-np.log(p / (1 - p)) / temperature))

    @property
    def metric_spec(self) -> metrics.MetricSpec:
        return metrics.get_metric(self.metric, self.name)

    def fit_decision(self, y: np.ndarray, oof: np.ndarray) -> dict[str, Any]:
        spec = self.metric_spec
        if spec.decision == "top_k":
            return {"top_k": spec.k}  # more guesses never lower MAP@k: the submission ranks the k best tags
        if spec.name == "micro-f1":  # law-tags' decision, unchanged: a threshold and the best tag
            return {"threshold": fit_tagging_decision(y, oof).threshold}
        decision = fit_tagging_decision(y, oof, spec.bind(self.name))
        return {"threshold": decision.threshold, "relative": decision.relative}

    def decide(self, pred: np.ndarray, decision: dict[str, Any]) -> np.ndarray:
        if "top_k" in decision:
            return pred  # map@k scores the ranking itself
        if "threshold" not in decision:
            raise ValueError(f"{self.name}: the decision holds no 'threshold' (fit it with fit_decision on OOF)")
        return TaggingDecision(float(decision["threshold"]), float(decision.get("relative", 1.0))).apply(pred)


def tagging_task(metric: str) -> TaggingTask:
    """The tagging task of a table's tags column (a described competition) scored by `metric`: its text comes from
    the table's own text columns (no canonical inputs), so the title/body views do not apply.
    metrics.UnknownMetric when the metric does not fit tags."""
    metrics.get_metric(metric, "tagging")
    return replace(TAGGING, metric=metric, inputs=(), views={})


TAGGING = TaggingTask(
    name="tagging",
    inputs=("title", "body"),
    views={"title-only": View("title-only", title_only, _same), "body-tail": View("body-tail", body_tail, _same)},
)

# --- generation ---------------------------------------------------------------------------------------

# (candidates, references) -> (n,) per-pair similarity in [0, 1], higher is closer: the competition's metric
Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class GenerationTask(TaskType):
    """Text to text. A competition makes its own instance with its metric as `similarity`, which minimum
    Bayes risk selection uses to merge views, folds and ensemble members."""

    similarity: Similarity | None = None

    prediction: ClassVar[PredictionKind] = TEXTS
    submission_kinds: ClassVar[tuple[SubmissionKind, ...]] = (submissions.TEXT,)
    ensemble_methods: ClassVar[tuple[str, ...]] = ("mbr", "caruana")

    def _similarity(self) -> Similarity:
        if self.similarity is None:
            raise ValueError(f"{self.name}: this task instance has no similarity; the competition must give one "
                             f"(its metric per pair) for texts to be merged")
        return self.similarity

    def mbr(self, candidates: list[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
        """Per row, the candidate with the highest weighted similarity to all candidates (itself included):
        minimum Bayes risk selection. Candidates of weight 0 are never chosen; ties go to the earlier one."""
        weights = np.full(len(candidates), 1 / len(candidates)) if weights is None else np.asarray(weights, float)
        kept = [(c, w) for c, w in zip(candidates, weights, strict=True) if w > 0]
        if len(kept) == 1:
            return kept[0][0].copy()
        texts, w = [c for c, _ in kept], np.array([w for _, w in kept])
        m, n = len(texts), len(texts[0])
        pairs = [(a, b) for a in range(m) for b in range(m) if a != b]
        hyps = [texts[a][i] for i in range(n) for a, _ in pairs]
        refs = [texts[b][i] for i in range(n) for _, b in pairs]
        scores = np.asarray(self._similarity()(hyps, refs), dtype=np.float64).reshape(n, len(pairs))
        utility = np.tile(w, (n, 1))  # each candidate is identical to itself: similarity 1
        for j, (a, b) in enumerate(pairs):
            utility[:, a] += w[b] * scores[:, j]
        best = utility.argmax(axis=1)
        return TEXTS.coerce([texts[best[i]][i] for i in range(n)])

    def combine(self, preds: list[np.ndarray]) -> np.ndarray:
        return self.mbr(preds)

    def merge_folds(self, preds: list[np.ndarray]) -> np.ndarray:
        return self.mbr(preds)

    def loss(self, y: np.ndarray, pred: np.ndarray) -> float:
        return -float(np.mean(self._similarity()(list(pred), list(y))))

    def blend(self, preds: list[np.ndarray], weights: Sequence[float]) -> np.ndarray:
        return self.mbr(preds, weights)


SAMPLE_SEED = "sample_seed"  # the column a sampled view adds to the rows


def ask_sample(seed: int, X: pd.DataFrame) -> pd.DataFrame:
    return X.assign(**{SAMPLE_SEED: seed})


def sampled_view(seed: int) -> View:
    """`sample-<seed>`: the rows asked for a sampled output (with that seed) instead of the plain one. Heads
    that sample (the LLM generator) read the column; the others ignore it and give their plain output, so
    MBR over the views is the text counterpart of test-time augmentation: N samples of one model."""
    return View(f"sample-{seed}", partial(ask_sample, seed), _same)


GENERATION = GenerationTask(name="generation", inputs=("source",),
                            views={v.name: v for v in map(sampled_view, range(1, 9))})


TEXT_TASKS = (PREFERENCE, ANSWER_EMBEDDING, TAGGING, GENERATION)  # the tabular ones: kernel/tabular.py

"""Run a recipe's curation steps over a dataset: transformed text, the training rows kept, and a report.

    config = parse_curation(recipe_raw["curation"], default_columns=["title", "body"])
    curated = curate_dataset(dataset, config)
    curated.dataset, curated.keep, curated.report      # same rows and ids; keep: training rows kept

The comparability rule: transforms (unicode, clean, pii) rewrite every row, training and test, since a
test row cannot be left out; filters (word_count, score, repeating_ngrams) only mark training rows, which
the CV runner then leaves out of each fold's training side. Every row is still predicted, on the raw
data's shared folds, so a curated experiment's CV covers the same rows as an uncurated one and the two
rank (and ensemble) side by side; the runner also reports CV on the kept rows alone.

Steps run in the recipe's order; a filter measures the row's columns as the earlier transforms left them,
joined by a newline; the first filter that fails a row is the one the report charges with dropping it.
Each row's result is cached by content (the steps, their parameters and the row's text and score), so a
second run reads them back, and rows are stored chunk by chunk as they are done. When many rows are new
(`parallel_min_rows`), the chunks go to worker processes through the executor seam.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from submit.curation.pii import NAME_ENTITIES, ner_model_available
from submit.curation.steps import CurationError, Filter, Pii, Score, Step, Transform, build_step
from submit.kernel.competition import Dataset
from submit.kernel.parallel import LocalExecutor, ProcessExecutor
from submit.models.cache import cached_json, current_row_executor, row_executor

CURATION_VERSION = "1"  # bump when a step's output changes, so that cached rows are recomputed
EXAMPLES = 3  # dropped rows shown per filter
EXAMPLE_CHARS = 160


@dataclass
class CurationConfig:
    """A recipe's `curation` section, every step's parameters filled in."""

    columns: list[str]  # the text columns transformed and measured
    steps: dict[str, dict[str, Any]]  # step name -> its parameters, in the order the steps run
    workers: int = 0  # processes when many rows are new; 0: the run's executor (one process per core by default)
    # Fewer new rows than this run in this process: each spawned worker first imports pandas, Presidio and
    # spaCy (5-20 s), about what one process needs for 50,000 rows of PII (2,700 rows/s, BENCHMARKS.md).
    parallel_min_rows: int = 50_000

    def identity(self) -> dict[str, Any]:
        """What decides the curated data; workers change how it is computed, not what."""
        return {"columns": self.columns, "steps": self.steps}


def parse_curation(raw: Any, default_columns: list[str]) -> CurationConfig:
    """Validate a recipe's `curation` mapping; CurationError saying what is wrong and what is allowed.

    `steps` maps step names to parameters, in order; an empty value takes the defaults, `false` leaves
    the step out (handy with --set curation.steps.pii=false).
    """
    if not isinstance(raw, dict):
        raise CurationError(f"curation: expected a mapping with steps (and columns), got {raw!r}")
    allowed = [f.name for f in dataclasses.fields(CurationConfig)]
    unknown = set(raw) - set(allowed)
    if unknown:
        raise CurationError(f"curation: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(allowed)}")
    columns = raw.get("columns", list(default_columns))
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
        raise CurationError(f"curation.columns: expected a list of column names, got {columns!r}")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, dict) or not steps_raw:
        raise CurationError("curation.steps: expected a mapping of step names to parameters, e.g. "
                            "{unicode: {}, word_count: {min: 16}}")
    steps = {}
    for name, params in steps_raw.items():
        if params is False:
            continue
        if params is not None and not isinstance(params, dict):
            raise CurationError(f"curation.steps.{name}: expected a mapping of parameters (or nothing), got {params!r}")
        steps[name] = build_step(name, params).params()
    options = {}
    for key in ("workers", "parallel_min_rows"):
        value = raw.get(key, getattr(CurationConfig, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CurationError(f"curation.{key}: expected a whole number >= 0, got {value!r}")
        options[key] = value
    return CurationConfig(columns=list(columns), steps=steps, **options)


@dataclass
class Curated:
    dataset: Dataset  # the same rows and ids, text columns transformed
    keep: np.ndarray  # bool per training row: not dropped by a filter
    report: dict[str, Any]


@functools.cache
def _steps(steps_json: str) -> list[Step]:
    return [build_step(name, params) for name, params in json.loads(steps_json)]


def curate_row(steps: list[Step], texts: list[str], score: float | None) -> dict[str, Any]:
    """One row through the steps: its new texts, what each transform did, and the first filter failing it."""
    changed, entities = [], Counter()
    dropped_by = value = None
    for step in steps:
        if isinstance(step, Transform):
            results = [step.apply(text) for text in texts]
            new = [text for text, _ in results]
            for _, found in results:
                entities.update(found)
            if new != texts:
                changed.append(step.name)
            texts = new
        elif dropped_by is None:
            measured = step.measure("\n".join(t for t in texts if t), score)
            if not step.keeps(measured):
                dropped_by, value = step.name, measured
    return {"texts": texts, "changed": changed, "entities": dict(entities), "dropped_by": dropped_by, "value": value}


def curate_items(steps_json: str, items: list[str]) -> list[dict[str, Any]]:
    """Cache items (JSON: version, steps, notes, texts, score) -> each row's result; run here or in a worker."""
    steps = _steps(steps_json)
    return [curate_row(steps, *json.loads(item)[3:]) for item in items]


def _workers(config: CurationConfig) -> Any:
    """Where chunks of many new rows go: `workers` processes when set (1: here), else the run's row executor
    (the executor seam: worker processes, or Ray tasks), else one process per core."""
    if config.workers:
        return ProcessExecutor(config.workers) if config.workers > 1 else None
    return current_row_executor() or LocalExecutor().rows()


def _rows(frame: pd.DataFrame, columns: list[str], score_column: str | None) -> list[list[Any]]:
    texts = [frame[c].fillna("").astype(str).tolist() if c in frame.columns else [""] * len(frame) for c in columns]
    if score_column in frame.columns:
        scores = [None if pd.isna(s) else float(s) for s in frame[score_column]]
    else:
        scores = [None] * len(frame)
    return [[list(row), score] for row, score in zip(zip(*texts, strict=True), scores, strict=True)]


def _active_steps(config: CurationConfig, train: pd.DataFrame) -> tuple[list[Step], list[str]]:
    """The steps that apply to this data, and notes on the ones that do not fully."""
    steps, notes = [], []
    for name, params in config.steps.items():
        step = build_step(name, params)
        if isinstance(step, Score) and step.column not in train.columns:
            notes.append(f"score: the data has no '{step.column}' column, so the step was skipped")
            continue
        names = set(step.entities) & set(NAME_ENTITIES) if isinstance(step, Pii) else set()
        if names and not ner_model_available(step.ner_model):
            notes.append(f"pii: names ({', '.join(sorted(names))}) were not checked: no spaCy NER model "
                         f"'{step.ner_model}' is installed (pattern entities were)")
        steps.append(step)
    return steps, notes


def curate_dataset(dataset: Dataset, config: CurationConfig) -> Curated:
    start = time.perf_counter()
    train, test = dataset.train, dataset.test
    missing = [c for c in config.columns if c not in train.columns]
    if missing:
        raise CurationError(f"curation.columns: {', '.join(missing)} not in the training data; "
                            f"its columns: {', '.join(map(str, train.columns))}")
    steps, notes = _active_steps(config, train)
    score_column = next((s.column for s in steps if isinstance(s, Score)), None)
    steps_json = json.dumps([[s.name, s.params()] for s in steps], sort_keys=True)

    rows = _rows(train, config.columns, score_column) + _rows(test, config.columns, None)
    # The notes say how the steps ran here (names checked or not): a row curated otherwise is not reused.
    items = [json.dumps([CURATION_VERSION, steps_json, notes, texts, score], ensure_ascii=False)
             for texts, score in rows]
    counts: dict[str, int] = {}
    with row_executor(_workers(config)):
        records = cached_json("curation", items, functools.partial(curate_items, steps_json), label="curation steps",
                              parallel_min=config.parallel_min_rows, counts=counts)
    train_records, test_records = records[:len(train)], records[len(train):]

    def rewritten(frame: pd.DataFrame, recs: list[dict[str, Any]]) -> pd.DataFrame:
        frame = frame.copy()
        for j, column in enumerate(config.columns):
            if column in frame.columns:
                frame[column] = [r["texts"][j] for r in recs]
        return frame

    keep = np.array([r["dropped_by"] is None for r in train_records], dtype=bool)
    curated = dataclasses.replace(dataset, train=rewritten(train, train_records), test=rewritten(test, test_records))
    report = _report(config, steps, notes, curated.train, train_records, records, keep)
    report.update(computed_rows=counts["computed"], seconds=round(time.perf_counter() - start, 3))
    return Curated(curated, keep, report)


# Below this share of training rows kept, the report says which filter to look at.
KEEP_WARNING = 0.5


def _report(config: CurationConfig, steps: list[Step], notes: list[str], train: pd.DataFrame,
            train_records: list[dict[str, Any]], records: list[dict[str, Any]], keep: np.ndarray) -> dict[str, Any]:
    filters = [s.name for s in steps if isinstance(s, Filter)]
    dropped = Counter(r["dropped_by"] for r in train_records if r["dropped_by"])
    examples: dict[str, list[dict[str, Any]]] = {name: [] for name in filters}
    for row, record in enumerate(train_records):
        shown = examples.get(record["dropped_by"])
        if shown is not None and len(shown) < EXAMPLES:
            text = " / ".join(t for t in record["texts"] if t)
            shown.append({"id": str(train["id"].iloc[row]), "value": record["value"],
                          "text": text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1] + "…"})
    if len(train_records) and keep.mean() < KEEP_WARNING:
        worst = dropped.most_common(1)[0][0]
        notes = [*notes, f"the filters kept {keep.mean():.0%} of the training rows, '{worst}' dropping the most "
                         f"({dropped[worst]:,}): check that its thresholds suit this text (the law seed's were set for "
                         f"whole questions); loosen them with --set curation.steps.{worst}.<parameter>=... "
                         f"or switch the step off with --set curation.steps.{worst}=false"]
    entities = Counter()
    for record in records:
        entities.update(record["entities"])
    return {
        "columns": config.columns,
        "steps": [{"name": s.name, "kind": s.kind, "params": s.params()} for s in steps],
        "rows_in": len(train_records), "rows_out": int(keep.sum()), "test_rows": len(records) - len(train_records),
        "dropped": {name: dropped.get(name, 0) for name in filters},
        "examples": examples,
        "changed_rows": {s.name: sum(s.name in r["changed"] for r in records) for s in steps
                         if isinstance(s, Transform)},
        "pii_entities": dict(sorted(entities.items(), key=lambda kv: (-kv[1], kv[0]))),
        "notes": notes,
    }

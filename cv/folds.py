"""Fold assignment, made once per (competition, data fingerprint, scheme, splits, seed) and shared.

    folds_id, fold_of_row = shared_folds(competition, dataset, FoldsConfig(n_splits=5), runs_dir)

Every experiment on the same data reads the same file, so their out-of-fold predictions line up row
for row and can be ensembled. Schemes:
- stratified: StratifiedKFold on `dataset.stratify` (plain KFold when there is none);
- grouped: StratifiedGroupKFold: rows sharing `dataset.groups` (a prompt, a Hansol training row)
  never fall in two folds;
- multilabel: iterative stratification (Sechidis et al.) on the tag indicator matrix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold
from submit.cv.experiment import folds_file
from submit.cv.io import atomic_write
from submit.cv.recipe import FoldsConfig, RecipeError
from submit.kernel.checks import DataError
from submit.kernel.competition import SCHEMES, Competition, Dataset


def _labels(stratify: np.ndarray | None, n: int) -> np.ndarray:
    if stratify is None:
        return np.zeros(n, dtype=int)
    return stratify.argmax(axis=1) if stratify.ndim == 2 else np.asarray(stratify)


def check_enough_rows(dataset: Dataset, scheme: str, n_splits: int) -> None:
    """Every fold needs a row (and under the grouped scheme, a group of its own)."""
    n = len(dataset.train)
    where = dataset.files.get("train") or dataset.files.get("extra_train") or "the training data"
    if n == 0:
        raise DataError(where, "no training rows (a header and no data)",
                        expected=f"at least {n_splits} rows, one for each of the {n_splits} folds")
    if n_splits > n:
        raise RecipeError(f"folds.n_splits={n_splits} is more than the {n} training rows of {Path(where).name}; "
                          f"expected at most {n} (e.g. --set folds.n_splits={min(5, n)})")
    if scheme == "grouped" and dataset.groups is not None:
        groups = len(np.unique(dataset.groups))
        if n_splits > groups:
            raise RecipeError(f"folds.n_splits={n_splits} is more than the {groups} groups of rows that must stay in "
                              f"one fold (rows sharing a prompt or a source row) in {Path(where).name}; "
                              f"expected at most {groups}")


def assign_folds(dataset: Dataset, scheme: str, n_splits: int, seed: int) -> np.ndarray:
    """The fold (0..n_splits-1) of each training row."""
    check_enough_rows(dataset, scheme, n_splits)
    n = len(dataset.train)
    placeholder = np.zeros((n, 1))
    if scheme == "stratified":
        splitter = (StratifiedKFold(n_splits, shuffle=True, random_state=seed) if dataset.stratify is not None
                    else KFold(n_splits, shuffle=True, random_state=seed))
        splits = splitter.split(placeholder, _labels(dataset.stratify, n))
    elif scheme == "grouped":
        if dataset.groups is None:
            raise ValueError("the 'grouped' scheme needs groups, and this data has none; use 'stratified'")
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        splits = splitter.split(placeholder, _labels(dataset.stratify, n), dataset.groups)
    elif scheme == "multilabel":
        if dataset.stratify is None or dataset.stratify.ndim != 2:
            raise ValueError("the 'multilabel' scheme needs a label indicator matrix to stratify on")
        splits = MultilabelStratifiedKFold(n_splits, shuffle=True, random_state=seed).split(
            placeholder, dataset.stratify)
    else:
        raise ValueError(f"unknown folds scheme '{scheme}'; known: {', '.join(SCHEMES)}")
    folds = np.full(n, -1, dtype=int)
    for k, (_, valid) in enumerate(splits):
        folds[valid] = k
    if (folds < 0).any() or len(np.unique(folds)) != n_splits:
        raise ValueError(f"cannot make {n_splits} non-empty folds from {n} training rows")
    return folds


def shared_folds(competition: Competition, dataset: Dataset, config: FoldsConfig, runs_dir: Path,
                 fingerprint: str | None = None) -> tuple[str, np.ndarray]:
    """Load the saved assignment for this data and scheme, or make and save it.

    `fingerprint`: dataset.fingerprint() when the caller already has it (hashing large text is not free).
    """
    scheme = config.scheme or competition.folds_scheme
    folds_id = f"{scheme}-k{config.n_splits}-s{config.seed}-{fingerprint or dataset.fingerprint()}"
    path = folds_file(runs_dir, competition.name, folds_id)
    ids = dataset.train["id"].astype(str).to_numpy()
    if path.exists():
        try:
            saved = pd.read_parquet(path)
            if len(saved) == len(ids) and (saved["id"].to_numpy() == ids).all():
                return folds_id, saved["fold"].to_numpy()
        except (OSError, ValueError, KeyError):
            pass  # damaged: made again below, the same (they follow from the seed and the data alone)
    folds = assign_folds(dataset, scheme, config.n_splits, config.seed)
    atomic_write(path, lambda tmp: pd.DataFrame({"id": ids, "fold": folds}).to_parquet(tmp, index=False))
    return folds_id, folds

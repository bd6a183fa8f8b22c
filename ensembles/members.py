"""The experiments an ensemble combines, read back from the store and their artifacts folders.

    members = load_members(store, competition, ["default-1a2b3c4d5e", "bilstm-6f7a8b9c0d"])
    members[0].oof, members[0].test            # (n, k) out-of-fold and (m, k) test predictions

Members must share the folds and the data they were fitted on, else their out-of-fold predictions do
not line up row for row and fold for fold: a mismatch is refused, naming both experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from submit.cv.experiment import OOF, TEST, Experiment
from submit.cv.store import Store
from submit.kernel.competition import Competition
from submit.kernel.errors import UserError
from submit.kernel.tasks import TaskType


class EnsembleError(UserError, ValueError):
    """Experiments that cannot be combined, or a method that does not fit the task."""


@dataclass(frozen=True)
class Member:
    id: str
    head: str
    dir: Path
    cv_mean: float
    fingerprint: str
    folds_id: str
    recipe: dict[str, Any]  # its recipe.yaml: the data options and embedder it ran with
    columns: list[str]  # the prediction columns of oof.parquet and test.parquet
    ids: np.ndarray  # training row ids, in order
    folds: np.ndarray
    oof: np.ndarray
    test: np.ndarray  # (0, k) when the data has no test rows
    test_ids: np.ndarray


def _predictions(task: TaskType, frame: pd.DataFrame, keys: tuple[str, ...]) -> tuple[np.ndarray, pd.DataFrame]:
    """(the predictions, the frame) of oof.parquet (keys id, fold) or test.parquet (id)."""
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise KeyError(f"no column {', '.join(missing)}")
    return task.prediction.from_frame(frame.drop(columns=list(keys))), frame


def read_member(task: TaskType, row: dict[str, Any], runs_dir: Path | None = None) -> Member:
    """The experiment of a store row, read from runs_dir/<competition>/<id> when there (a runs folder that was
    moved or copied keeps working), else from the path the row recorded."""
    beside = Experiment.at(runs_dir, row["competition"], row["id"]) if runs_dir is not None else None
    experiment = beside if beside is not None and beside.dir.is_dir() else Experiment(Path(row["path"]))
    if not experiment.has_predictions():
        raise EnsembleError(f"experiment {row['id']}: no {OOF} in {experiment.dir}; run it again to finish it")
    oof, frame = experiment.read_predictions(OOF, lambda f: _predictions(task, f, ("id", "fold")))
    test, test_frame = experiment.read_predictions(TEST, lambda f: _predictions(task, f, ("id",))) \
        if experiment.has_test() else (task.prediction.allocate(0, like=oof), pd.DataFrame({"id": []}))
    return Member(id=row["id"], head=row["head"], dir=experiment.dir, cv_mean=row["cv_mean"],
                  fingerprint=row["fingerprint"], folds_id=row["folds_id"], recipe=experiment.read_recipe(),
                  columns=[c for c in frame.columns if c not in ("id", "fold")], ids=frame["id"].astype(str).to_numpy(),
                  folds=frame["fold"].to_numpy(), oof=oof, test=test,
                  test_ids=test_frame["id"].astype(str).to_numpy())


def check_compatible(members: list[Member], task: TaskType) -> None:
    """Same data, same folds, same rows, same prediction width (and for vectors, the same space)."""
    if len(members) < 2:
        raise EnsembleError(f"an ensemble needs at least two experiments, got {len(members)}")
    first = members[0]
    for other in members[1:]:
        for what, a, b in (("data fingerprint", first.fingerprint, other.fingerprint),
                           ("folds", first.folds_id, other.folds_id)):
            if a != b:
                raise EnsembleError(f"experiments {first.id} and {other.id} were run on different {what} ({a} vs {b}); "
                                    "only experiments on the same data and folds can be combined: run both recipes "
                                    "with the same --data and folds settings")
        if not np.array_equal(first.ids, other.ids) or not np.array_equal(first.folds, other.folds):
            raise EnsembleError(f"experiments {first.id} and {other.id} hold different training rows or fold numbers")
        if not np.array_equal(first.test_ids, other.test_ids):
            raise EnsembleError(f"experiments {first.id} and {other.id} predict different test rows")
        widths = [task.prediction.width(m.oof) for m in (first, other)]
        if widths[0] != widths[1]:
            raise EnsembleError(f"experiments {first.id} and {other.id} predict arrays of different shapes "
                                f"({widths[0]} vs {widths[1]} columns)")
        if task.prediction.in_embedder_space and first.recipe.get("embedder") != other.recipe.get("embedder"):
            raise EnsembleError(f"experiments {first.id} and {other.id} predict vectors in different spaces "
                                f"({first.recipe.get('embedder')} vs {other.recipe.get('embedder')})")


def load_members(store: Store, competition: Competition, ids: list[str] | None = None) -> list[Member]:
    """The named experiments, or by default every model experiment on the data and folds of the best one."""
    board = store.leaderboard(competition.name)
    if ids:
        by_id = {r["id"]: r for r in board}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise EnsembleError(f"no experiment {', '.join(missing)} for {competition.name}; "
                                f"see `submit leaderboard {competition.name}`")
        rows = [by_id[i] for i in ids]
    else:
        models = [r for r in board if r["kind"] == "model"]
        if not models:
            raise EnsembleError(f"no experiments for {competition.name} yet; run some first, e.g. "
                                f"`submit {competition.name}`")
        best = models[0]
        rows = [r for r in models if (r["fingerprint"], r["folds_id"]) == (best["fingerprint"], best["folds_id"])]
    return [read_member(competition.task, r, store.path.parent) for r in rows]

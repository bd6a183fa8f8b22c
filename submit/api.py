"""The harness from Python, for notebooks: run a competition, read its leaderboard.

    import submit
    result = submit.run("law-tags", params__C=8)       # a recipe key per keyword: `--set params.C=8`
    result.cv, result.experiment, result.rank          # the CV score, the experiment id, its place
    result.oof.head()                                  # id, fold, then the out-of-fold predictions
    submit.run("wsdm", data={"train": train, "test": test, "sample_submission": sample})   # DataFrames
    submit.leaderboard("law-tags")                     # a DataFrame, best first

Each keyword is a recipe key, as the command line's `--set` takes it: `__` stands for the dot
(`folds__n_splits=3`), and a dotted key works spelt as a string (`**{"params.C": 8}`). Mistakes raise the
harness's own errors (subclasses of submit.kernel.errors.UserError) with the messages the command line prints;
nothing here exits the interpreter. `runs` and the content cache default as for the command
(SUBMIT_RUNS_DIR, else runs/; SUBMIT_CACHE_DIR, else runs/cache), and so does the executor (SUBMIT_EXECUTOR).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from rich.console import Console

from submit.app import UsageError
from submit.cli import StageBars
from submit.cv.experiment import OOF, TEST, Experiment
from submit.cv.store import Store
from submit.kernel.checks import DataError, find_table
from submit.kernel.competition import Competition
from submit.kernel.plugins import get_competition
from submit.leaderboard import leaderboard_frame
from submit.models.progress import listening
from submit.pipeline import Outcome, run_competition

DATA_TABLES = ("train", "test", "sample_submission")  # what `data` may hold as DataFrames; train is needed
_WRITERS: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    ".csv": lambda frame, path: frame.to_csv(path, index=False),
    ".parquet": lambda frame, path: frame.to_parquet(path, index=False),
    ".jsonl": lambda frame, path: frame.to_json(path, orient="records", lines=True, force_ascii=False),
}


@dataclass(frozen=True, repr=False)
class RunResult:
    """One run of `submit.run`: the experiment's scores, its predictions and its submission."""

    competition: str
    experiment: str  # the experiment's id: what `submit predict`, `submit ensemble` and `submit upload` take
    cv: float  # the mean of the folds' scores in `metric`
    cv_std: float
    fold_scores: list[float]
    metric: str
    higher_is_better: bool
    rank: int  # on the competition's local leaderboard, 1 the best
    ranked: int  # experiments on that leaderboard
    oof: pd.DataFrame  # out-of-fold predictions: id, fold, then a column per class, tag, vector dimension or text
    test: pd.DataFrame  # test predictions: id, then the same columns (no rows when the data has no test rows)
    submission: Path | None  # the validated submission file; None when the data has no test rows
    folder: Path  # the experiment's folder under the runs folder

    def __repr__(self) -> str:
        direction = "higher" if self.higher_is_better else "lower"
        return (f"RunResult({self.competition} {self.experiment}: CV {self.metric} {self.cv:.4f} ± {self.cv_std:.4f} "
                f"({direction} is better), rank {self.rank} of {self.ranked}, submission {self.submission})")


def run(competition: str, recipe: str | Path | None = None, data: str | Path | Mapping[str, pd.DataFrame] | None = None,
        runs: str | Path | None = None, *, progress: bool = True, **overrides: Any) -> RunResult:
    """Cross-validate a recipe (default: the competition's `default`), rank it and write a validated submission.

    `data`: a folder of the host's files, or DataFrames under `train`, `test` and `sample_submission` (written
    as the host's files to a temporary folder, so the competition's own checks read them); default: as
    `submit COMPETITION` (data/COMPETITION if downloaded, else the bundled sample). `progress`: draw a bar per
    stage (in a notebook too). `overrides`: recipe keys, as `--set` takes them (see the module's docstring).
    """
    sets = [_set_option(key, value) for key, value in overrides.items()]
    comp = get_competition(competition)  # an unknown name is answered with the installed ones
    runs_dir = _runs_dir(runs)
    with _data_folder(comp, data) as data_dir, _progress(progress) as on_stage:
        outcome = run_competition(comp.name, data=data_dir, recipe=str(recipe or "default"), overrides=sets,
                                  runs_dir=runs_dir, cache_dir=_env_path("SUBMIT_CACHE_DIR"),
                                  executor=os.environ.get("SUBMIT_EXECUTOR") or None, on_stage=on_stage)
    return _result(outcome)


def leaderboard(competition: str, runs: str | Path | None = None) -> pd.DataFrame:
    """The competition's local CV leaderboard, best first, indexed by rank (the columns of `submit leaderboard
    --format csv`); an empty DataFrame when nothing is recorded yet. Reads only: creates no file."""
    comp = get_competition(competition)
    rows = Store(_runs_dir(runs) / "leaderboard.sqlite", read_only=True).leaderboard(comp.name)
    return leaderboard_frame(rows).set_index("rank") if rows else pd.DataFrame()


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None


def _runs_dir(runs: str | Path | None) -> Path:
    """The runs folder given, else the command line's default: SUBMIT_RUNS_DIR, else runs/."""
    return Path(runs) if runs is not None else _env_path("SUBMIT_RUNS_DIR") or Path("runs")


def _plain(value: Any) -> Any:
    """A value json cannot write as it is: a numpy number as a Python one, anything else (a path) as its text."""
    return value.item() if hasattr(value, "item") else str(value)


def _set_option(key: str, value: Any) -> str:
    """A keyword override as the command line's `--set` text: params__C=8 -> 'params.C=8'. The value is written
    as JSON, which the recipe reads as YAML, so numbers, lists and None keep their types."""
    return f"{key.replace('__', '.')}={json.dumps(value, default=_plain)}"


@contextmanager
def _progress(show: bool) -> Iterator[Callable[[str], None]]:
    """A bar per stage and the run's notes, as the command draws them: in a notebook's output, else on stderr
    (stdout stays the caller's); nothing when `show` is False."""
    if not show:
        yield lambda _: None
        return
    with StageBars(Console(stderr=True, soft_wrap=True)) as bars, listening(bars):
        yield bars.progress.console.print


@contextmanager
def _data_folder(competition: Competition, data: str | Path | Mapping[str, pd.DataFrame] | None
                 ) -> Iterator[Path | None]:
    """The folder the competition loads: the one given, or the DataFrames written to a temporary one."""
    if data is None or isinstance(data, str | os.PathLike):
        yield None if data is None else Path(data)
        return
    if not isinstance(data, Mapping):
        raise UsageError(f"data: expected a folder or a mapping of DataFrames ({', '.join(DATA_TABLES)}), "
                         f"got {type(data).__name__}")
    with tempfile.TemporaryDirectory(prefix=f"submit-{competition.name}-frames-") as tmp:
        _write_tables(competition, data, Path(tmp))
        yield Path(tmp)


def _write_tables(competition: Competition, frames: Mapping[str, pd.DataFrame], folder: Path) -> None:
    """Each DataFrame as the host's file of its name (train.csv, train.parquet...), in the format of the
    competition's bundled sample file of that name, Parquet where the sample has none."""
    unknown = [name for name in frames if name not in DATA_TABLES]
    if unknown or "train" not in frames:
        raise UsageError(f"data: expected DataFrames under 'train' (needed), 'test' and 'sample_submission'; got "
                         f"{', '.join(map(repr, frames)) or 'none'}")
    for name, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise UsageError(f"data['{name}']: expected a pandas DataFrame, got {type(frame).__name__}")
        sample = find_table(competition.sample_dir, name) if competition.sample_dir.is_dir() else None
        suffix = sample.suffix if sample is not None and sample.suffix in _WRITERS else ".parquet"
        try:
            _WRITERS[suffix](frame, folder / f"{name}{suffix}")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:  # a column of mixed types
            raise DataError(f"data['{name}']", f"cannot be written as the host's {name}{suffix} ({err})",
                            expected="one type of value in each column") from None


def _predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """An experiment's stored predictions with their keys (id, and fold for out-of-fold rows) first."""
    keys = [c for c in ("id", "fold") if c in frame.columns]
    return frame[keys + [c for c in frame.columns if c not in keys]]


def _result(outcome: Outcome) -> RunResult:
    r = outcome.result
    experiment = Experiment(r.dir)
    oof = experiment.read_predictions(OOF, _predictions)
    test = experiment.read_predictions(TEST, _predictions) if experiment.has_test() \
        else oof.drop(columns="fold").iloc[:0]
    return RunResult(competition=outcome.competition.name, experiment=r.id, cv=r.cv_mean, cv_std=r.cv_std,
                     fold_scores=list(r.fold_scores), metric=r.metric, higher_is_better=r.higher_is_better,
                     rank=outcome.rank[0], ranked=outcome.rank[1], oof=oof, test=test,
                     submission=outcome.submission, folder=r.dir)

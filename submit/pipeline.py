"""One competition end to end: load and check the files, cross-validate, rank, write a valid submission.

    outcome = run_competition("wsdm", recipe="default", runs_dir=Path("runs"))
    outcome.result.cv_mean, outcome.submission      # the CV score and the written file (None: CV only)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from submit.cv.executor import build_executor
from submit.cv.experiment import Experiment
from submit.cv.io import atomic_write_text, check_can_write
from submit.cv.recipe import UNLABELED, Recipe, load_options, load_recipe
from submit.cv.runner import ExperimentResult, run_experiment
from submit.cv.store import Store
from submit.ensembles.transfer import make_lender
from submit.kernel.checks import DataError
from submit.kernel.competition import Competition, Dataset
from submit.kernel.parallel import Executor
from submit.kernel.plugins import get_competition
from submit.models.cache import chosen_cache_dir
from submit.models.progress import StageTimes, listening, stage
from submit.plan import preflight, write_plan
from submit.validate import write_submission


@dataclass
class Outcome:
    competition: Competition
    dataset: Dataset
    data_dir: Path
    data_source: str  # what data_dir is: given, downloaded, bundled sample
    recipe: Recipe
    result: ExperimentResult
    rank: tuple[int, int]
    submission: Path | None


def resolve_data_dir(competition: Competition, data: Path | None, downloads: Path = Path("data")
                     ) -> tuple[Path, str]:
    """--data if given, else downloaded files under data/<competition>, else the bundled sample."""
    if data is not None:
        if not Path(data).is_dir():
            raise DataError(data, "not a folder", expected=f"a folder holding {competition.name}'s files")
        return Path(data), "given"
    downloaded = downloads / competition.name
    if downloaded.is_dir() and any(downloaded.iterdir()):
        return downloaded, "downloaded"
    if not competition.sample_dir.is_dir():
        raise DataError(competition.sample_dir, f"{competition.name} has no bundled sample and {downloaded} holds "
                        "no files", expected=f"--data DIR with the host's files (or `submit download "
                        f"{competition.name}` for a Kaggle competition)")
    return competition.sample_dir, "bundled sample" if competition.synthetic_sample else "its folder"


def cache_location(runs_dir: Path, cache_dir: Path | None = None) -> Path:
    """The content cache: the one given, else the one the caller is using (models.cache.using_cache_dir), else
    the runs folder's cache/."""
    return Path(cache_dir) if cache_dir else chosen_cache_dir() or Path(runs_dir) / "cache"


def run_competition(name: str, *, data: Path | None = None, recipe: str = "default", overrides: list[str] = (),
                    output: Path | None = None, runs_dir: Path = Path("runs"), cache_dir: Path | None = None,
                    executor: str | Executor | None = None, force: bool = False,
                    on_stage: Callable[[str], None] = lambda _: None) -> Outcome:
    """`executor`: where the folds run, an executor or its name (cv.executor.EXECUTORS); default: the recipe's
    `executor`, else local. Stages (loading, features, folds, ...) report through models.progress: listen
    there for bars. An LLM recipe is planned first (submit.plan.preflight): refused where it cannot fit this
    machine's GPU unless `force`, and its plan recorded as the experiment's plan.json."""
    competition = get_competition(name)
    resolved = load_recipe(competition, recipe, list(overrides))
    planned = preflight(competition, resolved, force=force)
    if executor is None or isinstance(executor, str):
        executor = build_executor(executor or resolved.executor or "local", cpus=resolved.fold_cpus,
                                  gpus=resolved.fold_gpus)
    if output is not None:
        check_can_write(output)  # now, not after the whole CV
    data_dir, source = resolve_data_dir(competition, data)
    on_stage(f"Loading {competition.title} from {data_dir} ({source})")
    times = StageTimes()
    with listening(times), stage("load and check"):
        dataset = competition.load(data_dir, **load_options(resolved.data))
        unlabeled = competition.load_unlabeled(Path(resolved.data[UNLABELED])) if resolved.data.get(UNLABELED) \
            else None
    on_stage(f"{len(dataset.train):,} training rows, {len(dataset.test):,} test rows; "
             f"recipe '{resolved.name}' (head {resolved.head})")
    if resolved.curation:
        on_stage(f"Curating {', '.join(resolved.curation.columns)}: {', '.join(resolved.curation.steps)}")
    store = Store(runs_dir / "leaderboard.sqlite")
    lender = make_lender(competition, dataset, resolved, store, unlabeled=unlabeled,  # checks the teachers now
                         executor=executor)
    result = run_experiment(competition, dataset, resolved, runs_dir, executor=executor,
                            cache_dir=cache_location(runs_dir, cache_dir), store=store, times=times, lender=lender)
    if planned:
        write_plan(result.dir, *planned)
    rank = store.rank(competition.name, result.id)

    submission = record_experiment_submission(
        competition, dataset, result.test_decided, output or Experiment(result.dir).submission_path, store,
        experiment=result.id, metric=result.metric, cv_mean=result.cv_mean, embedder=resolved.embedder)
    return Outcome(competition, dataset, data_dir, source, resolved, result, rank, submission)


def record_experiment_submission(competition: Competition, dataset: Dataset, decided: np.ndarray, path: Path,
                                 store: Store, *, experiment: str, metric: str, cv_mean: float, embedder: str
                                 ) -> Path | None:
    """The experiment's submission written (see below) and recorded in the store; None when the data has no
    test rows or no sample_submission to check against."""
    if not len(dataset.test) or dataset.sample_submission is None:
        return None
    submission, vectors_model = write_experiment_submission(competition, dataset, decided, path, experiment=experiment,
                                                            metric=metric, cv_mean=cv_mean, embedder=embedder)
    store.record_submission(experiment, competition.name, submission.resolve(), vectors_model)
    return submission


def write_experiment_submission(competition: Competition, dataset: Dataset, decided: np.ndarray, path: Path, *,
                                experiment: str, metric: str, cv_mean: float, embedder: str
                                ) -> tuple[Path, str | None]:
    """Format, validate and write the submission, with its `.json` sidecar naming the experiment and, for
    vectors, the model that made them (the Dacon upload checks it); returns the path and that model."""
    frame = competition.format_submission(dataset, decided)
    spec = competition.submission_spec(dataset)
    submission = write_submission(frame, dataset.sample_submission, spec, path)
    vectors_model = embedder if competition.task.prediction.in_embedder_space else None
    atomic_write_text(Path(f"{submission}.json"), json.dumps({
        "competition": competition.name, "experiment": experiment, "metric": metric, "cv_mean": cv_mean,
        "vectors_model": vectors_model}, indent=2))
    return submission, vectors_model

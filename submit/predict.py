"""Predict new test rows with an experiment's saved fold heads, and write a validated submission.

    path = predict_submission("wsdm", "default-1a2b3c4d5e", data=Path("data/wsdm"))
    path = predict_submission("wsdm", Path("/kaggle/working/experiment"), data=Path("/kaggle/input/wsdm-cup..."))

The experiment is an id under runs/<competition>/ or any folder holding one (an inference bundle brings
what predicting needs: cv/experiment.py knows the layout). The test rows go through every fold's head
under the recipe's test-time views, are averaged as in the CV run, pass through the decision fitted on
out-of-fold predictions, and are written as the host's submission file after its checks.

An ensemble (made by `submit ensemble`) is predicted the same way: each member from its own saved folds,
then blended by the ensemble's combiner as fitted on all out-of-fold rows (ensemble.json), then its own
decision. Its members' folders sit beside it (runs/<competition>/<id>) or under its members/ folder (a bundle).
A member of weight 0 changes nothing in the blend, so a bundle leaves it out; where it is absent, zeros stand in.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from submit.cv.experiment import Experiment, find_experiment, finished_ids
from submit.cv.io import check_can_write
from submit.cv.recipe import Recipe, RecipeError, build_recipe
from submit.cv.runner import predict_saved_folds
from submit.ensembles.build import make_combiner
from submit.ensembles.members import EnsembleError
from submit.ensembles.methods import Combiner
from submit.kernel.checks import DataError, find_table
from submit.kernel.competition import Competition, Dataset
from submit.kernel.plugins import get_competition
from submit.models.cache import using_cache_dir
from submit.pipeline import cache_location, resolve_data_dir, write_experiment_submission


def experiment_dir(competition: str, experiment: str | Path, runs_dir: Path = Path("runs")) -> Path:
    """A folder holding the experiment: the argument itself when it is one, else runs/<competition>/<id>, where
    a unique start of an id will do (as git takes a commit's)."""
    found = find_experiment(competition, experiment, runs_dir)
    if found is not None:
        return found.dir
    known = finished_ids(runs_dir, competition)
    starting = [name for name in known if name.startswith(str(experiment))] if str(experiment) else []
    if len(starting) == 1:
        return Experiment.at(runs_dir, competition, starting[0]).dir
    if len(starting) > 1:
        raise RecipeError(f"'{experiment}' starts more than one experiment of {competition}: {', '.join(starting)}; "
                          "give more of the id")
    raise RecipeError(f"no finished experiment '{experiment}' for {competition} in {Path(runs_dir) / competition} "
                      f"(and no folder of that name holding one); "
                      f"known: {', '.join(known) or 'none, run one first: submit ' + competition}")


def is_ensemble(folder: Path) -> bool:
    return Experiment(folder).is_ensemble()


def saved_recipe(competition_name: str, folder: Path) -> Recipe:
    raw = Experiment(folder).read_recipe()
    name = raw.pop("name", folder.name)
    return build_recipe(get_competition(competition_name), raw, name)


def fold_models(folder: Path, recipe: Recipe) -> list[Path]:
    """The experiment's saved fold heads, checked (cv/experiment.py: Experiment.fold_models)."""
    return Experiment(folder).fold_models(recipe.folds.n_splits)


def unweighted(member: dict) -> bool:
    """A member the ensemble gave weight 0 (not None: rank and stack blends have no weights, and use every member)."""
    return member.get("weight") is not None and float(member["weight"]) == 0.0


def saved_ensemble(competition: Competition, folder: Path) -> tuple[Combiner, list[Path | None]]:
    """An ensemble's combiner as fitted on all out-of-fold rows, and its members' folders in its order (None: a
    member of weight 0 that is not there)."""
    experiment = Experiment(folder)
    if not experiment.has_ensemble_file():
        raise EnsembleError(f"ensemble {folder.name}: no ensemble.json in {folder}; build it again with "
                            f"`submit ensemble {competition.name}`")
    stored = experiment.read_ensemble()
    ids = [m["id"] for m in stored["members"]]
    again = f"submit ensemble {competition.name} --experiments {','.join(ids)} --method {stored['method']}"
    try:
        combiner = make_combiner(stored["method"], competition.task).restore(stored["combiner"])
    except EnsembleError as err:
        raise EnsembleError(f"ensemble {folder.name}: {err}; build it again with `{again}`") from None
    members: list[Path | None] = []
    for member, record in zip(ids, stored["members"], strict=True):
        places = experiment.member_places(member)
        found = [p for p in places if Experiment(p).holds()]
        if not found and unweighted(record):
            members.append(None)
            continue
        if not found:
            raise EnsembleError(f"ensemble {folder.name}: its member experiment {member} is not in "
                                f"{' or '.join(map(str, places))}; put that experiment's folder there, or run it "
                                f"again on the same data and then `{again}`")
        members.append(found[0])
    return combiner, members


def load_for_prediction(competition: Competition, data_dir: Path) -> Dataset:
    """The competition's files in `data_dir` for predicting its test rows: the host's whole layout, or its test
    files alone (test, sample_submission), beside which the bundled sample's training files stand in, unused:
    a plugin's loader reads a layout whole."""
    if find_table(data_dir, "train") is not None or find_table(competition.sample_dir, "train") is None:
        return competition.load(data_dir)
    with tempfile.TemporaryDirectory(prefix="submit-predict-") as joined:
        for path in [*data_dir.iterdir(), *competition.sample_dir.glob("train*")]:
            if not (Path(joined) / path.name).exists():
                (Path(joined) / path.name).symlink_to(path.resolve())
        dataset = competition.load(Path(joined))
    places = {k: data_dir / v.name if (data_dir / v.name).exists() else competition.sample_dir / v.name
              for k, v in dataset.files.items()}  # where the files are, not the joined folder's links
    return dataclasses.replace(dataset, files=places)


def predict_experiment(competition: Competition, folder: Path, X: pd.DataFrame) -> np.ndarray:
    """Undecided predictions for rows X: a model's fold heads as in its CV run, or an ensemble's members
    (each predicted this way) blended by its combiner."""
    if is_ensemble(folder):
        combiner, members = saved_ensemble(competition, folder)
        preds = {k: predict_experiment(competition, m, X) for k, m in enumerate(members) if m is not None}
        absent = np.zeros_like(next(iter(preds.values())))  # weight 0: any value gives the same blend
        return combiner.apply([preds.get(k, absent) for k in range(len(members))])
    recipe = saved_recipe(competition.name, folder)
    return predict_saved_folds(competition.task, recipe.head, fold_models(folder, recipe), recipe.tta, X,
                               recipe.tta_budget)


def predict_submission(competition_name: str, experiment: str | Path, *, data: Path | None = None,
                       output: Path | None = None, runs_dir: Path = Path("runs"), cache_dir: Path | None = None
                       ) -> Path:
    """Write the submission of `experiment` for the test rows in `data` (default: as `submit run` finds them);
    embeddings of the test rows go to `cache_dir` (default: the runs folder's cache/)."""
    with using_cache_dir(cache_location(runs_dir, cache_dir)):
        return _predict_submission(competition_name, experiment, data, output, Path(runs_dir))


def _predict_submission(competition_name: str, experiment: str | Path, data: Path | None, output: Path | None,
                        runs_dir: Path) -> Path:
    competition = get_competition(competition_name)
    if output is not None:
        check_can_write(output)
    folder = experiment_dir(competition_name, experiment, runs_dir)
    scores = Experiment(folder).read_summary("decision", "experiment", "metric", "cv_mean")
    data_dir, _ = resolve_data_dir(competition, data)
    # The recipe's data options (a training subset, extra training rows) shape training only: the test
    # rows are the host's files as they are.
    dataset = load_for_prediction(competition, data_dir)
    if not len(dataset.test) or dataset.sample_submission is None:
        raise DataError(data_dir, "no test rows or no sample_submission", expected="the host's test files")
    decided = competition.decide(predict_experiment(competition, folder, dataset.test), scores["decision"])
    path, _ = write_experiment_submission(
        competition, dataset, decided, output or Experiment(folder).submission_path, experiment=scores["experiment"],
        metric=scores["metric"], cv_mean=scores["cv_mean"],
        embedder=Experiment(folder).read_recipe().get("embedder", Recipe.embedder))
    return path

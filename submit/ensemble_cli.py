"""`submit ensemble`: blend experiments that share folds into a new experiment, and write its submission.

    submit ensemble wsdm                                   every experiment on the best one's data and folds
    submit ensemble wsdm --experiments default-1a2b3c4d5e,bilstm-6f7a8b9c0d --method caruana
    submit ensemble law-tags --data ../shared/data/law --method stack

The data is loaded again (with the members' own loader options) for the targets and the submission;
its fingerprint must be the one the members were fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from submit.app import CacheDir, RunsDir, app, out

if TYPE_CHECKING:
    from submit.ensembles.build import EnsembleResult
    from submit.ensembles.members import Member
    from submit.kernel.competition import Competition, Dataset

# The names of submit.ensembles.methods.METHODS, written out so that `submit --help` need not import scikit-learn
# (tests/test_cli.py checks that they agree).
METHOD_NAMES = ("weighted", "rank", "caruana", "stack", "mbr")


@dataclass
class EnsembleOutcome:
    competition: Competition
    dataset: Dataset
    members: list[Member]
    result: EnsembleResult
    submission: Path | None


def ensemble_competition(name: str, *, experiments: list[str] | None = None, method: str = "weighted",
                         data: Path | None = None, output: Path | None = None, runs_dir: Path = Path("runs"),
                         cache_dir: Path | None = None) -> EnsembleOutcome:
    from submit.models.cache import using_cache_dir
    from submit.pipeline import cache_location

    with using_cache_dir(cache_location(runs_dir, cache_dir)):  # Hansol's targets are embedded
        return _ensemble_competition(name, experiments, method, data, output, Path(runs_dir))


def _ensemble_competition(name: str, experiments: list[str] | None, method: str, data: Path | None,
                          output: Path | None, runs_dir: Path) -> EnsembleOutcome:
    from submit.cv.experiment import Experiment
    from submit.cv.io import check_can_write
    from submit.cv.recipe import load_options
    from submit.cv.store import Store
    from submit.ensembles.build import build_ensemble
    from submit.ensembles.members import EnsembleError, load_members
    from submit.kernel.plugins import get_competition
    from submit.pipeline import record_experiment_submission, resolve_data_dir

    competition = get_competition(name)
    if output is not None:
        check_can_write(output)
    store = Store(runs_dir / "leaderboard.sqlite")
    members = load_members(store, competition, experiments)
    first = members[0]
    data_dir, _ = resolve_data_dir(competition, data)
    dataset = competition.load(data_dir, **load_options(first.recipe.get("data") or {}))
    if dataset.fingerprint() != first.fingerprint:
        raise EnsembleError(f"the data in {data_dir} (fingerprint {dataset.fingerprint()}) is not the data experiment "
                            f"{first.id} was fitted on ({first.fingerprint}); pass the same --data it ran with")
    y = competition.targets(dataset, first.recipe.get("embedder"))
    result = build_ensemble(competition, members, y, method, runs_dir, store, groups=dataset.groups)
    submission = record_experiment_submission(
        competition, dataset, result.test_decided, output or Experiment(result.dir).submission_path, store,
        experiment=result.id, metric=result.metric, cv_mean=result.cv_mean, embedder=first.recipe.get("embedder"))
    return EnsembleOutcome(competition, dataset, members, result, submission)


@app.command()
def ensemble(
    competition: Annotated[str, typer.Argument(help="A competition name.")],
    experiments: Annotated[str | None, typer.Option(help="Comma-separated experiment ids (see `submit leaderboard`). "
                                                         "Default: every model experiment on the data and folds of "
                                                         "the best one.")] = None,
    method: Annotated[str, typer.Option(help=f"One of: {', '.join(METHOD_NAMES)}.")] = "weighted",
    data: Annotated[Path | None, typer.Option(help="Folder with the host's files the experiments ran on.")] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write the submission. Default: in the "
                                                     "ensemble's folder (printed).")] = None,
    runs: RunsDir = Path("runs"),
    cache: CacheDir = None,
) -> None:
    """Blend experiments fitted on the same folds; weights are fitted on out-of-fold predictions only.

    \b
    Examples:
      submit ensemble wsdm
      submit ensemble lmsys --experiments A,B --method caruana
      submit ensemble law-tags --data ../shared/data/law --method stack
    """
    from rich.table import Table

    ids = [e.strip() for e in experiments.split(",") if e.strip()] if experiments else None
    outcome = ensemble_competition(competition, experiments=ids, method=method, data=data, output=output,
                                   runs_dir=runs, cache_dir=cache)
    r = outcome.result
    table = Table(title=f"{competition}: ensemble of {len(outcome.members)} ({method})")
    for column, justify in (("experiment", "left"), ("head", "left"), (f"CV {r.metric}", "right"),
                            ("weight", "right")):
        table.add_column(column, justify=justify)
    for m in outcome.members:
        weight = r.weights[m.id]
        table.add_row(m.id, m.head, f"{m.cv_mean:.4f}", "–" if weight is None else f"{weight:.3f}")
    table.add_row(f"[bold]{r.id}[/]", method, f"[bold]{r.cv_mean:.4f}[/] ± {r.cv_std:.4f}", "")
    out.print(table)
    best = max(outcome.members, key=lambda m: m.cv_mean if r.higher_is_better else -m.cv_mean)
    gain = (r.cv_mean - best.cv_mean) * (1 if r.higher_is_better else -1)
    verdict = "better" if gain > 5e-5 else "the same to 4 decimals" if gain > -5e-5 else "worse: keep the best member"
    out.print(f"Ensemble CV {r.metric} {r.cv_mean:.4f} vs best member {best.cv_mean:.4f} ({best.id}): {verdict}. "
              "The weights were fitted on other folds' out-of-fold rows for each fold's score.")
    if outcome.submission:
        out.print(f"Submission written and validated: [bold]{outcome.submission}[/]")
    out.print(f"Next: submit leaderboard {competition}")

"""The `submit` command.

    submit wsdm                              # CV the default recipe, rank it, write a valid submission
    submit lmsys --recipe longer-wins        # another recipe of the competition
    submit leaderboard lmsys --format markdown
    submit validate hansol my_submission.csv

`submit <competition>` is short for `submit run <competition>`.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from submit.app import CacheDir, RunsDir, UsageError, app, console, out
from submit.curation.report import report_renderable
from submit.cv.executor import EXECUTORS
from submit.cv.store import Store, rebuild_store
from submit.kernel.checks import DataError
from submit.kernel.plugins import competition_names, get_competition
from submit.leaderboard import FORMATS, render, rich_table
from submit.models.progress import Listener, Stage, listening
from submit.pipeline import resolve_data_dir, run_competition
from submit.validate import column_order, validate_file


class Terminated(KeyboardInterrupt):
    """SIGTERM, met like Ctrl-C: what is finished is kept."""


def _interrupt(signum: int, frame: object) -> None:
    raise Terminated


class StageBars(Listener):
    """A models.progress listener drawing a rich bar per stage: units done, elapsed and estimated time left.
    A finished stage keeps its line (with its time) when it took SHOW_AFTER_S or more; quicker ones vanish."""

    SHOW_AFTER_S = 2.0

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("left"),
                                 TimeRemainingColumn(), console=console)
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self) -> StageBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def started(self, stage: Stage) -> None:
        self.tasks[id(stage)] = self.progress.add_task(stage.name, total=stage.total, unit=stage.unit)

    def advanced(self, stage: Stage) -> None:
        self.progress.update(self.tasks[id(stage)], completed=stage.done, total=stage.total)

    def finished(self, stage: Stage) -> None:
        task = self.tasks.pop(id(stage))
        if stage.seconds < self.SHOW_AFTER_S:
            self.progress.remove_task(task)
        else:
            total = stage.total or 1
            self.progress.update(task, completed=total, total=total)
            self.progress.stop_task(task)


@app.command()
def run(
    competition: Annotated[str, typer.Argument(help="A competition name (see `submit list`).")],
    data: Annotated[Path | None, typer.Option(help="Folder with the host's files. Default: data/<competition> "
                                                    "if downloaded, else the bundled sample.")] = None,
    recipe: Annotated[str, typer.Option(help="Recipe name of the competition, or a path to a YAML file.")] = "default",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe key: key=value "
                                                                 "(e.g. params.n_estimators=100).")] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write the submission. Default: in the "
                                                     "experiment's folder (printed).")] = None,
    executor: Annotated[str | None, typer.Option(help=f"Where the folds run: {', '.join(EXECUTORS)}. Default: the "
                                                      "recipe's `executor`, else local.",
                                                 envvar="SUBMIT_EXECUTOR")] = None,
    runs: RunsDir = Path("runs"),
    cache: CacheDir = None,
) -> None:
    """Cross-validate a recipe, rank it on the local leaderboard and write a validated submission.

    Examples: `submit wsdm`, `submit lmsys --data data/lmsys --recipe longer-wins`,
    `submit law-tags --set params.C=8 --set folds.n_splits=3 --output sub.csv`,
    `submit law-tags --executor processes` (folds in parallel worker processes).
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` and schedulers stop a run the way Ctrl-C does
    try:
        with StageBars(console) as bars, listening(bars):
            outcome = run_competition(competition, data=data, recipe=recipe, overrides=set_ or [], output=output,
                                      runs_dir=runs, cache_dir=cache, executor=executor,
                                      on_stage=lambda text: bars.progress.console.print(text))
    except KeyboardInterrupt as stop:
        console.print("interrupted: finished folds are kept; run the same command again to resume.")
        raise typer.Exit(143 if isinstance(stop, Terminated) else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)

    r = outcome.result
    if r.curation:
        out.print(report_renderable(r.curation))
    direction = "higher is better" if r.higher_is_better else "lower is better"
    folds = " ".join(f"{s:.4f}" for s in r.fold_scores)
    out.print(f"CV {r.metric}: [bold]{r.cv_mean:.4f}[/] ± {r.cv_std:.4f} ({direction}); folds: {folds}")
    if r.cv_no_tta is not None:
        out.print(f"  without test-time views: {r.cv_no_tta:.4f}")
    for name, value in r.other_scores.items():
        out.print(f"  {name}: {value:.4f}")
    for note in r.repaired:
        out.print(f"  {note}", markup=False, highlight=False)
    reused = len(r.fold_scores) - r.folds_run
    if reused:
        out.print(f"  {reused} finished fold(s) reused from an earlier run")
    out.print(f"Experiment [bold]{r.id}[/]: rank {outcome.rank[0]} of {outcome.rank[1]} on the {competition} "
              f"leaderboard ({r.dir})")
    if outcome.submission:
        out.print(f"Submission written and validated: [bold]{outcome.submission}[/]")
        if outcome.data_source == "bundled sample":
            out.print("  (made from the bundled synthetic sample: pass --data DIR with the host's files for a real "
                      "submission)")
    else:
        out.print("No test rows in this data: CV only, no submission written.")
    out.print(f"Next: submit leaderboard {competition}")


@app.command("list")
def list_competitions() -> None:
    """The installed competitions (and those set up by `submit init`), their tasks, metrics and recipes.
    Example: `submit list`."""
    for name in competition_names():
        try:
            comp = get_competition(name)
        except Exception as err:  # a broken plugin is reported, not fatal
            out.print(f"{name}: cannot be loaded ({err})")
            continue
        direction = "higher" if comp.metric.higher_is_better else "lower"
        out.print(f"[bold]{name}[/] ({comp.host}): {comp.title}; task {comp.task.name}; "
                  f"metric {comp.metric.name} ({direction} is better); recipes: {', '.join(comp.recipe_names())}")


@app.command()
def leaderboard(
    competition: Annotated[str, typer.Argument(help="A competition name.")],
    format_: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "table",
    sync: Annotated[bool, typer.Option(help="First fetch our Kaggle submissions' public/private scores; show them "
                                            "beside CV with the CV-LB rank correlation.")] = False,
    plot: Annotated[Path | None, typer.Option(help="With --sync: write a PNG of CV vs public score.")] = None,
    slug: Annotated[str | None, typer.Option(help="With --sync: the Kaggle slug, if not the plugin's.")] = None,
    rebuild: Annotated[bool, typer.Option(help="First rebuild the store from the experiments' folders (their "
                                               "scores.json): after it was damaged or lost.")] = False,
    runs: RunsDir = Path("runs"),
) -> None:
    """The local CV leaderboard, best first in the metric's direction, with public scores once recorded.

    Examples: `submit leaderboard lmsys`, `submit leaderboard wsdm --format markdown > LEADERBOARD.md`,
    `submit leaderboard wsdm --sync --plot cv_vs_lb.png`, `submit leaderboard wsdm --rebuild`.
    """
    comp = get_competition(competition)  # an unknown name is answered with the installed ones
    if format_ not in FORMATS:
        raise UsageError(f"unknown format '{format_}'; known: {', '.join(FORMATS)}")
    if plot is not None and not sync:
        raise UsageError("--plot draws CV against the public scores, which --sync fetches: add --sync")
    if rebuild:
        recorded, skipped, moved = rebuild_store(runs)
        for reason in skipped:
            console.print(f"skipped {reason}", markup=False, highlight=False)
        console.print(f"Rebuilt {runs / 'leaderboard.sqlite'} from {recorded} experiment folder(s)"
                      + (f"; the old file is {moved}" if moved else ""), markup=False, highlight=False)
    if sync:
        from submit.host_cli import show_sync

        show_sync(comp.name, runs, slug, plot)
    rows = Store(runs / "leaderboard.sqlite", read_only=True).leaderboard(comp.name)
    if not rows:
        console.print(f"No experiments for {comp.name} in {runs}. Run one: submit {comp.name}")
        raise typer.Exit(1)
    if format_ == "table":
        out.print(rich_table(rows, comp.name, out.width))
    else:
        sys.stdout.write(render(rows, format_))


@app.command()
def validate(
    competition: Annotated[str, typer.Argument(help="A competition name.")],
    file: Annotated[Path, typer.Argument(help="The submission file to check.")],
    data: Annotated[Path | None, typer.Option(help="Folder with the host's files (for sample_submission).")] = None,
) -> None:
    """Check a submission file as the host would: ids, columns, values.

    Example: `submit validate hansol runs/hansol/default-1a2b3c4d5e/submission.csv --data data/hansol`.
    """
    comp = get_competition(competition)
    data_dir, _ = resolve_data_dir(comp, data)
    dataset = comp.load(data_dir)
    if dataset.sample_submission is None:
        raise DataError(data_dir / "sample_submission.csv", "file not found",
                        expected="the host's sample_submission to validate against")
    spec = comp.submission_spec(dataset)
    frame = validate_file(file, dataset.sample_submission, spec)
    order = column_order(frame, spec)
    if order:  # refused above where the host reads by position; here it reads by name
        console.print(f"warning: {order}; {comp.host} reads these columns by name, so it accepts the file, but "
                      "writing them in the sample's order is safer", markup=False, highlight=False)
    out.print(f"{file}: valid {competition} submission ({len(frame):,} rows).")


# Commands kept in their own modules register themselves on `app` when imported.
import submit.ensemble_cli  # noqa: E402
import submit.host_cli  # noqa: E402  (predict, download, package, upload)
import submit.init  # noqa: E402, F401  (init)


def main() -> None:
    """Entry point: `submit <competition> ...` runs the competition; other first words are commands."""
    args = sys.argv[1:]
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    if args and not args[0].startswith("-") and args[0] not in commands:
        args = ["run", *args]
    app(args=args, prog_name="submit")


if __name__ == "__main__":
    main()

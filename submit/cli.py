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
from typing import TYPE_CHECKING, Annotated

import typer

from submit.app import VERBOSE, CacheDir, RunsDir, UsageError, app, console, out
from submit.cv.executor import EXECUTORS
from submit.leaderboard import FORMATS
from submit.models.progress import Listener, Stage, listening

if TYPE_CHECKING:
    from rich.console import Console

# The harness's heavy parts (pandas, scikit-learn, LightGBM) are imported inside the commands that use them,
# so that `submit --help` and `submit list` start at once.


class Terminated(KeyboardInterrupt):
    """SIGTERM, met like Ctrl-C: what is finished is kept."""


def _interrupt(signum: int, frame: object) -> None:
    raise Terminated


class StageBars(Listener):
    """A models.progress listener drawing a rich bar per stage: units done, elapsed and estimated time left.
    A finished stage keeps its line (with its time) when it took SHOW_AFTER_S or more (every one under
    --verbose); quicker ones vanish."""

    SHOW_AFTER_S = 2.0

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        # A long stage name ("teacher <id>: refits without each pair of folds") is cut, not left to squeeze the
        # bar and the counts out of an 80-column log.
        name = Column(max_width=32, no_wrap=True, overflow="ellipsis")
        self.progress = Progress(TextColumn("{task.description}", table_column=name), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("left"),
                                 TimeRemainingColumn(), console=console)
        self.tasks: dict[int, int] = {}  # id(stage) -> the progress bar's task id
        self.show_after_s = 0.0 if VERBOSE[0] else self.SHOW_AFTER_S

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
        if stage.seconds < self.show_after_s:
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
                                                                 "(e.g. params.C=0.1).")] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write the submission. Default: in the "
                                                     "experiment's folder (printed).")] = None,
    executor: Annotated[str | None, typer.Option(help=f"Where the folds run: {', '.join(EXECUTORS)}. Default: the "
                                                      "recipe's `executor`, else local.",
                                                 envvar="SUBMIT_EXECUTOR")] = None,
    force: Annotated[bool, typer.Option(help="Run an LLM recipe even where its plan says it cannot fit this "
                                             "GPU (see `submit plan`).")] = False,
    runs: RunsDir = Path("runs"),
    cache: CacheDir = None,
    preset: Annotated[str | None, typer.Option(help="fast | good | best: a portfolio of recipes within a time "
                                                    "limit, an ensemble, the final pick by the one-SE rule.")] = None,
    time_limit: Annotated[str | None, typer.Option(help="With --preset: e.g. 90s, 10m, 1h30m. Default: good 10m, "
                                                        "best 30m, fast none.")] = None,
) -> None:
    """Cross-validate a recipe, rank it on the local leaderboard and write a validated submission.

    \b
    Examples:
      submit wsdm
      submit lmsys --data data/lmsys --recipe longer-wins
      submit law-tags --set params.C=8 --set folds.n_splits=3 --output sub.csv
      submit law-tags --executor processes      (folds in parallel worker processes)
      submit wsdm --preset best --time-limit 30m   (a portfolio of recipes, then the best pick)
    """
    from submit.pipeline import run_competition
    from submit.preset_cli import run_preset_command

    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` and schedulers stop a run the way Ctrl-C does
    try:
        if preset is not None or time_limit is not None:
            return run_preset_command(competition, preset, time_limit, recipe, StageBars(console), data=data,
                                      overrides=set_ or [], output=output, runs_dir=runs, cache_dir=cache,
                                      executor=executor)
        with StageBars(console) as bars, listening(bars):
            outcome = run_competition(competition, data=data, recipe=recipe, overrides=set_ or [], output=output,
                                      runs_dir=runs, cache_dir=cache, executor=executor, force=force,
                                      on_stage=lambda text: bars.progress.console.print(text))
    except KeyboardInterrupt as stop:
        console.print("interrupted: finished folds are kept; run the same command again to resume.")
        raise typer.Exit(143 if isinstance(stop, Terminated) else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_outcome(outcome, competition)


def _print_outcome(outcome: object, competition: str) -> None:
    """A finished run's scores, rank and submission (outcome: a pipeline.Outcome)."""
    r = outcome.result
    if r.curation:
        from submit.curation.report import report_renderable

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
    from submit.kernel.plugins import competition_names, get_competition

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
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of each experiment's CV per fold with its 95% "
                                                   "interval, and its public score once recorded (--sync).")] = None,
    slug: Annotated[str | None, typer.Option(help="With --sync: the Kaggle slug, if not the plugin's.")] = None,
    rebuild: Annotated[bool, typer.Option(help="First rebuild the store from the experiments' folders (their "
                                               "scores.json): after it was damaged or lost.")] = False,
    runs: RunsDir = Path("runs"),
) -> None:
    """The local CV leaderboard, best first in the metric's direction, with public scores once recorded.

    \b
    Examples:
      submit leaderboard lmsys
      submit leaderboard wsdm --format markdown > LEADERBOARD.md
      submit leaderboard wsdm --plot cv.png          (CV per fold, with intervals)
      submit leaderboard wsdm --sync --plot cv.png   (and CV against the public scores)
      submit leaderboard wsdm --rebuild
    """
    from submit.cv.noise import with_noise
    from submit.cv.store import Store
    from submit.kernel.plugins import get_competition

    comp = get_competition(competition)  # an unknown name is answered with the installed ones
    if format_ not in FORMATS:
        raise UsageError(f"unknown format '{format_}'; known: {', '.join(FORMATS)}")
    if rebuild:
        _rebuild(runs)
    if sync:
        from submit.host_cli import show_sync

        show_sync(comp.name, runs, slug)
    rows = with_noise(Store(runs / "leaderboard.sqlite", read_only=True).leaderboard(comp.name), runs)
    if not rows:
        console.print(f"No experiments for {comp.name} in {runs}. Run one: submit {comp.name}")
        raise typer.Exit(1)
    if plot is not None:  # the public scores, once synced, are in the rows
        from submit.leaderboard import plot_folds

        out.print(f"Plot written: {plot_folds(rows, plot, comp.name)}", markup=False)
    _print_board(rows, comp.name, format_)


def _print_board(rows: list[dict], competition: str, format_: str) -> None:
    from submit.leaderboard import render, rich_table

    if format_ == "table":
        out.print(rich_table(rows, competition, out.width))
    else:
        sys.stdout.write(render(rows, format_))


def _rebuild(runs: Path) -> None:
    from submit.cv.store import rebuild_store

    recorded, skipped, moved = rebuild_store(runs)
    for reason in skipped:
        console.print(f"skipped {reason}", markup=False, highlight=False)
    console.print(f"Rebuilt {runs / 'leaderboard.sqlite'} from {recorded} experiment folder(s)"
                  + (f"; the old file is {moved}" if moved else ""), markup=False, highlight=False)


@app.command()
def validate(
    competition: Annotated[str, typer.Argument(help="A competition name.")],
    file: Annotated[Path, typer.Argument(help="The submission file to check.")],
    data: Annotated[Path | None, typer.Option(help="Folder with the host's files (for sample_submission).")] = None,
) -> None:
    """Check a submission file as the host would: ids, columns, values.

    \b
    Example:
      submit validate hansol runs/hansol/default-1a2b3c4d5e/submission.csv --data data/hansol
    """
    from submit.kernel.checks import DataError
    from submit.kernel.plugins import get_competition
    from submit.pipeline import resolve_data_dir
    from submit.validate import column_order, validate_file

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
import submit.init_cli  # noqa: E402  (init)
import submit.plan  # noqa: E402, F401  (plan)


def main() -> None:
    """Entry point: `submit <competition> ...` runs the competition; other first words are commands."""
    args = sys.argv[1:]
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    first = next((i for i, a in enumerate(args) if not a.startswith("-")), None)  # after --quiet, --verbose
    if first is not None and args[first] not in commands:
        check_first_word(args[first], commands)
        args = [*args[:first], "run", *args[first:]]
    app(args=args, prog_name="submit")


def check_first_word(word: str, commands: set[str]) -> None:
    """A first word that is neither a command nor a competition but close to a command is a mistyped command
    (`submit leaderbord wsdm`): say which, rather than run a competition of that name."""
    from submit.kernel.plugins import COMPETITIONS
    from submit.kernel.registry import closest

    if word in COMPETITIONS.names() or closest(word, COMPETITIONS.names()):
        return  # a competition, or a mistyped one: `run` answers with the closest name
    near = closest(word, sorted(commands))
    if near:
        console.print(f"error: no command or competition '{word}'; did you mean `submit {near}`? "
                      "(`submit --help` lists the commands)", style="red", markup=False, highlight=False)
        raise SystemExit(2)


if __name__ == "__main__":
    main()

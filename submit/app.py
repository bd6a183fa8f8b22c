"""What every `submit` command shares: the typer app, the consoles, the error ending, the --runs option.

    from submit.app import RunsDir, app, out

    @app.command()
    def hello(runs: RunsDir = Path("runs")) -> None:
        out.print("hello")

Command modules (submit/cli.py, submit/host_cli.py, submit/ensemble_cli.py) import this module and
register on `app`; submit/cli.py imports the others, so `submit` has every command.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from submit.kernel.errors import UserError

# \b keeps click from reflowing the list into one paragraph.
EXAMPLES = """
Examples:

\b
  submit wsdm                                   default recipe on the bundled sample
  submit lmsys --data data/lmsys                the host's files from a folder
  submit wsdm --data ../shared/data/wsdm --set data.extra_train=../shared/data/lmsys
  submit lmsys --recipe longer-wins             a reference rule on the same folds
  submit law-tags --set params.C=8 --set folds.n_splits=3
  submit law-tags --recipe curated              curation steps first, with their report
  submit leaderboard lmsys --format markdown
  submit leaderboard lmsys --rebuild            the store again, from the experiments' folders
  submit validate hansol runs/hansol/default-1a2b3c/submission.csv
  submit list
  submit download wsdm                          the host's files, through the Kaggle API
  submit upload wsdm -m "lgbm" --wait           validate, upload, record the public score
  submit leaderboard wsdm --sync --plot lb.png  public scores beside CV, rank correlation
  submit wsdm --preset best --time-limit 30m    a portfolio of recipes, an ensemble, the one-SE pick
  submit init house --data data/house           any competition from its files (competition.yaml)
  submit plan wsdm --recipe gemma2-9b-qlora --hardware kaggle-t4x2   GPU memory and time before a run
"""

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)  # paths printed whole, so they can be copied


class UsageError(UserError, ValueError):
    """Options that do not fit together, or a value a command does not take."""


def fail(err: Exception) -> NoReturn:
    # Text, not markup: an error message may hold brackets of its own (paths, lists). Shown under --quiet too.
    errors = Console(stderr=True, soft_wrap=True)
    errors.print(Text.assemble(("error: ", "bold red"), (str(err), "red")), highlight=False)
    raise typer.Exit(2)


def _show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    """A warning as one line a user reads (`warning: ...`), not Python's file:line form."""
    console.print(f"warning: {message}", style="yellow", markup=False, highlight=False)


class _Commands(TyperGroup):
    """Every command's user errors end the same way: the message, no traceback, exit code 2. Anything else
    is a bug and keeps its traceback. Warnings raised while a command runs are shown as `warning:` lines."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except UserError as err:
            fail(err)


app = typer.Typer(cls=_Commands, help="Competition-submission harness: shared CV, a local leaderboard, valid "
                  "submissions.", epilog=EXAMPLES, rich_markup_mode=None, no_args_is_help=True, add_completion=True)


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        out.print(f"submit {version('submit-harness')}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors: no progress bars, notes "
                                                              "or warnings.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also every stage's time and the libraries' "
                                                                  "log lines.")] = False,
) -> None:
    """Options before the command: `submit --quiet wsdm`, `submit --verbose leaderboard wsdm`."""
    if quiet and verbose:
        raise UsageError("--quiet and --verbose do not go together; choose one")
    console.quiet = quiet  # the progress and notes console; results (out) and errors are printed all the same
    VERBOSE[0] = verbose
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


VERBOSE = [False]  # set by --verbose: commands show more (every stage's time)

RunsDir = Annotated[Path, typer.Option("--runs", help="Where experiments, folds, cache and the leaderboard live.",
                                       envvar="SUBMIT_RUNS_DIR")]
CacheDir = Annotated[Path | None, typer.Option("--cache", help="The content cache of embeddings and text features. "
                                               "Default: the runs folder's cache/.", envvar="SUBMIT_CACHE_DIR")]

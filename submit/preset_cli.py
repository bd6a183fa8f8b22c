"""`submit COMP --preset fast|good|best [--time-limit 30m]`: the run command's preset path (submit/presets.py).
Ctrl-C and SIGTERM are met by the run command: finished members and folds are kept.

    submit wsdm --preset best --time-limit 30m --data ../shared/data/wsdm --set data.extra_train=../shared/data/lmsys
    submit hansol --preset good --data ../shared/data/hansol      # 10 minutes; a second run reuses the first's work
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import typer

from submit.app import UsageError, console, out
from submit.models.progress import Listener, listening
from submit.presets import PresetReport, report_table, run_preset


def run_preset_command(competition: str, preset: str | None, time_limit: str | None, recipe: str,
                       bars: AbstractContextManager[Listener], *, data: Path | None, overrides: list[str],
                       output: Path | None, runs_dir: Path, cache_dir: Path | None, executor: str | None) -> None:
    """Run the preset, drawing its stages on `bars` (the run command's progress bars), and print its plan,
    report and submission. The run command's own signal handling keeps what is finished on Ctrl-C or SIGTERM."""
    if recipe != "default":
        raise UsageError("--recipe and --preset do not go together: a preset chooses its recipes "
                         "(submit/presets.py); drop one of them")
    with bars as listener, listening(listener):
        report = run_preset(competition, preset=preset or "good", time_limit=time_limit, data=data,
                            overrides=overrides, output=output, runs_dir=runs_dir, cache_dir=cache_dir,
                            executor=executor, on_stage=console.print)  # the bars' console: lines above them
    show_report(report)


def show_report(report: PresetReport) -> None:
    out.print(report_table(report))
    if report.final is None:
        out.print("No member finished within the time limit: nothing to submit. Run the same command with a "
                  "larger --time-limit; finished folds are reused.")
        raise typer.Exit(1)
    out.print(f"Final: [bold]{report.final.experiment}[/]: {report.final.reason}.", highlight=False)
    out.print(f"Total {report.seconds:.0f} s" + (f" of {report.limit_s:.0f} s" if report.limit_s else "") + ".")
    if report.submission:
        out.print(f"Submission written and validated: [bold]{report.submission}[/]")
    else:
        out.print("No test rows in this data: CV only, no submission written.")
    out.print(f"Next: submit leaderboard {report.competition}")

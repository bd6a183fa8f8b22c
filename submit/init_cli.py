"""`submit init NAME --data DIR`: the command's face; the reading and inferring is submit/init.py, imported when
the command runs (it needs pandas, which `submit --help` does not load).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from submit.app import app, out


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="The new competition's name (then `submit NAME`).")],
    data: Annotated[Path | None, typer.Option(help="Folder with train, test and sample_submission (csv, parquet or "
                                                    "zip). Default: data/NAME.")] = None,
    metric: Annotated[str | None, typer.Option(help="The metric (e.g. rmse, rmsle, auc, logloss, accuracy, qwk, "
                                                    "map@3, mean-row-f1). Default: the task's usual one.")] = None,
    id_: Annotated[str | None, typer.Option("--id", help="The id column.")] = None,
    target: Annotated[list[str] | None, typer.Option(help="A target column of train (repeat for several).")] = None,
    group: Annotated[str | None, typer.Option(help="Rows sharing this column's value stay in one fold.")] = None,
    task: Annotated[str | None, typer.Option(help="regression, binary, multiclass, multilabel or tags "
                                                  "(space-separated labels in one column).")] = None,
    kaggle: Annotated[str | None, typer.Option(help="A Kaggle competition slug: download its files into the "
                                                     "folder first (needs Kaggle credentials).")] = None,
) -> None:
    """Set up a competition from its files: infer its id, targets, task, metric and feature roles, say why,
    and write DIR/competition.yaml. Example: `submit init house --data data/house --metric rmsle`."""
    from submit.init import InitError, Options, download, infer, read_tables, write_checked
    from submit.kernel.description import TASK_NAMES
    from submit.kernel.plugins import COMPETITIONS

    if name in COMPETITIONS.names():
        raise InitError(f"'{name}' is a built-in competition; choose another name")
    if task is not None and task not in TASK_NAMES:
        raise InitError(f"--task {task}: expected one of {', '.join(TASK_NAMES)}")
    folder = Path(data) if data is not None else Path("data") / name
    from_kaggle = download(kaggle, folder) if kaggle else None
    options = Options(metric or from_kaggle, id_, list(target or []), group, task)
    tables = read_tables(folder)
    inference = infer(tables, options, name)
    if from_kaggle and not metric:
        inference.notes = [(w, "the competition's metadata on Kaggle" if w.startswith("metric:") else why)
                           for w, why in inference.notes]
    if kaggle:
        inference.description = replace(inference.description, kaggle=kaggle)
    for what, why in inference.notes:
        out.print(f"  {what}  [dim]({why})[/]", highlight=False)
    path = write_checked(inference, folder, tables)
    out.print(f"Wrote {path}. Next: submit {name}" + (f" --data {folder}" if data is not None else ""))

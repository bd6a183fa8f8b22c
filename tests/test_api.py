"""The Python API (submit.run, submit.leaderboard): what a notebook gets back, the README's example run as
written, a folder of the user's own modules that must not shadow the harness, errors with the command line's
messages, bars drawn in a notebook, and the plugin walk-through of docs/plugins.md as working code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from submit.kernel.checks import DataError, find_table, read_any
from submit.kernel.errors import UserError
from submit.kernel.plugins import get_competition
from typer.testing import CliRunner

import submit
from submit.cli import app

ROOT = Path(__file__).resolve().parents[1]
USER_MODULES = ("models", "cv", "utils", "competitions", "ensembles", "curation")


def python_blocks(markdown: Path, heading: str) -> list[str]:
    """The ```python blocks of the section of `markdown` under `heading` (up to the next heading of its level)."""
    text = markdown.read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n")
    end = text.find(f"\n{level} ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def python(code: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -c code` in cwd, as a user would run it (cwd first on sys.path)."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def prior_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("api-runs")
    return runs, submit.run("wsdm", recipe="prior", runs=runs, progress=False)


def test_a_run_returns_its_scores_predictions_and_submission(prior_run):
    runs, result = prior_run
    board = submit.leaderboard("wsdm", runs=runs)
    assert (result.rank, result.ranked) == (1, 1) and board.loc[1, "experiment"] == result.experiment
    assert result.cv == pytest.approx(board.loc[1, "cv_mean"]) and result.metric == "accuracy"
    assert result.cv == pytest.approx(sum(result.fold_scores) / len(result.fold_scores))
    sample = get_competition("wsdm").sample_dir
    train, sample_submission = read_any(sample / "train.parquet"), read_any(sample / "sample_submission.csv")
    assert list(result.oof.columns[:2]) == ["id", "fold"] and len(result.oof) == len(train)
    assert set(result.oof["id"].astype(str)) == set(train["id"].astype(str))
    assert result.oof["fold"].nunique() == 5 and result.test.columns[0] == "id"
    assert sorted(result.test["id"].astype(str)) == sorted(sample_submission["id"].astype(str))
    written = pd.read_csv(result.submission)
    assert sorted(written["id"].astype(str)) == sorted(sample_submission["id"].astype(str))
    assert result.folder == runs / "wsdm" / result.experiment and result.experiment in repr(result)


@pytest.mark.parametrize("name", ["wsdm", "lmsys", "hansol", "law-tags", "meta-review", "code-instruct"])
def test_dataframes_load_as_the_same_files_would(name, tmp_path):
    """Frames read from the host's files give the experiment those files give: same checks, same data."""
    sample = get_competition(name).sample_dir
    frames = {stem: read_any(find_table(sample, stem)) for stem in ("train", "test", "sample_submission")}
    files = submit.run(name, recipe="prior", runs=tmp_path, progress=False, folds__n_splits=2)
    given = submit.run(name, recipe="prior", data=frames, runs=tmp_path, progress=False, folds__n_splits=2)
    assert given.experiment == files.experiment and given.cv == files.cv


def test_bad_frames_are_refused_by_the_competitions_checks(tmp_path):
    frames = {"train": read_any(get_competition("wsdm").sample_dir / "train.parquet")[["id"]]}
    with pytest.raises(DataError, match=r"train\.parquet: missing columns 'prompt', 'response_a'"):
        submit.run("wsdm", recipe="prior", runs=tmp_path, progress=False, data=frames)
    with pytest.raises(UserError, match=r"data: expected DataFrames under 'train' \(needed\)"):
        submit.run("wsdm", runs=tmp_path, progress=False, data={"tests": frames["train"]})
    with pytest.raises(DataError, match=r"data\['train'\]: cannot be written as the host's train\.parquet"):
        submit.run("wsdm", runs=tmp_path, progress=False, data={"train": pd.DataFrame({"id": [1, "a"]})})


def test_keyword_overrides_are_the_set_keys(tmp_path):
    dotted = submit.run("wsdm", recipe="prior", runs=tmp_path, progress=False, **{"folds.n_splits": 3})
    spelt = submit.run("wsdm", recipe="prior", runs=tmp_path, progress=False, folds__n_splits=3)
    assert dotted.experiment == spelt.experiment and dotted.oof["fold"].nunique() == 3


def _cli_error(args: list[str]) -> str:
    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 2
    return " ".join(result.output.split())


@pytest.mark.parametrize("call, args", [
    (dict(competition="wsdmx"), ["wsdmx"]),
    (dict(competition="law-tags", params__Cx=3), ["law-tags", "--set", "params.Cx=3"]),
    (dict(competition="law-tags", **{"params.C": "many"}), ["law-tags", "--set", "params.C=many"]),
    (dict(competition="wsdm", data="no-such-folder"), ["wsdm", "--data", "no-such-folder"]),
])
def test_bad_input_raises_the_command_lines_error(call, args, tmp_path):
    with pytest.raises(UserError) as raised:
        submit.run(runs=tmp_path, progress=False, **call)
    assert f"error: {' '.join(str(raised.value).split())}" in _cli_error([*args, "--runs", str(tmp_path)])
    assert not (tmp_path / "leaderboard.sqlite").exists()


def test_user_modules_in_the_working_folder_do_not_shadow_the_harness(tmp_path):
    for name in USER_MODULES:
        (tmp_path / f"{name}.py").write_text(f"raise RuntimeError('the user\\'s {name}.py was imported')\n")
    done = python("import submit; r = submit.run('wsdm', recipe='prior', runs='R'); print(r.cv); "
                  "print(submit.leaderboard('wsdm', runs='R'))", tmp_path)
    assert done.returncode == 0, done.stderr
    cv, board = done.stdout.split("\n", 1)
    assert float(cv) == pytest.approx(submit.leaderboard("wsdm", runs=tmp_path / "R").loc[1, "cv_mean"])
    assert "prior-" in board and (tmp_path / "R" / "wsdm").is_dir()


def test_import_submit_does_not_import_the_api_or_pandas(tmp_path):
    done = python("import sys, submit; print(sorted({'pandas', 'submit.api'} & set(sys.modules)))", tmp_path)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_readme_example_runs_as_written(tmp_path):
    (example,) = python_blocks(ROOT / "README.md", "## The Python API")
    shutil.copytree(get_competition("law-tags").sample_dir, tmp_path / "data" / "law-tags")
    done = python(example, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "RunResult(wsdm prior-" in done.stdout
    assert len(list((tmp_path / "runs" / "law-tags").glob("*/submission.csv"))) == 1
    assert len(submit.leaderboard("law-tags", runs=tmp_path / "runs")) == 1


def test_bars_show_in_a_notebook_and_progress_false_hides_them(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        # Keep every finished stage's line, so that the bars' final state can be read back from the notebook.
        nbformat.v4.new_code_cell("import submit\nfrom submit.cli import StageBars\nStageBars.SHOW_AFTER_S = 0\n"
                                  "shown = submit.run('wsdm', recipe='prior', runs='R')"),
        nbformat.v4.new_code_cell("quiet = submit.run('wsdm', recipe='prior', runs='R', progress=False)\nquiet.cv"),
    ]
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()
    shown, quiet = (cell.outputs for cell in notebook.cells)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in shown)
    widgets = str(notebook.metadata.get("widgets", {}))
    assert "fingerprint and folds" in widgets and "results" in widgets  # the stages' bars, drawn in the widget
    assert not any(o.output_type == "stream" and o.name == "stderr" for o in shown), shown
    assert [o.output_type for o in quiet] == ["execute_result"]  # nothing but the cell's value


def test_the_plugin_walkthrough_is_working_code(tmp_path):
    """docs/plugins.md's package, written out as it says, registers, passes the checks and runs."""
    code, recipe = python_blocks(ROOT / "docs" / "plugins.md", "## 1. The class"), \
        re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8"), re.DOTALL)[0]
    package = tmp_path / "movie_genres"
    (package / "recipes").mkdir(parents=True)
    (package / "__init__.py").write_text("\n".join(code), encoding="utf-8")
    (package / "recipes" / "default.yaml").write_text(recipe, encoding="utf-8")
    done = python("from pathlib import Path\nimport submit\nfrom submit.kernel.plugins import COMPETITIONS\n"
                  "from movie_genres import MovieGenres\nMovieGenres().write_sample(Path('movie_genres/sample'))\n"
                  "COMPETITIONS.register('movie-genres', MovieGenres)\n"
                  "r = submit.run('movie-genres', runs='R', progress=False)\nprint(r.cv, r.submission)", tmp_path)
    assert done.returncode == 0, done.stderr
    cv, submission = done.stdout.split()
    assert float(cv) > 0.5 and Path(tmp_path / submission).is_file()  # the sample's genres can be learnt

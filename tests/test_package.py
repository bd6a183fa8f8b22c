"""`submit predict` from saved folds, and the code-competition bundle whose notebook runs here offline."""

from __future__ import annotations

import json
import re
import shutil
import zipfile

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from submit.kernel.plugins import get_competition
from typer.testing import CliRunner

from submit.cli import app

runner = CliRunner()


def submit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def rows(path) -> list[tuple]:
    return sorted(map(tuple, pd.read_csv(path).astype(str).to_numpy()))


def test_predict_from_saved_folds_matches_the_run(wsdm_experiment, tmp_path):
    runs, exp = wsdm_experiment
    code, text = submit("predict", "wsdm", "--experiment", exp, "--runs", str(runs),
                        "--output", str(tmp_path / "p.csv"))
    assert code == 0, text
    assert rows(tmp_path / "p.csv") == rows(runs / "wsdm" / exp / "submission.csv")
    assert json.loads((tmp_path / "p.csv.json").read_text())["experiment"] == exp


@pytest.mark.parametrize("method", ["weighted", "stack"])
def test_predict_an_ensemble_from_its_members_saved_folds_matches_its_build(wsdm_ensembles, tmp_path, method):
    runs, ids = wsdm_ensembles
    code, text = submit("predict", "wsdm", "--experiment", ids[method], "--runs", str(runs),
                        "--output", str(tmp_path / "p.csv"))
    assert code == 0, text
    assert rows(tmp_path / "p.csv") == rows(runs / "wsdm" / ids[method] / "submission.csv")
    assert json.loads((tmp_path / "p.csv.json").read_text())["experiment"] == ids[method]


def test_an_ensemble_that_cannot_be_predicted_says_which_and_what_to_do(wsdm_ensembles, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(wsdm_ensembles[0], runs)
    weighted, stack = (runs / "wsdm" / wsdm_ensembles[1][m] for m in ("weighted", "stack"))
    record = json.loads((stack / "ensemble.json").read_text())
    del record["combiner"]["classes"]  # as an older version wrote it
    (stack / "ensemble.json").write_text(json.dumps(record))
    code, text = submit("predict", "wsdm", "--experiment", stack.name, "--runs", str(runs))
    text = " ".join(text.split())  # the console wraps long lines
    assert code == 2 and f"ensemble {stack.name}" in text and "without its classes" in text
    assert "submit ensemble wsdm --experiments" in text and "--method stack" in text

    member = json.loads((weighted / "ensemble.json").read_text())["members"][1]["id"]
    shutil.rmtree(runs / "wsdm" / member)
    for command in (["predict"], ["package", "--out", str(tmp_path / "b")]):
        code, text = submit(*command, "wsdm", "--experiment", weighted.name, "--runs", str(runs))
        text = " ".join(text.split())
        assert code == 2 and f"ensemble {weighted.name}" in text and f"member experiment {member}" in text


def test_predict_names_the_known_experiments(wsdm_experiment):
    runs, exp = wsdm_experiment
    code, text = submit("predict", "wsdm", "--experiment", "nope-123", "--runs", str(runs))
    assert code == 2 and "no finished experiment 'nope-123'" in text and exp in text


def run_bundle_notebook(runs, exp, tmp_path, monkeypatch):
    """Package `exp`, run its notebook here laid out like Kaggle; returns the bundle root and the working folder."""
    code, text = submit("package", "wsdm", "--experiment", exp, "--runs", str(runs), "--out", str(tmp_path / "b"))
    assert code == 0, text
    root = tmp_path / "b" / f"wsdm-{exp}"
    # Laid out like Kaggle: /kaggle/input/<competition>, /kaggle/input/<bundle dataset>, /kaggle/working.
    inputs, working = tmp_path / "input", tmp_path / "working"
    shutil.copytree(get_competition("wsdm").sample_dir, inputs / get_competition("wsdm").slug)
    shutil.copytree(root / "dataset", inputs / f"submit-wsdm-{exp}")
    working.mkdir()
    monkeypatch.setenv("SUBMIT_INPUT_ROOT", str(inputs))
    monkeypatch.setenv("SUBMIT_WORKING_ROOT", str(working))
    notebook = nbformat.read(root / "kernel" / "submit-wsdm.ipynb", as_version=4)
    nbformat.validate(notebook)
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    printed = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    # The harness ran from the wheel installed into the working folder, not from this checkout.
    assert f"harness: {working / 'submit-packages' / 'submit' / 'cli.py'}" in printed

    code, text = submit("validate", "wsdm", str(working / "submission.csv"))
    assert code == 0 and "valid wsdm submission (40 rows)" in text
    assert rows(working / "submission.csv") == rows(runs / "wsdm" / exp / "submission.csv")
    return root, working


def archived(root) -> set[str]:
    with zipfile.ZipFile(root / "dataset" / "experiment.zip") as archive:
        return set(archive.namelist())


@pytest.mark.slow
def test_bundle_notebook_runs_offline_and_writes_a_valid_submission(wsdm_experiment, tmp_path, monkeypatch):
    runs, exp = wsdm_experiment
    root, _ = run_bundle_notebook(runs, exp, tmp_path, monkeypatch)
    meta = json.loads((root / "kernel" / "kernel-metadata.json").read_text())
    assert meta["competition_sources"] == [get_competition("wsdm").slug]
    assert meta["dataset_sources"] == [f"OWNER/submit-wsdm-{exp}"]
    assert meta["enable_internet"] is False and meta["enable_gpu"] is False and meta["kernel_type"] == "notebook"
    names = archived(root)
    assert {"recipe.yaml", "scores.json", "folds/0/model/head.json"} <= names
    assert not any(n.endswith(("oof.parquet", "result.npz")) for n in names)  # only what predict reads


@pytest.mark.slow
def test_ensemble_bundle_brings_its_members_and_its_notebook_writes_its_submission(wsdm_ensembles, tmp_path,
                                                                                    monkeypatch):
    runs, ids = wsdm_ensembles
    root, _ = run_bundle_notebook(runs, ids["stack"], tmp_path, monkeypatch)
    members = [m["id"] for m in json.loads((runs / "wsdm" / ids["stack"] / "ensemble.json").read_text())["members"]]
    names = archived(root)
    assert {"recipe.yaml", "scores.json", "ensemble.json"} <= names
    for member in members:
        assert {f"members/{member}/recipe.yaml", f"members/{member}/scores.json",
                f"members/{member}/folds/4/model/head.json"} <= names
    assert not any(n.endswith(("oof.parquet", "test.parquet", "result.npz")) for n in names)


def test_package_refuses_a_file_competition(tmp_path):
    code, text = submit("package", "hansol", "--experiment", "x", "--runs", str(tmp_path))
    assert code == 2 and "not a Kaggle competition" in text


def test_predict_and_package_estimate_the_notebook_run_time_and_warn_past_the_limit(wsdm_experiment, tmp_path,
                                                                                     monkeypatch):
    runs, exp = wsdm_experiment
    code, text = submit("predict", "wsdm", "--experiment", exp, "--runs", str(runs), "--output",
                        str(tmp_path / "p.csv"))
    assert code == 0, text
    estimate = re.search(r"Notebook run time: about (.+?) for 25,000 test rows on Kaggle \((\d\.\d+) CPU s a row, "
                         r"measured here on (\d+) rows of .*x 1\.5: Kaggle's CPU notebook cores",
                         " ".join(text.split()))
    assert estimate and int(estimate[3]) == 200  # the sample has 40 test rows: its training rows stand in
    assert "the limit is 9 h" in text and "bundled synthetic sample" in text

    monkeypatch.setattr(get_competition("wsdm").__class__, "host_test_rows", 10**9)
    code, text = submit("package", "wsdm", "--experiment", exp, "--runs", str(runs), "--out", str(tmp_path / "b"))
    assert code == 0, text
    assert "warning: the notebook would run past the host's limit" in " ".join(text.split())


def test_a_notebook_estimate_scales_the_measure_by_rows_and_hardware():
    from submit.budget import NotebookEstimate

    estimate = NotebookEstimate(0.1, 200, "data/lmsys", "kaggle", 25_000, 1.5, 9)
    assert estimate.seconds == pytest.approx(3750) and not estimate.over_limit
    assert estimate.message().startswith("about 1 h 02 min for 25,000 test rows on Kaggle (0.100 CPU s a row")
    assert NotebookEstimate(1.0, 200, "x", "kaggle", 25_000, 1.5, 9).over_limit

"""`submit predict` from saved folds, and the code-competition bundle whose notebook runs here offline."""

from __future__ import annotations

import json
import shutil
import zipfile

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from typer.testing import CliRunner

from competitions.registry import get_competition
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


def test_predict_names_the_known_experiments(wsdm_experiment):
    runs, exp = wsdm_experiment
    code, text = submit("predict", "wsdm", "--experiment", "nope-123", "--runs", str(runs))
    assert code == 2 and "no finished experiment 'nope-123'" in text and exp in text


@pytest.mark.slow
def test_bundle_notebook_runs_offline_and_writes_a_valid_submission(wsdm_experiment, tmp_path, monkeypatch):
    runs, exp = wsdm_experiment
    code, text = submit("package", "wsdm", "--experiment", exp, "--runs", str(runs), "--out", str(tmp_path / "b"))
    assert code == 0, text
    root = tmp_path / "b" / f"wsdm-{exp}"
    meta = json.loads((root / "kernel" / "kernel-metadata.json").read_text())
    slug = get_competition("wsdm").slug
    assert meta["competition_sources"] == [slug] and meta["dataset_sources"] == [f"OWNER/submit-wsdm-{exp}"]
    assert meta["enable_internet"] is False and meta["enable_gpu"] is False and meta["kernel_type"] == "notebook"
    with zipfile.ZipFile(root / "dataset" / "experiment.zip") as archive:
        names = set(archive.namelist())
    assert {"recipe.yaml", "scores.json", "folds/0/model/head.json"} <= names
    assert not any(n.endswith(("oof.parquet", "result.npz")) for n in names)  # only what predict reads

    # Laid out like Kaggle: /kaggle/input/<competition>, /kaggle/input/<bundle dataset>, /kaggle/working.
    inputs, working = tmp_path / "input", tmp_path / "working"
    shutil.copytree(get_competition("wsdm").sample_dir, inputs / slug)
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


def test_package_refuses_a_file_competition(tmp_path):
    code, text = submit("package", "hansol", "--experiment", "x", "--runs", str(tmp_path))
    assert code == 2 and "not a Kaggle competition" in text

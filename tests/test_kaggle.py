"""Contract tests: the official Kaggle client, driven by `submit`, against a stand-in service on 127.0.0.1.

The client picks its endpoint from KAGGLE_API_ENVIRONMENT and kagglesdk's environment map; the tests set
LOCALHOST and point that map's entry at the test server, inside this process only.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from submit.cv.store import Store
from submit.kernel.plugins import get_competition
from typer.testing import CliRunner

from submit.cli import app
from submit.kaggle_client import KaggleError, find_credentials
from tests.kaggle_server import FakeKaggle

SECRET = "k3y-never-shown-0a9f7c"  # the test's Kaggle key: must appear in no output, log or file
USER = "tester"
WSDM_SLUG = "wsdm-cup-multilingual-chatbot-arena"
runner = CliRunner()


def submit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture
def kaggle_env(monkeypatch, tmp_path):
    """Credentials in the environment, a home folder of the test's own, the client aimed at LOCALHOST."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def serve(monkeypatch):
    """Start a FakeKaggle and point the client's LOCALHOST entry at it; stopped after the test."""
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    servers = []

    def start(**options) -> FakeKaggle:
        server = FakeKaggle(**options).__enter__()
        servers.append(server)
        monkeypatch.setitem(_env_to_endpoint, KaggleEnv.LOCAL, server.url)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def sample_files(name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in get_competition(name).sample_dir.iterdir()}


def assert_no_secret(text: str, root: Path) -> None:
    assert SECRET not in text
    for path in root.rglob("*"):
        if path.is_file() and "home" not in path.parts:
            assert SECRET.encode() not in path.read_bytes(), f"the key was written to {path}"


def basic_auth() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()


# --- credentials ----------------------------------------------------------------------------------------

def test_credentials_sources_in_order_and_never_shown(tmp_path):
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    assert find_credentials({"KAGGLE_API_TOKEN": "tok", "KAGGLE_USERNAME": "u", "KAGGLE_KEY": SECRET}, home).source \
        == "KAGGLE_API_TOKEN"
    env_creds = find_credentials({"KAGGLE_USERNAME": "u", "KAGGLE_KEY": SECRET}, home)
    assert env_creds.source == "KAGGLE_USERNAME/KAGGLE_KEY" and env_creds.key == SECRET
    assert SECRET not in repr(env_creds)

    kaggle_json = home / ".kaggle" / "kaggle.json"
    kaggle_json.write_text(json.dumps({"username": "u", "key": SECRET}))
    kaggle_json.chmod(0o644)
    warnings: list[str] = []
    creds = find_credentials({}, home, warn=warnings.append)
    assert creds.source == str(kaggle_json) and creds.username == "u"
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and SECRET not in warnings[0]
    kaggle_json.chmod(0o600)
    warnings.clear()
    find_credentials({}, home, warn=warnings.append)
    assert warnings == []


def test_missing_credentials_name_every_source_tried(tmp_path):
    with pytest.raises(KaggleError) as err:
        find_credentials({"KAGGLE_USERNAME": "u"}, tmp_path)
    text = str(err.value)
    assert "KAGGLE_API_TOKEN (not set)" in text and "KAGGLE_USERNAME/KAGGLE_KEY (not both set)" in text
    assert str(tmp_path / ".kaggle" / "kaggle.json") in text and "settings/api" in text


def test_importing_the_client_leaves_home_alone(tmp_path):
    """`import kaggle` signs in at import: printing help and creating a config folder in HOME. Not through us."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")} | {"HOME": str(tmp_path)}
    env.pop("XDG_CONFIG_HOME", None)
    code = "from submit.kaggle_client import _kaggle_api_class; print(_kaggle_api_class().__name__)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "KaggleApi"  # and nothing else: the client's help text was not printed
    assert list(tmp_path.iterdir()) == []


# --- download --------------------------------------------------------------------------------------------

def test_download_unzips_and_checks_the_files(kaggle_env, serve):
    server = serve(zip_files=sample_files("wsdm"))
    code, text = submit("download", "wsdm")
    assert code == 0, text
    assert "600 training rows, 40 test rows, checked" in text and "Next: submit wsdm" in text
    assert sorted(p.name for p in (kaggle_env / "data" / "wsdm").iterdir()) == sorted(sample_files("wsdm"))
    (call,) = server.calls("DownloadDataFiles")
    assert call.path == "/api/v1/competitions.CompetitionApiService/DownloadDataFiles"
    assert call.json() == {"competitionName": WSDM_SLUG}
    assert call.headers["Authorization"] == basic_auth()
    assert [r.path for r in server.state.requests if r.method == "GET"] == [f"/blobs/{WSDM_SLUG}.zip"]
    assert_no_secret(text, kaggle_env)


@pytest.mark.parametrize("unsafe", ["../outside.csv", "/tmp/absolute.csv", "sub/../../outside.csv"])
def test_an_unsafe_archive_unpacks_nothing(kaggle_env, serve, unsafe):
    """Every entry is checked before any is unpacked: the good entries before the bad one never land, and
    data/wsdm does not look downloaded to the next run."""
    serve(zip_files={**sample_files("wsdm"), unsafe: b"id\n1\n"})
    code, text = submit("download", "wsdm")
    assert code == 2 and "unsafe path" in text and repr(unsafe) in text and "nothing was unpacked" in text
    assert not (kaggle_env / "data" / "wsdm").exists() and not (kaggle_env / "outside.csv").exists()
    assert not list((kaggle_env / "data").glob(".wsdm*"))  # the temporary folder went too


@pytest.mark.parametrize(("status", "expected"), [
    (401, ["refused the credentials from KAGGLE_USERNAME/KAGGLE_KEY", "settings/api"]),
    (403, [f"https://www.kaggle.com/competitions/{WSDM_SLUG}/rules", "accept the rules"]),
    (404, [f"no competition '{WSDM_SLUG}'", "check the name"]),
])
def test_download_refusals_say_what_to_do(kaggle_env, serve, status, expected):
    serve(fail={"DownloadDataFiles": [status]})
    code, text = submit("download", "wsdm")
    assert code == 2
    for fragment in expected:
        assert fragment in " ".join(text.split()), text
    assert not (kaggle_env / "data" / "wsdm").exists() or not list((kaggle_env / "data" / "wsdm").iterdir())
    assert_no_secret(text, kaggle_env)


def test_download_without_credentials_names_the_sources(kaggle_env, monkeypatch):
    monkeypatch.delenv("KAGGLE_KEY")
    code, text = submit("download", "wsdm")
    assert code == 2 and "no Kaggle credentials found" in text and "KAGGLE_USERNAME/KAGGLE_KEY (not both set)" in text


@pytest.mark.parametrize("command", [["download", "wsdm"], ["upload", "wsdm", "-m", "x"],
                                     ["leaderboard", "wsdm", "--sync"]])
def test_without_the_kaggle_extra_a_command_says_how_to_install_it_and_creates_nothing(kaggle_env, monkeypatch,
                                                                                        command):
    monkeypatch.setitem(sys.modules, "requests", None)  # as on the core install, where the extra is missing
    before = sorted(p.name for p in kaggle_env.iterdir())
    code, text = submit(*command)
    assert code == 2, text
    assert "missing: requests" in text and "pip install -e '.[kaggle]'" in text
    assert sorted(p.name for p in kaggle_env.iterdir()) == before  # no data/, no runs/


# --- file competitions: submit, limits, retry, scores -------------------------------------------------

def run_law_tags(*args: str) -> str:
    code, text = submit("run", "law-tags", "--runs", "runs", *args)
    assert code == 0, text
    return text.split("Experiment ")[1].split(":")[0].strip()


def test_file_upload_waits_for_the_score_and_records_it(kaggle_env, serve, caplog):
    caplog.set_level(logging.DEBUG)
    exp = run_law_tags()
    server = serve(public_scores={"tfidf first": 0.4321}, fail={"ListSubmissions": [500]}, allowed_now=3)
    code, text = submit("upload", "law-tags", "--slug", "law-tags-demo", "-m", "tfidf first", "--wait",
                        "--poll", "0.01", "--timeout", "30", "--runs", "runs")
    assert code == 0, text
    assert "3 submission(s) left today" in text and "Public score 0.4321" in text

    rpcs = server.rpcs
    assert rpcs[:3] == ["GetSubmissionLimits", "StartSubmissionUpload", "CreateSubmission"]
    assert rpcs.count("ListSubmissions") >= 3  # a 500, retried; then pending; then scored
    (start,) = server.calls("StartSubmissionUpload")
    submission = kaggle_env / "runs" / "law-tags" / exp / "submission.csv"
    assert start.json()["competitionName"] == "law-tags-demo"
    assert start.json()["fileName"] == "submission.csv"
    assert int(start.json()["contentLength"]) == submission.stat().st_size
    (put,) = [r for r in server.state.requests if r.method == "PUT"]
    assert put.body == submission.read_bytes()  # the bytes went to the URL the service handed out
    (create,) = server.calls("CreateSubmission")
    assert create.json()["blobFileTokens"] == put.path.rsplit("/", 1)[-1]
    assert create.json()["submissionDescription"] == "tfidf first"
    assert all(r.headers.get("Authorization") == basic_auth() for r in server.state.requests if r.method == "POST")

    (row,) = Store(kaggle_env / "runs" / "leaderboard.sqlite").submissions("law-tags")
    assert (row["experiment_id"], row["host_ref"], row["status"], row["public_score"]) == \
        (exp, "1000", "complete", pytest.approx(0.4321))
    code, board = submit("leaderboard", "law-tags", "--runs", "runs", "--format", "json")
    assert json.loads(board)[0]["public"] == pytest.approx(0.4321)
    assert_no_secret(text + board + caplog.text, kaggle_env)


def test_no_submissions_left_means_no_upload(kaggle_env, serve):
    run_law_tags()
    server = serve(allowed_now=0)
    code, text = submit("upload", "law-tags", "--slug", "law-tags-demo", "-m", "x", "--runs", "runs")
    assert code == 2 and "no submissions left today" in text
    assert server.rpcs == ["GetSubmissionLimits"]


def test_rate_limit_is_retried_and_a_lasting_500_is_reported(kaggle_env, serve, monkeypatch):
    run_law_tags()
    server = serve(fail={"GetSubmissionLimits": [429, 500, 500]})
    waits: list[float] = []
    monkeypatch.setattr("submit.kaggle_client.time.sleep", waits.append)
    code, text = submit("upload", "law-tags", "--slug", "law-tags-demo", "-m", "x", "--runs", "runs")
    assert code == 2 and "Kaggle answered 500" in text and "3 tries" in text
    assert server.rpcs == ["GetSubmissionLimits"] * 3  # bounded: three tries, then the message
    assert waits == [0.0, 4.0]  # the 429's Retry-After (0 s), then exponential backoff
    assert not server.calls("CreateSubmission")


def test_an_invalid_submission_is_never_uploaded(kaggle_env, serve):
    exp = run_law_tags()
    path = kaggle_env / "runs" / "law-tags" / exp / "submission.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")  # header only: every id missing
    server = serve()
    code, text = submit("upload", "law-tags", "--slug", "law-tags-demo", "-m", "x", "--runs", "runs")
    assert code == 2 and "the host would reject this submission" in text
    assert server.state.requests == []


def test_sync_shows_public_beside_cv_with_rank_correlation_and_a_plot(kaggle_env, serve):
    default = run_law_tags()
    prior = run_law_tags("--recipe", "prior")
    server = serve(public_scores={"default": 0.41, "prior": 0.12})
    for exp, message in ((default, "default"), (prior, "prior")):
        code, text = submit("upload", "law-tags", "--slug", "law-tags-demo", "-m", message, "-e", exp, "--runs", "runs")
        assert code == 0, text
    server.state.listings = 1  # the next listing is scored
    code, text = submit("leaderboard", "law-tags", "--sync", "--slug", "law-tags-demo", "--plot", "lb.png",
                        "--runs", "runs")
    assert code == 0, text
    assert "CV-public rank correlation (Spearman, 2 experiments): 1.000" in text
    assert "top score 0.71234" in text and server.calls("GetLeaderboard")
    assert (kaggle_env / "lb.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {r["experiment_id"]: r["public_score"] for r in Store(kaggle_env / "runs" / "leaderboard.sqlite")
            .submissions("law-tags")}
    assert rows == {default: pytest.approx(0.41), prior: pytest.approx(0.12)}


# --- code competitions: bundle -> dataset + notebook -> code submission ---------------------------------

def test_code_competition_upload_and_the_public_score_beside_cv(kaggle_env, serve, wsdm_experiment, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the table on one line per experiment, as on a wide terminal
    runs_src, exp = wsdm_experiment
    shutil.copytree(runs_src, kaggle_env / "runs")
    server = serve(public_scores={"lgbm": 0.6102})
    code, text = submit("upload", "wsdm", "-m", "lgbm", "-e", exp, "--wait", "--poll", "0.01", "--timeout", "30",
                        "--runs", "runs")
    assert code == 0, text
    rpcs = server.rpcs
    order = ["GetSubmissionLimits", "CreateDataset", "SaveKernel", "GetKernelSessionStatus", "CreateCodeSubmission",
             "ListSubmissions"]
    assert [r for r in rpcs if r in order] == [*order, "ListSubmissions"]

    dataset = server.calls("CreateDataset")[0].json()
    assert dataset["ownerSlug"] == USER and dataset["slug"] == f"submit-wsdm-{exp}" and dataset["isPrivate"]
    uploaded = {len(body) for body in server.state.uploads.values()}
    bundle = kaggle_env / "bundles" / f"wsdm-{exp}" / "dataset"
    assert {p.stat().st_size for p in bundle.glob("*") if p.name != "dataset-metadata.json"} <= uploaded

    kernel = server.calls("SaveKernel")[0].json()
    assert kernel["slug"] == f"{USER}/submit-wsdm-{exp}-notebook"
    assert kernel["competitionDataSources"] == [WSDM_SLUG]
    assert kernel["datasetDataSources"] == [f"{USER}/submit-wsdm-{exp}"]
    assert kernel["enableInternet"] is False and kernel.get("enableGpu", False) is False
    cells = json.loads(kernel["text"])["cells"]  # the notebook itself, each cell's source one string
    assert kernel["kernelType"] == "notebook" and any('"-m", "submit", "predict"' in c["source"] for c in cells)
    code_sub = server.calls("CreateCodeSubmission")[0].json()
    assert code_sub == {"competitionName": WSDM_SLUG, "kernelOwner": USER, "kernelSlug": f"submit-wsdm-{exp}-notebook",
                        "kernelVersion": 1, "fileName": "submission.csv", "submissionDescription": "lgbm"}

    # What it must show: the public score beside the CV score on the local leaderboard.
    code, board = submit("leaderboard", "wsdm", "--runs", "runs")
    assert code == 0
    line = next(line for line in board.splitlines() if exp in line)
    cv = Store(kaggle_env / "runs" / "leaderboard.sqlite").experiment(exp)["cv_mean"]
    assert f"{cv:.4f}" in line and "0.6102" in line
    assert_no_secret(text + board, kaggle_env)


def test_an_api_token_is_sent_as_a_bearer_token(kaggle_env, serve, monkeypatch):
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", SECRET)
    server = serve(zip_files=sample_files("wsdm"))
    code, text = submit("download", "wsdm")
    assert code == 0, text
    (call,) = server.calls("DownloadDataFiles")
    assert call.headers["Authorization"] == f"Bearer {SECRET}"
    assert_no_secret(text, kaggle_env)

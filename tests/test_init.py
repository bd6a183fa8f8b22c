"""`submit init` end to end on tables made from scikit-learn's bundled datasets (offline), and each bad input of
issue 19 answered with exit code 2, one message, and nothing written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from typer.testing import CliRunner

from submit.cli import app

runner = CliRunner()
FAST = ["--set", "params.n_estimators=30", "--set", "params.early_stopping_rounds=0", "--set", "folds.n_splits=3"]


@pytest.fixture(autouse=True)
def own_index(tmp_path, monkeypatch):
    """Each test its own index of described competitions, never the user's."""
    monkeypatch.setenv("SUBMIT_CONFIG_DIR", str(tmp_path / "config"))


def submit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def lay_out(folder: Path, train: pd.DataFrame, test: pd.DataFrame, sample: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, stem in ((train, "train"), (test, "test"), (sample, "sample_submission")):
        frame.to_csv(folder / f"{stem}.csv", index=False)
    return folder


def regression_files(folder: Path) -> Path:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame.insert(0, "pid", np.arange(1000, 1000 + len(frame)))
    frame["sex"] = frame["sex"].map({1.0: "F", 2.0: "M"})
    frame["note"] = [f"visit {i} with remarks about diet {i % 7} and sleep {i % 11}" for i in range(len(frame))]
    frame["visit"] = pd.date_range("2020-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    train, test = frame.iloc[:360], frame.iloc[360:].drop(columns="target")
    return lay_out(folder, train, test, pd.DataFrame({"pid": test["pid"], "target": 150.0}))


def wine_files(folder: Path, *, probabilities: bool) -> Path:
    data = load_wine(as_frame=True)
    frame = data.frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = frame["cultivar"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    frame.insert(0, "wine_id", [f"w{i}" for i in range(len(frame))])
    order = np.random.default_rng(0).permutation(len(frame))
    train, test = frame.iloc[order[:140]], frame.iloc[order[140:]].drop(columns="cultivar")
    sample = pd.DataFrame({"wine_id": test["wine_id"]})
    if probabilities:
        for c in ("barolo", "grignolino", "barbera"):
            sample[c] = 1 / 3
    else:
        sample["cultivar"] = "barolo"
    return lay_out(folder, train, test, sample)


def binary_files(folder: Path) -> Path:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, [0, 1, 2, 3, 30]].copy()
    frame.columns = ["radius", "texture", "perimeter", "area", "benign"]
    frame.insert(0, "id", np.arange(len(frame)))
    train, test = frame.iloc[:450], frame.iloc[450:].drop(columns="benign")
    return lay_out(folder, train, test, pd.DataFrame({"id": test["id"], "benign": 0.5}))


def multilabel_files(folder: Path) -> Path:
    data = load_wine(as_frame=True).frame
    frame = data.drop(columns="target")
    for c in range(3):
        frame[f"is_{c}"] = (data["target"] == c).astype(int)
    frame["strong"] = (data["alcohol"] > 13).astype(int)
    frame.insert(0, "id", np.arange(len(frame)))
    labels = ["is_0", "is_1", "is_2", "strong"]
    train, test = frame.iloc[:140], frame.iloc[140:].drop(columns=labels)
    return lay_out(folder, train, test, pd.DataFrame({"id": test["id"], **{c: 0.5 for c in labels}}))


def described(folder: Path) -> dict:
    return yaml.safe_load((folder / "competition.yaml").read_text())


def test_init_infers_a_regression_table_and_the_competition_runs(tmp_path):
    folder = regression_files(tmp_path / "dia")
    code, text = submit("init", "dia", "--data", str(folder), "--metric", "rmsle")
    assert code == 0, text
    desc = described(folder)
    assert (desc["id"], desc["targets"], desc["task"], desc["metric"]) == ("pid", ["target"], "regression", "rmsle")
    assert desc["higher_is_better"] is False
    assert desc["features"]["sex"] == "categorical" and desc["features"]["note"] == "text"
    assert desc["features"]["visit"] == "datetime" and desc["features"]["bmi"] == "numeric"
    assert "id: pid" in text and "the one column test.csv and sample_submission.csv share" in text
    code, text = submit("list")
    assert "dia (local)" in text and "task regression; metric rmsle (lower is better)" in text
    code, text = submit("run", "dia", "--runs", str(tmp_path / "runs"), *FAST)
    assert code == 0, text
    assert "CV rmsle" in text and "lower is better" in text
    path = Path(text.split("Submission written and validated: ")[1].split()[0])
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["pid", "target"] and (frame["target"] > 0).all()
    assert submit("validate", "dia", str(path))[0] == 0


def test_multiclass_probabilities_by_class_columns_run_ensemble_and_predict(tmp_path):
    folder = wine_files(tmp_path / "wine", probabilities=True)
    code, text = submit("init", "wine", "--data", str(folder))
    assert code == 0, text
    desc = described(folder)
    assert desc["task"] == "multiclass" and desc["submission"] == "probabilities" and desc["metric"] == "logloss"
    assert desc["targets"] == ["cultivar"] and desc["classes"] == ["barolo", "grignolino", "barbera"]
    runs = str(tmp_path / "runs")
    for recipe in ("default", "baseline"):
        code, text = submit("run", "wine", "--runs", runs, "--recipe", recipe, *FAST)
        assert code == 0, text
    for method in ("caruana", "stack", "rank"):
        code, text = submit("ensemble", "wine", "--runs", runs, "--method", method)
        assert code == 0, (method, text)
    code, text = submit("ensemble", "wine", "--runs", runs)
    assert code == 0, text
    sub = pd.read_csv(Path(text.split("Submission written and validated: ")[1].split()[0]))
    assert list(sub.columns) == ["wine_id", "barolo", "grignolino", "barbera"]
    assert np.allclose(sub.iloc[:, 1:].sum(axis=1), 1)
    code, text = submit("leaderboard", "wine", "--runs", runs, "--format", "json")
    assert code == 0, text
    rows = json.loads(text[text.index("["):])
    assert {r["recipe"] for r in rows} >= {"default", "baseline"}
    default = next(r["experiment"] for r in rows if r["recipe"] == "default")
    code, text = submit("predict", "wine", "--experiment", default, "--runs", runs, "--output",
                        str(tmp_path / "p.csv"))
    assert code == 0, text
    assert list(pd.read_csv(tmp_path / "p.csv").columns) == ["wine_id", "barolo", "grignolino", "barbera"]


def test_multiclass_labels_binary_probability_and_multilabel_are_inferred(tmp_path):
    wine = wine_files(tmp_path / "labels", probabilities=False)
    assert submit("init", "wine-labels", "--data", str(wine))[0] == 0
    assert (described(wine)["task"], described(wine)["submission"]) == ("multiclass", "labels")
    cancer = binary_files(tmp_path / "cancer")
    assert submit("init", "cancer", "--data", str(cancer))[0] == 0
    assert (described(cancer)["task"], described(cancer)["submission"], described(cancer)["metric"]) == (
        "binary", "probabilities", "auc")
    assert described(cancer)["dropped"] == {}  # id is the id column, not a dropped feature
    tags = multilabel_files(tmp_path / "tags")
    assert submit("init", "tags", "--data", str(tags))[0] == 0
    assert described(tags)["task"] == "multilabel" and len(described(tags)["targets"]) == 4
    for name in ("wine-labels", "cancer", "tags"):
        code, text = submit("run", name, "--runs", str(tmp_path / "runs"), *FAST)
        assert code == 0, text


def test_flags_override_the_inference(tmp_path):
    folder = wine_files(tmp_path / "wine", probabilities=False)
    code, text = submit("init", "wine", "--data", str(folder), "--metric", "macro-f1", "--group", "ash")
    assert code == 0, text
    desc = described(folder)
    assert desc["metric"] == "macro-f1" and desc["group"] == "ash" and "ash" not in desc["features"]
    assert "given (--metric)" in text


def test_a_zip_of_the_files_is_read(tmp_path):
    folder = regression_files(tmp_path / "files")
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    with zipfile.ZipFile(zipped / "dia.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in folder.iterdir():
            archive.write(path, path.name)
    code, text = submit("init", "dia-zip", "--data", str(zipped))
    assert code == 0, text
    assert (zipped / "competition.yaml").exists()


def _bad(tmp_path: Path, name: str) -> Path:
    folder = regression_files(tmp_path / name)
    return folder


def _drop_sample(folder: Path) -> None:
    (folder / "sample_submission.csv").unlink()


def _other_ids(folder: Path) -> None:
    sample = pd.read_csv(folder / "sample_submission.csv")
    sample["pid"] += 10_000
    sample.to_csv(folder / "sample_submission.csv", index=False)


def _two_ids(folder: Path) -> None:
    for stem in ("test", "sample_submission"):
        frame = pd.read_csv(folder / f"{stem}.csv")
        frame["row"] = frame["pid"] - 1000
        frame.to_csv(folder / f"{stem}.csv", index=False)


def _unknown_target(folder: Path) -> None:
    pd.read_csv(folder / "sample_submission.csv").rename(columns={"target": "price"}).to_csv(
        folder / "sample_submission.csv", index=False)


def _empty_column(folder: Path) -> None:
    for stem in ("train", "test"):
        frame = pd.read_csv(folder / f"{stem}.csv")
        frame["blank"] = ""
        frame.to_csv(folder / f"{stem}.csv", index=False)


def _free_text_target(folder: Path) -> None:
    train = pd.read_csv(folder / "train.csv")
    train["target"] = [f"a long free text answer number {i} about things" for i in range(len(train))]
    train.to_csv(folder / "train.csv", index=False)
    pd.read_csv(folder / "sample_submission.csv").assign(target="x").to_csv(folder / "sample_submission.csv",
                                                                               index=False)


def _zip(folder: Path, name: str, data: bytes, *, compress: bool = False) -> None:
    for path in list(folder.iterdir()):
        path.unlink()
    with zipfile.ZipFile(folder / "files.zip", "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        z.writestr("train.csv", "a,b\n1,2\n")
        z.writestr(name, data)


BAD = {
    "no sample_submission": (_drop_sample, [], "no sample_submission table"),
    "ids not shared": (_other_ids, [], "ids that test.csv and sample_submission.csv do not share"),
    "two candidate ids": (_two_ids, [], "two candidate id columns"),
    "target not in train": (_unknown_target, [], "target 'price' of sample_submission.csv not found in train.csv"),
    "target flag not in train": (lambda f: None, ["--target", "price"], "target 'price' not found in train.csv"),
    "metric does not fit": (lambda f: None, ["--metric", "auc"], "metric 'auc' does not fit a regression task"),
    "unknown metric": (lambda f: None, ["--metric", "gini"], "unknown metric 'gini'"),
    "empty column": (_empty_column, [], "column 'blank' of train.csv is entirely empty"),
    "task not inferred": (_free_text_target, [], "cannot infer the task of target 'target'"),
    "zip escapes": (lambda f: _zip(f, "../evil.csv", b"x"), [], "escapes the folder"),
    "zip absolute": (lambda f: _zip(f, "/etc/evil.csv", b"x"), [], "has an absolute path"),
    "zip bomb": (lambda f: _zip(f, "test.csv", b"0" * 2_000_000, compress=True), [], "more than 100-fold"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_each_bad_input_exits_2_with_one_message_and_writes_nothing(tmp_path, case):
    spoil, flags, said = BAD[case]
    folder = _bad(tmp_path, "bad")
    spoil(folder)
    before = sorted(p.name for p in folder.iterdir())
    code, text = submit("init", "bad", "--data", str(folder), *flags)
    assert code == 2, text
    assert said in " ".join(text.split()), text
    assert text.count("error:") == 1 and "Traceback" not in text
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing extracted, no competition.yaml
    assert not (tmp_path / "config" / "competitions.yaml").exists()
    assert not (tmp_path / "evil.csv").exists()


def test_a_built_in_name_is_refused(tmp_path):
    code, text = submit("init", "wsdm", "--data", str(regression_files(tmp_path / "x")))
    assert code == 2 and "built-in competition" in text


def test_an_edited_description_is_checked_on_read(tmp_path):
    folder = regression_files(tmp_path / "dia")
    assert submit("init", "dia", "--data", str(folder))[0] == 0
    text = (folder / "competition.yaml").read_text().replace("higher_is_better: false", "higher_is_better: true")
    (folder / "competition.yaml").write_text(text)
    code, text = submit("run", "dia", "--runs", str(tmp_path / "runs"))
    assert code == 2 and "higher_is_better: True, but rmse is better lower" in text


def test_kaggle_downloads_the_files_and_takes_the_metric_from_the_metadata(tmp_path, monkeypatch):
    from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

    from tests.kaggle_server import FakeKaggle
    from tests.test_kaggle import SECRET, USER

    files = regression_files(tmp_path / "files")
    for key, value in {"HOME": str(tmp_path), "KAGGLE_CONFIG_DIR": str(tmp_path / "kc"), "KAGGLE_USERNAME": USER,
                       "KAGGLE_KEY": SECRET, "KAGGLE_API_ENVIRONMENT": "LOCALHOST"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    zipped = {p.name: p.read_bytes() for p in files.iterdir()}
    with FakeKaggle(zip_files=zipped, metrics={"house-prices": "Root Mean Squared Logarithmic Error"}) as server:
        monkeypatch.setitem(_env_to_endpoint, KaggleEnv.LOCAL, server.url)
        code, text = submit("init", "house", "--kaggle", "house-prices", "--data", str(tmp_path / "house"))
        assert code == 0, text
        assert server.calls("DownloadDataFiles") and server.calls("ListCompetitions")
    desc = described(tmp_path / "house")
    assert desc["metric"] == "rmsle" and desc["kaggle"] == "house-prices"
    assert "the competition's metadata on Kaggle" in text
    assert SECRET not in text


@pytest.mark.parametrize(("named", "ours"), [("CategorizationAccuracy", "accuracy"), ("RMSE", "rmse"),
                                             ("Quadratic Weighted Kappa", "qwk"), ("MAP@3", "map@3"),
                                             ("Some Custom Metric", None)])
def test_kaggle_metric_names_map_to_the_harness(named, ours):
    from submit.init import kaggle_metric

    assert kaggle_metric(named) == ours


@pytest.mark.realdata
def test_the_six_public_datasets_are_inferred_as_their_tasks(tmp_path):
    """benchmarks/tabular_datasets.py's layouts of the real rows: each is set up with the task it was made for."""
    import sys

    from tests.conftest import shared_data

    shared = shared_data()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import tabular_datasets

    expected = {"diabetes": ("regression", "values"), "skeptics-length": ("regression", "values"),
                "skeptics-health": ("binary", "labels"), "skeptics-topic": ("multiclass", "probabilities"),
                "law-tags10": ("multilabel", "probabilities"), "law-tags-all": ("tags", "tags")}
    for name, make in tabular_datasets.DATASETS.items():
        folder = make(tmp_path / name, shared)
        code, text = submit("init", name, "--data", str(folder), "--metric", tabular_datasets.METRICS[name])
        assert code == 0, text
        desc = described(folder)
        assert (desc["task"], desc["submission"]) == expected[name]
        assert "text" in desc["features"].values() or name == "diabetes"

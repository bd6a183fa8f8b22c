"""Six public datasets laid out as Kaggle competitions (train, test, sample_submission), for `submit init`.

    python benchmarks/tabular_datasets.py --out data              # data/<name>/ for each of the six
    submit init diabetes --data data/diabetes                     # then: submit diabetes --data data/diabetes

| name | task, metric | data |
|---|---|---|
| diabetes | regression, rmse | scikit-learn's bundled diabetes table (442 rows, 10 numbers) |
| skeptics-length | regression, rmsle | Skeptics Stack Exchange: an answer's length in words (skewed) |
| skeptics-health | binary, accuracy | Skeptics: is a question about health, from its free text |
| skeptics-topic | multiclass probabilities, logloss | Skeptics: a question's category (5) from texts |
| law-tags10 | multilabel probabilities, auc | Law Stack Exchange titles: the ten most common tags as 0/1 columns |
| law-tags-all | tags, mean-row-f1 | Law Stack Exchange titles: every tag, space-separated in one column |

The Stack Exchange ones read ../shared/data (CC BY-SA rows, not shipped: see its SOURCES.md) and are skipped
when it is absent; diabetes ships with scikit-learn. Nothing is downloaded. A fifth of each table is the test
set: its targets are removed from test.csv and kept in solution.csv one folder up (`<out>/<name>.solution.csv`),
and sample_submission.csv holds the targets' format (a constant value, a label, uniform probabilities or the
most common tag).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path("../shared/data")  # from the repository root, as the tests read it; --shared elsewhere
METRICS = {"diabetes": "rmse", "skeptics-length": "rmsle", "skeptics-health": "accuracy",
           "skeptics-topic": "logloss", "law-tags10": "auc", "law-tags-all": "mean-row-f1"}


def lay_out(frame: pd.DataFrame, out: Path, *, id_column: str, targets: list[str], submission: str,
            class_column: str | None = None, seed: int = 0) -> Path:
    """train.csv, test.csv (targets removed) and sample_submission.csv under out; the test targets beside it."""
    out.mkdir(parents=True, exist_ok=True)
    test_rows = np.random.default_rng(seed).random(len(frame)) < 0.2
    train, test = frame[~test_rows], frame[test_rows]
    train.to_csv(out / "train.csv", index=False)
    test.drop(columns=targets).to_csv(out / "test.csv", index=False)
    test[[id_column, *targets]].to_csv(out.with_name(f"{out.name}.solution.csv"), index=False)
    sample = pd.DataFrame({id_column: test[id_column].to_numpy()})
    if class_column is not None:  # one probability column per class
        classes = sorted(frame[class_column].unique())
        for c in classes:
            sample[c] = 1 / len(classes)
    else:
        for t in targets:
            sample[t] = {"values": lambda c: float(c.median()), "labels": lambda c: c.mode()[0],
                         "probabilities": lambda c: 0.5,
                         "tags": lambda c: c.str.split().explode().mode()[0]}[submission](train[t])
    sample.to_csv(out / "sample_submission.csv", index=False)
    return out


def diabetes(out: Path, shared: Path) -> Path:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame.insert(0, "patient", np.arange(1, len(frame) + 1))
    frame["sex"] = frame["sex"].map({1.0: "F", 2.0: "M"})  # a categorical column, as tables have
    return lay_out(frame, out, id_column="patient", targets=["target"], submission="values")


def _skeptics(shared: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in (shared / "stackexchange_skeptics" / "questions.jsonl").open()]
    frame = pd.DataFrame(rows)
    return frame.assign(id=frame["questionId"].astype(int)).drop_duplicates("id").sort_values("id")


def skeptics_length(out: Path, shared: Path) -> Path:
    frame = _skeptics(shared)
    table = pd.DataFrame({"id": frame["id"], "question": frame["question"], "category": frame["category"],
                          "answer_words": frame["answer"].str.split().str.len()})
    return lay_out(table, out, id_column="id", targets=["answer_words"], submission="values")


def skeptics_health(out: Path, shared: Path) -> Path:
    frame = _skeptics(shared)
    table = pd.DataFrame({"id": frame["id"], "question": frame["question"],
                          "answer_words": frame["answer"].str.split().str.len(),
                          "health": frame["category"].isin(["medical-science", "nutrition"]).astype(int)})
    return lay_out(table, out, id_column="id", targets=["health"], submission="labels")


def skeptics_topic(out: Path, shared: Path) -> Path:
    frame = _skeptics(shared)
    table = pd.DataFrame({"id": frame["id"], "question": frame["question"],
                          "answer": frame["answer"].str.slice(0, 2000), "category": frame["category"]})
    return lay_out(table, out, id_column="id", targets=["category"], submission="probabilities",
                   class_column="category")


def _law_tags(shared: Path) -> tuple[pd.DataFrame, pd.Series]:
    raw = pd.read_csv(shared / "law" / "titles_tags.csv")
    return raw, raw["Tags"].map(lambda t: re.findall(r"<([^<>]+)>", str(t)))


def law_tags10(out: Path, shared: Path) -> Path:
    raw, tags = _law_tags(shared)
    top = pd.Series([t for row in tags for t in row]).value_counts().index[:10]
    table = pd.DataFrame({"id": np.arange(1, len(raw) + 1), "title": raw["Title"]})
    for tag in top:
        table[tag] = tags.map(lambda row, tag=tag: int(tag in row))
    return lay_out(table, out, id_column="id", targets=list(top), submission="probabilities")


def law_tags_all(out: Path, shared: Path) -> Path:
    raw, tags = _law_tags(shared)
    table = pd.DataFrame({"id": np.arange(1, len(raw) + 1), "title": raw["Title"], "tags": tags.str.join(" ")})
    return lay_out(table, out, id_column="id", targets=["tags"], submission="tags")


DATASETS = {"diabetes": diabetes, "skeptics-length": skeptics_length, "skeptics-health": skeptics_health,
            "skeptics-topic": skeptics_topic, "law-tags10": law_tags10, "law-tags-all": law_tags_all}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument("--shared", type=Path, default=SHARED, help="the real-data folder (../shared/data)")
    parser.add_argument("names", nargs="*", default=list(DATASETS))
    args = parser.parse_args()
    for name in args.names:
        if name != "diabetes" and not args.shared.is_dir():
            print(f"{name}: skipped ({args.shared} is absent)")
            continue
        folder = DATASETS[name](args.out / name, args.shared)
        print(f"{name}: {folder} (submit init {name} --data {folder} --metric {METRICS[name]})")


if __name__ == "__main__":
    main()

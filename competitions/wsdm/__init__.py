"""WSDM Cup - Multilingual Chatbot Arena (Kaggle): which of two responses did the user prefer?

    from submit.competitions.wsdm import Wsdm
    data = Wsdm().load(Path("data/wsdm"))                                   # train.parquet, test.parquet, ...
    data = Wsdm().load(Path("data/wsdm"), extra_train="data/lmsys", limit=5000)   # plus LMSYS rows, subset

Files as on Kaggle: train.parquet (id, prompt, response_a, response_b, winner in {model_a, model_b},
model_a, model_b, language), test.parquet (id, prompt, response_a, response_b, scored) and
sample_submission.csv (id, winner); any of them may also be .csv or .jsonl. Scored by accuracy; log
loss is kept beside it since it tells calibrated heads apart. y is one-hot (n, 2) over (A wins, B wins).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from submit.competitions._preference import (
    ACCURACY,
    LOG_LOSS,
    WSDM_LABELS,
    keep_subset,
    lmsys_to_wsdm,
    prompt_groups,
    read_lmsys,
    read_wsdm,
    synthetic_ids,
    synthetic_pairs,
)
from submit.kernel.checks import (
    Column,
    DataError,
    check_ids_covered,
    check_unique_ids,
    find_table,
    read_table,
    require_table,
)
from submit.kernel.competition import KAGGLE_CPU_NOTEBOOK, Competition, Dataset
from submit.kernel.submissions import LABELS, SubmissionSpec
from submit.kernel.tasks import PREFERENCE

N_SAMPLE_TRAIN, N_SAMPLE_TEST = 600, 40


class Wsdm(Competition):
    name = "wsdm"
    title = "WSDM Cup - Multilingual Chatbot Arena"
    host = "kaggle"
    slug = "wsdm-cup-multilingual-chatbot-arena"
    url = "https://www.kaggle.com/competitions/wsdm-cup-multilingual-chatbot-arena"
    code_competition = True
    notebook_limit_h = 9  # CPU or GPU notebook, 9 hours of run time
    host_test_rows = 25_000  # the hidden test set, about 25,000 rows
    notebook_hardware = KAGGLE_CPU_NOTEBOOK
    host_train_rows = 48_439  # the host's train file
    # A row's mean tokens (prompt and both responses, cut at 2,000; SmolLM2's tokenizer): the real test rows
    # in ../shared/data, only three of them; WSDM's rows run long
    host_row_tokens = 1_400
    task = PREFERENCE
    metrics = (ACCURACY, LOG_LOSS)
    folds_scheme = "grouped"

    def load(self, data_dir: Path, *, extra_train: str | None = None, limit: int | None = None) -> Dataset:
        """Read the host's files; `extra_train`: a folder with LMSYS train.csv appended as training rows
        (ties dropped); `limit`: a seeded subset of that many training rows."""
        data_dir = Path(data_dir)
        files: dict[str, Path] = {}
        frames, ys = [], []
        train_path = find_table(data_dir, "train")
        if train_path is not None:
            frame, y = read_wsdm(train_path, train=True)
            frames.append(frame)
            ys.append(y)
            files["train"] = train_path
        elif extra_train is None:
            raise DataError(data_dir / "train", "file not found",
                            expected=f"train.parquet (or .csv/.jsonl) in {data_dir}, or train on LMSYS rows "
                                     "instead: load(..., extra_train=<folder with LMSYS train.csv>), "
                                     "--set data.extra_train=<folder> on the command line")
        if extra_train is not None:
            extra_path = require_table(Path(extra_train), "train")
            frame, y = lmsys_to_wsdm(*read_lmsys(extra_path, train=True))
            frames.append(frame)
            ys.append(y)
            files["extra_train"] = extra_path
        train = pd.concat(frames, ignore_index=True)
        if "language" in train.columns:  # LMSYS rows carry no language
            train["language"] = train["language"].fillna("unknown")
        check_unique_ids(files.get("train", files.get("extra_train")), train["id"],
                         context=" of the training rows (after appending the extra training rows)")
        train, y_train = keep_subset(train, np.concatenate(ys), limit)

        files["test"] = require_table(data_dir, "test")
        test, _ = read_wsdm(files["test"], train=False)
        files["sample_submission"] = require_table(data_dir, "sample_submission")
        sample = read_table(files["sample_submission"], [Column("id", "id"), Column("winner", "text")], exact=True)
        check_ids_covered(test["id"], sample["id"], ids_file=files["test"], sample_file=files["sample_submission"])
        return Dataset(train=train, test=test, y=y_train, sample_submission=sample,
                       groups=prompt_groups(train["prompt"]), stratify=y_train.argmax(axis=1),
                       label_names=list(WSDM_LABELS), files=files)

    def load_unlabeled(self, data_dir: Path) -> pd.DataFrame:
        return read_wsdm(require_table(Path(data_dir), "test"), train=False)[0]

    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        return SubmissionSpec(id_column="id", kind=LABELS, columns=("winner",), labels=frozenset(WSDM_LABELS))

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        if decided.shape != (len(dataset.test), 2):
            raise ValueError(f"wsdm: expected test predictions of shape ({len(dataset.test)}, 2), got {decided.shape}")
        winner = np.where(decided.argmax(axis=1) == 0, WSDM_LABELS[0], WSDM_LABELS[1])
        return pd.DataFrame({"id": dataset.test["id"].to_numpy(), "winner": winner})

    def write_sample(self, out_dir: Path, seed: int = 0) -> None:
        """train.parquet (600 rows), test.parquet (40), sample_submission.csv, single-turn, no ties."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        pairs = synthetic_pairs(N_SAMPLE_TRAIN + N_SAMPLE_TEST, rng, ties=False, max_turns=1)
        ids = [f"{i:016x}" for i in synthetic_ids(len(pairs), rng) * 2_654_435_761]  # hex strings, like Kaggle's
        frame = pd.DataFrame({"id": ids, "prompt": pairs["prompt"].str[0], "response_a": pairs["response_a"].str[0],
                              "response_b": pairs["response_b"].str[0]})
        train = frame.iloc[:N_SAMPLE_TRAIN].assign(
            winner=np.array(WSDM_LABELS)[pairs["label"].iloc[:N_SAMPLE_TRAIN]],
            model_a=pairs["model_a"].iloc[:N_SAMPLE_TRAIN], model_b=pairs["model_b"].iloc[:N_SAMPLE_TRAIN],
            language=pairs["language"].iloc[:N_SAMPLE_TRAIN])
        test = frame.iloc[N_SAMPLE_TRAIN:].reset_index(drop=True).assign(scored=False)
        train.to_parquet(out_dir / "train.parquet", index=False)
        test.to_parquet(out_dir / "test.parquet", index=False)
        test[["id"]].assign(winner=WSDM_LABELS[0]).to_csv(out_dir / "sample_submission.csv", index=False)


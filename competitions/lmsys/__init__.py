"""LMSYS - Chatbot Arena Human Preference Predictions (Kaggle): p(A wins), p(B wins), p(tie).

    from submit.competitions.lmsys import Lmsys
    data = Lmsys().load(Path("data/lmsys"))              # train.csv, test.csv, sample_submission.csv
    data = Lmsys().load(Path("data/lmsys"), limit=2000)   # a seeded subset of the training rows

Files as on Kaggle: prompt, response_a and response_b are JSON lists of turns (null turns read as "");
train.csv adds model_a, model_b and the 0/1 flags winner_model_a, winner_model_b, winner_tie (exactly
one set per row). The canonical text joins the turns with a blank line; n_turns counts them. Scored by
log loss (probabilities clipped at 1e-15, as Kaggle does); accuracy is kept beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from submit.competitions._preference import (
    ACCURACY,
    LMSYS_FLAGS,
    LOG_LOSS,
    keep_subset,
    prompt_groups,
    read_lmsys,
    synthetic_ids,
    synthetic_pairs,
)
from submit.kernel.checks import Column, check_ids_covered, read_table, require_table
from submit.kernel.competition import KAGGLE_CPU_NOTEBOOK, Competition, Dataset
from submit.kernel.submissions import PROBABILITIES, SubmissionSpec
from submit.kernel.tasks import PREFERENCE

N_SAMPLE_TRAIN, N_SAMPLE_TEST = 600, 40
NULL_TURN_RATE = 0.02  # the real files hold some null turns (a model that returned nothing)


class Lmsys(Competition):
    name = "lmsys"
    title = "LMSYS - Chatbot Arena Human Preference Predictions"
    host = "kaggle"
    slug = "lmsys-chatbot-arena"
    url = "https://www.kaggle.com/competitions/lmsys-chatbot-arena"
    code_competition = True
    notebook_limit_h = 9  # CPU or GPU notebook, 9 hours of run time
    host_test_rows = 25_000  # the hidden test set, about 25,000 rows
    notebook_hardware = KAGGLE_CPU_NOTEBOOK
    host_train_rows = 57_477  # the host's train file
    # A row's mean tokens (prompt and both responses, cut at 2,000; SmolLM2's tokenizer): 400 real training
    # rows in ../shared/data
    host_row_tokens = 770
    task = PREFERENCE
    metrics = (LOG_LOSS, ACCURACY)
    folds_scheme = "grouped"

    def load(self, data_dir: Path, *, limit: int | None = None) -> Dataset:
        """Read the host's files; `limit`: a seeded subset of that many training rows."""
        data_dir = Path(data_dir)
        files = {stem: require_table(data_dir, stem) for stem in ("train", "test", "sample_submission")}
        train, y = read_lmsys(files["train"], train=True)
        train, y = keep_subset(train, y, limit)
        test, _ = read_lmsys(files["test"], train=False)
        sample = read_table(files["sample_submission"],
                            [Column("id", "id"), *(Column(flag, "float") for flag in LMSYS_FLAGS)], exact=True)
        check_ids_covered(test["id"], sample["id"], ids_file=files["test"], sample_file=files["sample_submission"])
        return Dataset(train=train, test=test, y=y, sample_submission=sample, groups=prompt_groups(train["prompt"]),
                       stratify=y.argmax(axis=1), label_names=list(LMSYS_FLAGS), files=files)

    def load_unlabeled(self, data_dir: Path) -> pd.DataFrame:
        return read_lmsys(require_table(Path(data_dir), "test"), train=False)[0]

    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        return SubmissionSpec(id_column="id", kind=PROBABILITIES, columns=LMSYS_FLAGS)

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        if decided.shape != (len(dataset.test), 3):
            raise ValueError(f"lmsys: expected test predictions of shape ({len(dataset.test)}, 3), "
                             f"got {decided.shape}")
        out = pd.DataFrame({"id": dataset.test["id"].to_numpy()})
        for k, flag in enumerate(LMSYS_FLAGS):
            out[flag] = decided[:, k]
        return out

    def write_sample(self, out_dir: Path, seed: int = 0) -> None:
        """train.csv (600 rows), test.csv (40), sample_submission.csv; 1-3 turns, about 30% ties."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        pairs = synthetic_pairs(N_SAMPLE_TRAIN + N_SAMPLE_TEST, rng, ties=True, max_turns=3)

        def as_json(turns: list[str], nullable: bool) -> str:
            # Kaggle's files escape non-ASCII characters (\uXXXX), so json.dumps' default matches them.
            return json.dumps([None if nullable and rng.random() < NULL_TURN_RATE else t for t in turns])

        frame = pd.DataFrame({"id": synthetic_ids(len(pairs), rng),
                              "model_a": pairs["model_a"], "model_b": pairs["model_b"],
                              "prompt": [as_json(t, False) for t in pairs["prompt"]],
                              "response_a": [as_json(t, True) for t in pairs["response_a"]],
                              "response_b": [as_json(t, True) for t in pairs["response_b"]]})
        for k, flag in enumerate(LMSYS_FLAGS):
            frame[flag] = (pairs["label"] == k).astype(int)
        frame.iloc[:N_SAMPLE_TRAIN].to_csv(out_dir / "train.csv", index=False)
        test = frame.iloc[N_SAMPLE_TRAIN:][["id", "prompt", "response_a", "response_b"]]
        test.to_csv(out_dir / "test.csv", index=False)
        test[["id"]].assign(**{flag: 1 / 3 for flag in LMSYS_FLAGS}).to_csv(out_dir / "sample_submission.csv",
                                                                            index=False)

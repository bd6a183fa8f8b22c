"""Shared code of the text-to-text plugins (meta-review, code-instruct): one source text -> one target text.

    class MetaReview(TextToText):
        source_column, target_column = "text", "summary"
    data = MetaReview().load(Path("data/meta-review"))     # data.train: id, source; data.y: the target texts

Two layouts load:

- The host's: train (id, <source>, <target>), test (id, <source>) and sample_submission (id, <target>),
  each .csv (quoted cells may span lines), .parquet or .jsonl.
- A plain export: the folder's only table, with the source and target columns and optionally id (else the
  data row numbers, from 1). There is no test set: `Dataset.test` is empty and `sample_submission` None,
  so a run does cross-validation only (how the real MReD and Evol-Instruct files are read).

Canonical frames: `train` and `test` hold id and source (the task's input); `y` is a 1-D object array of
the target texts. Empty or blank source and target cells are refused (competitions.checks).

Source and target texts are cut to `max_text_chars` (the recipe's `data.max_text_chars`, default 20,000:
above the longest real MReD review set and Evol-Instruct answer) with a warning naming the rows: one
megabyte-long cell made CV 30 times slower and, as a reference, dragged a fold's corpus chrF to nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from submit.kernel.checks import Column, DataError, check_ids_covered, find_table, only_table, read_table
from submit.kernel.competition import Competition, Dataset, LoadOptionError, subset_rows
from submit.kernel.submissions import TEXT, SubmissionSpec
from submit.kernel.tasks import GENERATION, GenerationTask, Similarity

SOURCE = "source"  # the canonical input column of the generation task
MAX_TEXT_CHARS = 20_000  # the default bound on a source or target text (data.max_text_chars)
SHOWN_ROWS = 10  # a warning names at most this many rows


class LongTextWarning(UserWarning):
    """Texts cut to the recipe's data.max_text_chars; the message names the file, column and rows."""


def bound_texts(path: Path, column: str, texts: pd.Series, max_chars: int) -> pd.Series:
    """The texts cut to `max_chars` characters, with a LongTextWarning naming the rows (from 1) that were cut."""
    lengths = texts.str.len()
    long = np.flatnonzero(lengths.to_numpy() > max_chars)
    if not len(long):
        return texts
    rows = ", ".join(str(i + 1) for i in long[:SHOWN_ROWS]) + (f" and {len(long) - SHOWN_ROWS} more"
                                                                  if len(long) > SHOWN_ROWS else "")
    warnings.warn(LongTextWarning(
        f"{path.name}, column '{column}': {len(long)} text(s) longer than {max_chars:,} characters (rows {rows}; "
        f"the longest {int(lengths.max()):,}) cut to {max_chars:,} for training and scoring; "
        "--set data.max_text_chars=N moves the bound"), stacklevel=3)
    return texts.str.slice(0, max_chars)


def generation_task(similarity: Similarity) -> GenerationTask:
    """The generation task with a competition's metric per pair as the similarity MBR selection uses."""
    return replace(GENERATION, similarity=similarity)


class TextToText(Competition):
    """Base of the generation plugins; subclasses name the host's columns, their task (`generation_task`
    with their metric as the similarity) and write their sample."""

    folds_scheme = "stratified"  # nothing to stratify on: plain shuffled k-fold
    source_column: ClassVar[str]  # the host's name of the input text
    target_column: ClassVar[str]  # the host's name of the text to write, in train and sample_submission
    max_chars: ClassVar[int] = 20_000  # longest text a submission cell may hold
    allow_empty: ClassVar[bool] = False  # whether an empty text is a valid answer

    def source_text(self, raw: pd.Series) -> pd.Series:
        """The host's source cells as the canonical source text (a plugin may normalise markers)."""
        return raw

    def _read(self, path: Path, *, with_target: bool, max_chars: int, id_required: bool = True) -> pd.DataFrame:
        columns = [Column("id", "id", required=id_required), Column(self.source_column, "text")]
        if with_target:
            columns.append(Column(self.target_column, "text"))
        frame = read_table(path, columns, min_rows=1 if with_target else 0)
        for column in columns[1:]:
            frame[column.name] = bound_texts(path, column.name, frame[column.name], max_chars)
        if "id" not in frame.columns:
            frame["id"] = np.arange(1, len(frame) + 1).astype(str)  # the data row number, as in error messages
        return frame

    def load(self, data_dir: Path, *, limit: int | None = None, max_text_chars: int = MAX_TEXT_CHARS) -> Dataset:
        """Read either layout; `limit`: a seeded subset of that many training rows (test rows are never cut);
        `max_text_chars`: the bound on each source and target text (longer ones are cut, with a warning)."""
        if max_text_chars < 1:
            raise LoadOptionError(f"data.max_text_chars must be at least 1, got {max_text_chars}")
        data_dir = Path(data_dir)
        if find_table(data_dir, "train") is not None:
            files = {stem: find_table(data_dir, stem) for stem in ("train", "test", "sample_submission")}
            for stem, path in files.items():
                if path is None:
                    raise DataError(data_dir / stem, "file not found",
                                    expected=f"{stem}.csv (or .parquet, .jsonl) beside {files['train'].name}")
            raw = self._read(files["train"], with_target=True, max_chars=max_text_chars)
            test_raw = self._read(files["test"], with_target=False, max_chars=max_text_chars)
            sample = read_table(files["sample_submission"],
                                [Column("id", "id"), Column(self.target_column, "optional_text")], exact=True)
            check_ids_covered(test_raw["id"], sample["id"], ids_file=files["test"],
                              sample_file=files["sample_submission"])
        else:
            path = only_table(data_dir, f"train + test + sample_submission tables (the host's layout), or a single "
                                        f"table with columns {self.source_column}, {self.target_column}")
            raw = self._read(path, with_target=True, max_chars=max_text_chars, id_required=False)
            test_raw, sample, files = raw.iloc[:0], None, {"train": path}
        raw = raw.iloc[subset_rows(len(raw), limit)].reset_index(drop=True)
        train = pd.DataFrame({"id": raw["id"], SOURCE: self.source_text(raw[self.source_column])})
        test = pd.DataFrame({"id": test_raw["id"], SOURCE: self.source_text(test_raw[self.source_column])})
        return Dataset(train=train, test=test.reset_index(drop=True), y=raw[self.target_column].to_numpy(dtype=object),
                       sample_submission=sample, files=files)

    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        return SubmissionSpec(id_column="id", kind=TEXT, columns=(self.target_column,), max_chars=self.max_chars,
                              allow_empty=self.allow_empty)

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        if decided.shape != (len(dataset.test),):
            raise ValueError(f"{self.name}: expected {len(dataset.test)} test texts (a 1-D array), "
                             f"got shape {decided.shape}")
        return pd.DataFrame({"id": dataset.test["id"].to_numpy(), self.target_column: [str(t) for t in decided]})

    def write_host_files(self, out_dir: Path, train: pd.DataFrame, test: pd.DataFrame, placeholder: str) -> None:
        """train/test/sample_submission.csv in the host's layout (train and test in the host's columns)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        sample = pd.DataFrame({"id": test["id"], self.target_column: placeholder})
        for frame, stem in ((train, "train"), (test, "test"), (sample, "sample_submission")):
            frame.to_csv(out_dir / f"{stem}.csv", index=False, lineterminator="\n")

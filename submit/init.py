"""`submit init`: a competition from its files alone. It reads train, test and sample_submission (csv, parquet, or
zips of them), infers the id, the targets, the task, the metric and each feature's role, says what it inferred
and why, and writes DIR/competition.yaml (kernel/description.py) once that describes a competition that loads.

    submit init house --data data/house                        # everything inferred
    submit init house --data data/house --metric rmsle --group Neighborhood
    submit init titanic --kaggle titanic                       # the files through the Kaggle API first
    submit house --data data/house                             # from then on, like any competition

    inference = infer(read_tables(Path("data/house")), Options(metric="rmsle"))
    inference.description, inference.notes                     # the Description, and (what, why) lines

Inference, in order: the id is the column test and sample_submission share with the same values; the targets
are the sample's other columns found in train, or, where the sample's columns are the values of one train
column, that column's classes as probabilities; the task follows from the targets' values (several 0/1 columns:
multilabel; short runs of tag-like words that combine: tags; two classes: binary; text labels or a few integers:
multiclass; other numbers: regression), and whether the sample holds labels or probabilities from its values.
Each option overrides its inference.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from submit.app import out
from submit.kernel.checks import TABLE_SUFFIXES, DataError, find_table, read_any
from submit.kernel.description import (
    FILE,
    Description,
    as_numbers,
    kernel_task,
    label_text,
    missing,
    remember,
    write_description,
)
from submit.kernel.errors import UserError
from submit.kernel.metrics import get_metric
from submit.kernel.plugins import described_competition

MAX_RATIO = 100  # a zip entry expanding more than this many times its compressed size is refused (a zip bomb)
MAX_CLASSES = 20  # integer targets with at most this many values (and 3 or more) are read as classes
DEFAULT_METRIC = {("regression", "values"): "rmse", ("binary", "labels"): "accuracy",
                  ("binary", "probabilities"): "auc", ("multiclass", "labels"): "accuracy",
                  ("multiclass", "probabilities"): "logloss", ("multilabel", "probabilities"): "auc",
                  # Kaggle's tag competitions (Facebook keyword extraction, Stack Exchange transfer) score the
                  # mean over rows of each row's F1
                  ("tags", "tags"): "mean-row-f1"}
USUAL = {"tags": "what Kaggle's tag competitions score: each row's F1, averaged"}
# A text target reads as tags when its values are short runs of tag-like tokens (no sentence punctuation), no
# row repeats a token (a set, not a sentence), and the tags combine into many sets (tags_evidence).
TAG_TOKEN = re.compile(r"[\w+#.\-:/&]+")
MAX_MEAN_TAGS = 6  # tags per row on average at most (Stack Exchange allows 5)


class InitError(UserError, ValueError):
    """Files from which no competition can be inferred: what was found and what to pass."""


# --- the files -----------------------------------------------------------------------------------------------

def check_zip(path: Path, dest: Path) -> None:
    """Every entry checked before any is extracted: no absolute path, nothing outside dest, no entry expanding
    more than MAX_RATIO-fold."""
    with zipfile.ZipFile(path) as archive:
        for entry in archive.infolist():
            name = entry.filename
            if name.startswith(("/", "\\")) or Path(name).is_absolute() or ":" in Path(name).parts[0]:
                raise InitError(f"{path.name}: entry '{name}' has an absolute path; nothing was extracted. Unpack "
                                "the archive yourself and pass the folder")
            if ".." in Path(name.replace("\\", "/")).parts or not (dest / name).resolve().is_relative_to(
                    dest.resolve()):
                raise InitError(f"{path.name}: entry '{name}' escapes the folder; nothing was extracted. Unpack "
                                "the archive yourself and pass the folder")
            if entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
                raise InitError(f"{path.name}: entry '{name}' expands {entry.file_size:,} bytes from "
                                f"{entry.compress_size:,} (more than {MAX_RATIO}-fold: a zip bomb?); nothing was "
                                "extracted. Unpack the archive yourself if you trust it and pass the folder")


def unpack_zips(folder: Path) -> list[Path]:
    """Extract each zip of the folder beside it once every entry of every zip has passed check_zip."""
    archives = sorted(folder.glob("*.zip"))
    for archive in archives:
        try:
            check_zip(archive, folder)
        except zipfile.BadZipFile as err:
            raise InitError(f"{archive.name}: not a readable zip ({err})") from None
    for archive in archives:
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(folder)
    return archives


def _sample_table(folder: Path) -> Path | None:
    found = find_table(folder, "sample_submission")
    if found is not None:
        return found
    named = sorted(p for p in folder.iterdir() if p.suffix.lower() in TABLE_SUFFIXES
                   and "sample" in p.name.lower() and "sub" in p.name.lower())
    return named[0] if named else None


def table_paths(folder: Path) -> dict[str, Path]:
    """train, test and sample_submission in the folder (or the one subfolder a zip unpacked into)."""
    places = [folder, *(p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith("."))]
    for place in places:
        paths = {"train": find_table(place, "train"), "test": find_table(place, "test"),
                 "sample_submission": _sample_table(place)}
        if paths["train"] is not None:
            absent = [role for role, path in paths.items() if path is None]
            if absent:
                raise InitError(f"{place}: no {' and no '.join(absent)} table beside {paths['train'].name}; expected "
                                f"{', '.join(f'{r}.csv (or .parquet)' for r in absent)} from the host")
            return paths
    raise InitError(f"{folder}: no train table; expected the host's train.csv, test.csv and sample_submission.csv "
                    "(or .parquet, or a zip of them)")


def read_tables(folder: Path) -> dict[str, tuple[Path, pd.DataFrame]]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "not a folder", expected="a folder holding the host's files (--data DIR)")
    unpack_zips(folder)
    return {role: (path, read_any(path)) for role, path in table_paths(folder).items()}


# --- inference -----------------------------------------------------------------------------------------------

@dataclass
class Options:
    metric: str | None = None
    id: str | None = None
    targets: list[str] = field(default_factory=list)
    group: str | None = None
    task: str | None = None


@dataclass
class Inference:
    description: Description
    notes: list[tuple[str, str]]  # (what was inferred, why)


def infer_id(tables: dict, chosen: str | None) -> tuple[str, str]:
    (test_path, test), (sample_path, sample) = tables["test"], tables["sample_submission"]
    if chosen is not None:
        for path, frame in ((test_path, test), (sample_path, sample)):
            if chosen not in frame.columns:
                raise InitError(f"--id {chosen}: no such column in {path.name} (its columns: "
                                f"{', '.join(frame.columns)})")
        return chosen, "given (--id)"
    shared = [c for c in sample.columns if c in test.columns
              and set(test[c].astype(str)) == set(sample[c].astype(str))]
    if len(shared) > 1:
        raise InitError(f"two candidate id columns {shared[0]!r} and {shared[1]!r}: both hold the same values in "
                        f"{test_path.name} and {sample_path.name}; pass --id COLUMN")
    if not shared:
        common = [c for c in sample.columns if c in test.columns]
        found = f"the shared column(s) {common} hold different ids" if common else "they share no column"
        raise InitError(f"ids that {test_path.name} and {sample_path.name} do not share: {found}; expected one "
                        "column holding the same ids in both (pass --id COLUMN if it is there)")
    return shared[0], f"the one column {test_path.name} and {sample_path.name} share, with the same values"


def _class_column(train: pd.DataFrame, columns: list[str]) -> str | None:
    """The train column whose values are exactly the sample's columns (per-class probabilities), if one is."""
    wanted = set(columns)
    for name in train.columns:
        values = train[name].astype(str).str.strip()
        if values.nunique() == len(wanted) and set(values.unique()) == wanted:
            return name
    return None


def infer_targets(tables: dict, id_column: str, chosen: list[str]) -> tuple[list[str], str | None, str]:
    """(targets, the class column when the sample's columns are its classes, why)."""
    (train_path, train), (sample_path, sample) = tables["train"], tables["sample_submission"]
    if chosen:
        absent = [t for t in chosen if t not in train.columns]
        if absent:
            raise InitError(f"target {absent[0]!r} not found in {train_path.name}; its columns: "
                            f"{', '.join(train.columns)}")
        return list(chosen), None, "given (--target)"
    columns = [c for c in sample.columns if c != id_column]
    if not columns:
        raise InitError(f"{sample_path.name} holds only the id column {id_column!r}; expected the targets' columns")
    if all(c in train.columns for c in columns):
        return columns, None, f"the columns of {sample_path.name} after the id, all found in {train_path.name}"
    by_class = _class_column(train, columns)
    if by_class is not None:
        return [by_class], by_class, (f"the columns of {sample_path.name} are the values of {train_path.name}'s "
                                      f"'{by_class}': a probability per class")
    absent = [c for c in columns if c not in train.columns]
    raise InitError(f"target {absent[0]!r} of {sample_path.name} not found in {train_path.name} (nor are the "
                    f"sample's columns the values of one train column); pass --target COLUMN")


def _classes(values: pd.Series) -> list[str]:
    labels = label_text(values[~missing(values)])
    numbers = pd.to_numeric(pd.Series(labels.unique()), errors="coerce")
    if numbers.notna().all():
        return [str(v) for v in sorted(labels.unique(), key=float)]
    return sorted(labels.unique())


def _submission_of(sample: pd.Series) -> str:
    """labels when every value of the sample's column is a whole number or text, probabilities otherwise."""
    numbers = as_numbers(sample)
    return "probabilities" if numbers is not None and (numbers != numbers.round()).any() else "labels"


def tags_evidence(values: pd.Series) -> str | None:
    """Why a text column reads as space-separated tags (see TAG_TOKEN), or None when it does not."""
    rows = values[~missing(values)].astype(str).str.split()
    tokens = rows.explode()
    counts = rows.str.len()
    if rows.empty or counts.mean() > MAX_MEAN_TAGS or (counts > 1).sum() < 2:
        return None
    if not tokens.str.fullmatch(TAG_TOKEN).all() or (rows.map(lambda r: len(set(r)) < len(r))).mean() > 0.01:
        return None
    keys = rows.map(lambda r: " ".join(sorted(r)))
    vocabulary, sets = tokens.nunique(), keys.nunique()
    pairs = pd.DataFrame({"tag": tokens.to_numpy(), "set": keys.loc[tokens.index].to_numpy()})
    recombined = pairs["tag"].map(pairs.drop_duplicates().groupby("tag").size()).ge(2).mean()
    # Tags combine: more distinct sets than tags (or than a class column has classes), and most tags seen in
    # several sets; multi-word classes ("very good", "New York") repeat the same few word runs.
    if (sets <= vocabulary and sets <= MAX_CLASSES) or recombined < 0.5:
        return None
    return (f"space-separated tags: {vocabulary:,} distinct tags, {counts.mean():.1f} per row (up to "
            f"{counts.max()}), in {sets:,} distinct combinations")


def _one_target_task(train: pd.Series, sample: pd.Series) -> tuple[str, str, str]:
    """(task, submission, why) of a single target column."""
    numbers, distinct = as_numbers(train), train[~missing(train)].astype(str).nunique()
    if numbers is None:
        tags_why = tags_evidence(train)
        if tags_why is not None:
            return "tags", "tags", tags_why
        words = train.astype(str).str.split().str.len().mean()
        if distinct == 2:
            return "binary", "labels", "two text labels"
        if words < 2 and distinct <= max(MAX_CLASSES, len(train) // 2):
            return "multiclass", "labels", f"{distinct} text labels"
        raise InitError(f"cannot infer the task of target {train.name!r}: {distinct:,} distinct values of "
                        f"{words:.1f} words on average (free text?); pass --task (tags for space-separated "
                        "labels)")
    if set(numbers.unique()) <= {0.0, 1.0}:
        submission = _submission_of(sample)
        return "binary", submission, f"0/1 values; the sample holds {submission}"
    if (numbers == numbers.round()).all() and 3 <= distinct <= MAX_CLASSES and _submission_of(sample) == "labels":
        return "multiclass", "labels", f"{distinct} whole-number classes, the sample holds whole numbers"
    return "regression", "values", f"numbers with {distinct:,} distinct values"


def _several_targets_task(train: pd.DataFrame, targets: list[str], chosen: str | None) -> tuple[str, str, str]:
    if chosen == "tags":
        raise InitError(f"--task tags: expected one target column of space-separated tags, got {targets}; pass "
                        "one --target")
    numbers = [as_numbers(train[t]) for t in targets]
    if all(n is not None and set(n.unique()) <= {0.0, 1.0} for n in numbers):
        return "multilabel", "probabilities", f"{len(targets)} columns of 0/1"
    if all(n is not None for n in numbers):
        return "regression", "values", f"{len(targets)} numeric targets"
    raise InitError(f"cannot infer the task of the targets {targets}: some are not numbers; pass --task and --target")


def infer_task(tables: dict, targets: list[str], class_column: str | None, chosen: str | None
               ) -> tuple[str, str, list[str], str]:
    """(task, submission, classes, why)."""
    train, sample = tables["train"][1], tables["sample_submission"][1]
    if class_column is not None:
        classes = [c for c in sample.columns if c in set(train[class_column].astype(str).str.strip())]
        return ("binary" if len(classes) == 2 else "multiclass"), "probabilities", classes, "one column per class"
    if len(targets) > 1:
        task, submission, why = _several_targets_task(train, targets, chosen)
    else:
        task, submission, why = _one_target_task(train[targets[0]], sample.get(targets[0], train[targets[0]]))
    if chosen is not None and chosen != task:
        task, why = chosen, "given (--task)"
        submission = {"regression": "values", "multilabel": "probabilities", "tags": "tags"}.get(chosen, submission)
        if chosen in ("binary", "multiclass") and submission in ("values", "tags"):
            submission = "labels"
    classes = _classes(train[targets[0]]) if task in ("binary", "multiclass") else []
    return task, submission, classes, why


def _looks_like_dates(present: pd.Series) -> bool:
    head = present.astype(str).head(200)
    if not head.str.contains(r"\d").all() or not head.str.contains(r"[-/:]").mean() > 0.95:
        return False
    parsed = pd.to_datetime(head, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.95)


def infer_role(path: Path, name: str, values: pd.Series) -> tuple[str | None, str]:
    """(numeric | categorical | text | datetime, or None to drop, and why) of one train column."""
    present = values[~missing(values)]
    if present.empty:
        raise InitError(f"column {name!r} of {path.name} is entirely empty; delete the column (or fill it) and run "
                        "submit init again")
    distinct = present.astype(str).nunique()
    unique_per_row = distinct == len(values) and len(values) > 50
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime", "stored as dates"
    numbers = as_numbers(values)
    if numbers is not None:
        if unique_per_row and (numbers == numbers.round()).all() and numbers.is_monotonic_increasing:
            return None, "identifier-like: a distinct, increasing whole number per row"
        return "numeric", f"numbers ({distinct:,} distinct)"
    if _looks_like_dates(present):
        return "datetime", "values parse as dates"
    text = present.astype(str)
    words, length = text.str.split().str.len().mean(), text.str.len().mean()
    if (words >= 3 or length >= 30) and distinct > 0.2 * len(present):
        return "text", f"free text ({words:.1f} words on average)"
    if distinct > 0.9 * len(present) and len(present) > 50:
        return None, f"identifier-like: {distinct:,} distinct short values in {len(present):,} rows"
    return "categorical", f"{distinct:,} distinct short values"


def infer_features(tables: dict, skip: set[str], notes: list[tuple[str, str]]
                   ) -> tuple[dict[str, str], dict[str, str]]:
    (train_path, train), test = tables["train"], tables["test"][1]
    features, dropped = {}, {}
    for name in train.columns:
        if name in skip:
            continue
        if name not in test.columns:
            dropped[name] = "not in test"
            continue
        role, why = infer_role(train_path, name, train[name])
        if role is None:
            dropped[name] = why
        else:
            features[name] = role
        notes.append((f"{name}: {role or 'dropped'}", why))
    return features, dropped


def infer(tables: dict, options: Options, name: str) -> Inference:
    """The description the files and options give, with a note on each inference; InitError when none can."""
    notes: list[tuple[str, str]] = []
    id_column, why = infer_id(tables, options.id)
    notes.append((f"id: {id_column}", why))
    targets, class_column, why = infer_targets(tables, id_column, options.targets)
    notes.append((f"targets: {', '.join(targets)}", why))
    task, submission, classes, why = infer_task(tables, targets, class_column, options.task)
    notes.append((f"task: {task} ({submission})", why))
    metric = options.metric or DEFAULT_METRIC[task, submission]
    spec = get_metric(metric, kernel_task(task))  # unknown or unfit: UnknownMetric, listing those that fit
    if spec.decision == "top_k":
        submission = "ranked"
    usual = USUAL.get(task, f"the usual metric of {task} {submission}")
    notes.append((f"metric: {spec.name} ({'higher' if spec.higher_is_better else 'lower'} is better)",
                  "given (--metric)" if options.metric else usual))
    if options.group is not None and options.group not in tables["train"][1].columns:
        raise InitError(f"--group {options.group}: no such column in {tables['train'][0].name}")
    features, dropped = infer_features(tables, {id_column, *targets, *([options.group] if options.group else [])},
                                       notes)
    sample_columns = [c for c in tables["sample_submission"][1].columns if c != id_column]
    files = {role: path.name for role, (path, _) in tables.items()}
    desc = Description(name=name, task=task, metric=spec.name, higher_is_better=spec.higher_is_better, id=id_column,
                       targets=tuple(targets), submission=submission, submission_columns=tuple(sample_columns),
                       features=features, classes=tuple(classes), dropped=dropped, group=options.group, files=files)
    return Inference(desc.check(FILE), notes)


def write_checked(inference: Inference, folder: Path, tables: dict[str, tuple[Path, pd.DataFrame]]) -> Path:
    """Load the tables through the description as `submit NAME` will, then write it and remember its name:
    nothing is written until the description is valid and the files load under it."""
    desc = inference.description
    competition = described_competition(desc.name, folder, desc)()
    competition.dataset(tables)
    path = write_description(desc, folder)
    remember(desc.name, folder)
    return path


# Kaggle's metric names (its metadata, letters and digits only, lowercased) -> the harness's metrics.
KAGGLE_METRICS = {"categorizationaccuracy": "accuracy", "accuracy": "accuracy", "rmse": "rmse",
                  "rootmeansquarederror": "rmse", "rmsle": "rmsle", "rootmeansquaredlogarithmicerror": "rmsle",
                  "auc": "auc", "areaunderroccurve": "auc", "rocauc": "auc", "logloss": "logloss",
                  "multiclassloss": "logloss", "meancolumnwiselogloss": "logloss", "mae": "mae",
                  "meanabsoluteerror": "mae", "quadraticweightedkappa": "qwk", "qwk": "qwk", "meanfscore": "f1",
                  "f1": "f1", "fscore": "f1", "macrof1": "macro-f1", "microf1": "micro-f1", "r2": "r2",
                  "meancolumnwiseauc": "auc", "meancolumnwiserocauc": "auc", "balancedaccuracy": "balanced-accuracy"}


def kaggle_metric(name: str | None) -> str | None:
    """The harness's name for a metric as Kaggle's metadata names it, or None when it has none."""
    key = re.sub(r"[^a-z0-9@]", "", str(name or "").lower())
    map_at = re.fullmatch(r"(?:map|meanaverageprecision)@?(\d+)", key)
    return f"map@{map_at.group(1)}" if map_at else KAGGLE_METRICS.get(key)


def download(slug: str, folder: Path) -> str | None:
    """The competition's files through the Kaggle client (its archive checked before anything is unpacked), and
    its metric from the competition's metadata where the client gives one that the harness knows."""
    from submit.host_cli import _session

    session = _session()
    files = session.download(slug, folder)
    out.print(f"Downloaded {len(files)} file(s) of {slug} into {folder}")
    named = session.evaluation_metric(slug)
    metric = kaggle_metric(named)
    if named and metric is None:
        out.print(f"  Kaggle's metric '{named}' is not one the harness computes; pass --metric (see kernel/metrics.py)")
    return metric

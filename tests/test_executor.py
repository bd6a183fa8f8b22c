"""The executor seam: a fold returns its predictions and saved head as data, the places it needs travel in its
context (not in environment variables), the driver alone writes runs/, and another executor gives the same
experiment, byte for byte."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from submit.cv.executor import EXECUTORS, ExecutorError, build_executor
from submit.cv.experiment import PLAIN, FoldOutput, read_fold, write_fold
from submit.cv.recipe import RecipeError, load_recipe
from submit.cv.runner import FoldContext, FoldJob, fit_fold
from submit.kernel.parallel import ProcessExecutor
from submit.kernel.plugins import get_competition
from submit.models.registry import HEADS

from submit.pipeline import run_competition


def test_a_fold_in_another_process_returns_data_and_uses_the_cache_its_context_names(tmp_path):
    comp = get_competition("law-tags")
    data = comp.load(comp.sample_dir)
    recipe = load_recipe(comp, "knn")
    context = FoldContext(comp.task, recipe.head, recipe.resolved()["params"], [], [], 1.0, data.train, data.y,
                          data.test, cache_dir=tmp_path / "elsewhere",
                          label_names=data.label_names)
    job = FoldJob(0, np.arange(100, len(data.train)), np.arange(100), tmp_path / "runs" / "exp" / "folds" / "0")
    [output] = ProcessExecutor(1).map(fit_fold, [job], context)
    assert isinstance(output, FoldOutput) and output.fold == 0 and "head.json" in output.model
    assert (tmp_path / "elsewhere" / "embed__usem3.sqlite").is_file()  # the worker's cache: the context's
    assert not job.out_dir.exists()  # a fold writes nothing into runs/: the driver does

    write_fold(output)
    saved = read_fold(job.out_dir, comp.task.prediction)
    np.testing.assert_array_equal(saved.valid_idx, job.valid_idx)
    valid = saved.valid[PLAIN]
    head = HEADS.get("retrieval").load(job.out_dir / "model")
    # Not bit for bit: this process's cache embedded these texts in other batches (BLAS rounds by batch shape).
    np.testing.assert_allclose(head.predict(data.train.iloc[:100]), valid, rtol=1e-6, atol=1e-7)
    assert not list(job.out_dir.glob(".model-*"))


def test_folds_in_worker_processes_give_the_local_experiment_byte_for_byte(tmp_path):
    fast = ["params.encoder=null", "params.n_estimators=30", "folds.n_splits=3"]
    local = run_competition("lmsys", recipe="lgbm", overrides=fast, runs_dir=tmp_path / "local")
    spread = run_competition("lmsys", recipe="lgbm", overrides=fast, runs_dir=tmp_path / "spread", executor="processes")
    assert spread.result.id == local.result.id and spread.result.folds_run == 3
    for name in ("oof.parquet", "test.parquet"):
        assert (spread.result.dir / name).read_bytes() == (local.result.dir / name).read_bytes()


def test_unknown_executors_and_resources_are_refused_with_the_known_ones():
    with pytest.raises(ExecutorError, match="known: " + ", ".join(EXECUTORS)):
        build_executor("slurm")
    with pytest.raises(ExecutorError, match="cpus=0"):
        build_executor("local", cpus=0)
    comp = get_competition("lmsys")
    with pytest.raises(RecipeError, match="executor"):
        load_recipe(comp, "default", ["executor=slurm"])
    # Where folds run is not what they compute: the experiment's identity does not move.
    assert load_recipe(comp, "default", ["executor=processes", "fold_cpus=2"]).digest() == \
        load_recipe(comp, "default").digest()


def children(pid: int) -> dict[int, bytes]:
    """The processes whose parent is `pid`, with their command lines, read from /proc (Linux)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes()
        except OSError:  # ended while being read
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def busy_workers(run: subprocess.Popen, settled_s: float = 2.0) -> list[int]:
    """The run's spawned workers and resource tracker once a worker has lived `settled_s` seconds: past its
    start-up, working on a job (a worker killed with its parent while still starting ends by itself)."""
    first_seen: dict[int, float] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        found = {pid: cmd for pid, cmd in children(run.pid).items() if b"multiprocessing" in cmd}
        now = time.monotonic()
        for pid in found:
            first_seen.setdefault(pid, now)
        settled = [pid for pid, cmd in found.items() if b"spawn_main" in cmd and now - first_seen[pid] > settled_s]
        if settled and any(b"resource_tracker" in cmd for cmd in found.values()):
            return list(found)
        time.sleep(0.05)
    raise AssertionError("the run ended before its worker processes had settled")


def _law_tags_many_times(folder: Path, copies: int) -> Path:
    """The bundled law-tags sample with its training rows repeated under new ids (and distinct titles)."""
    sample = get_competition("law-tags").sample_dir
    folder.mkdir(parents=True)
    train = pd.read_csv(sample / "train.csv")
    many = pd.concat([train.assign(id=train["id"] + k * 100_000, title=train["title"] + f" ({k})")
                      for k in range(copies)], ignore_index=True)
    many.to_csv(folder / "train.csv", index=False)
    for name in ("test.csv", "sample_submission.csv"):
        shutil.copy(sample / name, folder / name)
    return folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_a_processes_run_killed_by_sigkill_leaves_no_worker_behind(tmp_path):
    data = _law_tags_many_times(tmp_path / "data", copies=40)  # folds slow enough to be caught mid-fit
    run = subprocess.Popen([sys.executable, "-m", "submit", "law-tags", "--executor", "processes", "--data", str(data),
                            "--runs", str(tmp_path / "runs")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = busy_workers(run)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # not to leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left

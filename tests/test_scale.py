"""What makes real competition sizes workable: stages a person can follow and a run records, a cache that keeps
finished chunks of an interrupted computation, rows spread over worker processes, a data fingerprint that
does not copy a wide label matrix into text. Speed itself is measured in benchmarks/bench_scale.py."""

from __future__ import annotations

import functools
import json
import os
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from submit.cv.executor import in_own_process
from submit.kernel.competition import Dataset
from submit.kernel.parallel import ProcessExecutor
from submit.models.cache import cached_rows, row_executor, using_cache_dir
from submit.models.progress import Stage, StageTimes, listening, stage

from submit.pipeline import run_competition


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []

    def started(self, s: Stage) -> None:
        self.events.append(("started", s.name, s.done))

    def advanced(self, s: Stage) -> None:
        self.events.append(("advanced", s.name, s.done))

    def finished(self, s: Stage) -> None:
        self.events.append(("finished", s.name, s.done))


def test_stages_reach_listeners_nested_and_timed():
    recorder, times = Recorder(), StageTimes()
    with listening(recorder), listening(times):
        with stage("outer", total=4) as outer:
            with stage("inner", total=2, unit="texts") as inner:
                inner.advance(2)
            outer.advance(4)
        with stage("inner"):
            pass
    assert recorder.events == [("started", "outer", 0), ("started", "inner", 0), ("advanced", "inner", 2),
                               ("finished", "inner", 2), ("advanced", "outer", 4), ("finished", "outer", 4),
                               ("started", "inner", 0), ("finished", "inner", 0)]
    assert list(times.totals()) == ["inner", "outer"] and all(s.seconds >= 0 for s in times.stages)
    with stage("unheard"):  # outside the block nobody listens any more
        pass
    assert len(times.stages) == 3


def _staged_work(n: int, context: str) -> tuple[int, int]:
    """Work for another process: two stages, one nested, and its own pid."""
    with stage(f"{context} outer", total=n) as outer:
        with stage("inner", total=1, unit="texts") as inner:
            inner.advance()
        outer.advance(n)
    return n * 2, os.getpid()


def test_work_in_its_own_process_shows_its_stages_here_and_returns_its_result():
    recorder, times = Recorder(), StageTimes()
    with listening(recorder), listening(times):
        doubled, pid = in_own_process(_staged_work, 3, "member")
    assert doubled == 6 and pid != os.getpid()  # it ran elsewhere, and what it held left with it
    assert recorder.events == [("started", "member outer", 0), ("started", "inner", 0), ("advanced", "inner", 1),
                               ("finished", "inner", 1), ("advanced", "member outer", 3),
                               ("finished", "member outer", 3)]
    assert list(times.totals()) == ["inner", "member outer"] and all(s.seconds >= 0 for s in times.stages)


def test_a_failing_stage_is_still_reported_finished():
    recorder = Recorder()
    with listening(recorder), pytest.raises(ZeroDivisionError), stage("broken"):
        raise ZeroDivisionError
    assert recorder.events[-1] == ("finished", "broken", 0)


def _square_lengths(items: list[str], fail_after: int | None = None) -> np.ndarray:
    if fail_after is not None and int(items[0]) >= fail_after:
        raise KeyboardInterrupt  # a run stopped in the middle
    return np.array([[float(len(item)) ** 2] for item in items])


def test_an_interrupted_computation_keeps_its_finished_chunks(tmp_path):
    items = [str(i) for i in range(1200)]  # three chunks of 500, 500, 200
    with using_cache_dir(tmp_path), pytest.raises(KeyboardInterrupt):
        cached_rows("test/chunks", items, functools.partial(_square_lengths, fail_after=1000))
    seen: list[int] = []

    def compute(missing: list[str]) -> np.ndarray:
        seen.append(len(missing))
        return _square_lengths(missing)

    recorder = Recorder()
    with using_cache_dir(tmp_path), listening(recorder):
        out = cached_rows("test/chunks", items, compute, label="squares")
    assert seen == [200]  # only the chunk that had not finished
    np.testing.assert_array_equal(out[:, 0], [float(len(i)) ** 2 for i in items])
    assert ("advanced", "squares", 200) in recorder.events


def test_rows_spread_over_worker_processes_equal_rows_computed_here(tmp_path):
    items = [f"text {i}" * (i % 7) for i in range(1100)]
    with using_cache_dir(tmp_path / "here"):
        here = cached_rows("test/spread", items, _square_lengths, parallel_min=1000)
    recorder = Recorder()
    with using_cache_dir(tmp_path / "spread"), row_executor(ProcessExecutor(2)), listening(recorder):
        spread = cached_rows("test/spread", items, _square_lengths, label="spread", parallel_min=1000)
    np.testing.assert_array_equal(spread, here)
    assert [e for e in recorder.events if e[0] == "advanced"][-1] == ("advanced", "spread", len(set(items)))


def test_fingerprint_of_a_wide_label_matrix_does_not_copy_it_into_text():
    y = np.zeros((2000, 600), dtype=np.float32)
    y[np.arange(2000), np.arange(2000) % 600] = 1.0
    frame = pd.DataFrame({"id": np.arange(2000).astype(str), "title": "a title"})
    data = Dataset(train=frame, test=frame.iloc[:0], y=y, sample_submission=None, stratify=y)
    tracemalloc.start()
    first = data.fingerprint()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * y.nbytes  # as text, each cell took 128 bytes: 32 times the matrix
    changed = y.copy()
    changed[5, 7] = 1.0
    assert Dataset(train=frame, test=frame.iloc[:0], y=changed, sample_submission=None).fingerprint() != first
    assert Dataset(train=frame, test=frame.iloc[:0], y=y.copy(), sample_submission=None).fingerprint() == first


def test_a_run_records_each_stage_in_scores_and_log(tmp_path):
    outcome = run_competition("law-tags", runs_dir=tmp_path, overrides=["folds.n_splits=2"])
    scores = json.loads((outcome.result.dir / "scores.json").read_text())
    stages = scores["stages"]
    for name in ("load and check", "fingerprint and folds", "features", "fold 1 fit", "fold 2 predict held-out",
                 "fold 2 predict test", "folds", "results"):
        assert stages[name] >= 0, name
    assert [t["fold"] for t in scores["fold_times"]] == [0, 1] and all(t["fit_s"] > 0 for t in scores["fold_times"])
    log = (outcome.result.dir / "log.txt").read_text()
    assert "stage load and check:" in log and "stage fold 2 fit:" in log

    again = run_competition("law-tags", runs_dir=tmp_path, overrides=["folds.n_splits=2"])
    rerun = json.loads((again.result.dir / "scores.json").read_text())
    assert "fold 1 fit" not in rerun["stages"] and rerun["fold_times"] == scores["fold_times"]

"""The executor seam: how independent units of work (folds) are run.

    results = LocalExecutor().map(fit_fold, jobs, context)

`fn(job, context)` must be a module-level function and jobs and context plain data, so that an
executor that ships work to other processes or machines (Ray: put the context in the object store
once, submit one task per job) can replace the local one without the runner changing.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class Executor(Protocol):
    def map(self, fn: Callable[[Job, Any], Result], jobs: Sequence[Job], context: Any) -> Iterator[Result]:
        """Yield fn(job, context) for every job, in any order, as each finishes."""
        ...


class LocalExecutor:
    """One job after the other in this process: the default, and the easiest to debug."""

    def map(self, fn: Callable[[Job, Any], Result], jobs: Sequence[Job], context: Any) -> Iterator[Result]:
        for job in jobs:
            yield fn(job, context)


_worker: tuple[Callable[[Any, Any], Any], Any] | None = None  # (fn, context), set once in each worker


def _start_worker(fn: Callable[[Any, Any], Any], context: Any) -> None:
    global _worker
    _worker = (fn, context)


def _run_in_worker(job: Any) -> Any:
    fn, context = _worker
    return fn(job, context)


class ProcessExecutor:
    """Jobs spread over worker processes on this machine; the context is sent to each worker once.

    Workers are spawned, not forked: a fork of a process holding thread pools (BLAS, LightGBM) can hang.
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn: Callable[[Job, Any], Result], jobs: Sequence[Job], context: Any) -> Iterator[Result]:
        with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_worker, initargs=(fn, context)) as pool:
            for future in as_completed([pool.submit(_run_in_worker, job) for job in jobs]):
                yield future.result()


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": LocalExecutor, "processes": ProcessExecutor}

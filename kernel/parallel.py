"""How independent units of work (folds, chunks of rows) run on this machine: the executor seam.

    executor = LocalExecutor()                              # one job after the other, here
    for result in ProcessExecutor(2).map(fn, jobs, context):  # spread over 2 worker processes
        ...

`fn(job, context)` must be a module-level function and jobs and context plain data (paths included:
nothing travels in environment variables), and `fn` returns its result as data, so an executor that
ships work to other processes or machines (submit.cv.executor builds them by name, Ray included) can
replace the local one without its caller changing. The driver alone writes what comes back.
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

    def rows(self) -> Executor | None:
        """Where large batches of rows (embeddings, text features, curation) go while this executor runs the
        folds (see models.cache.row_executor); None: computed in the calling process."""
        ...


class LocalExecutor:
    """One job after the other in this process: the default, and the easiest to debug. Large batches of rows
    still go to one worker process per core."""

    def map(self, fn: Callable[[Job, Any], Result], jobs: Sequence[Job], context: Any) -> Iterator[Result]:
        for job in jobs:
            yield fn(job, context)

    def rows(self) -> Executor | None:
        return ProcessExecutor() if (os.cpu_count() or 1) > 1 else None


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

    def rows(self) -> Executor | None:
        return self

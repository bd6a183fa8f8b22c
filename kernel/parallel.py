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

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
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
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_POLL_S = 1.0  # how often a worker's watcher thread checks that its parent lives


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _end_with_parent(parent: int, main_thread: bool) -> None:
    """End this worker when the process that started it dies, even by kill -9: a worker's own pipes keep it
    waiting for jobs forever otherwise, and it keeps the resource tracker alive with it. Linux delivers
    SIGKILL at once (PR_SET_PDEATHSIG, set only when the pool was started from the parent's main thread, since
    the signal follows the starting thread); a thread polling the parent's pid covers the rest."""
    if main_thread and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # died before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:  # a dead parent's children are re-parented to init or a subreaper
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _start_worker(fn: Callable[[Any, Any], Any], context: Any, parent: int, main_thread: bool) -> None:
    global _worker
    _end_with_parent(parent, main_thread)
    _worker = (fn, context)


def _run_in_worker(job: Any) -> Any:
    fn, context = _worker
    return fn(job, context)


class ProcessExecutor:
    """Jobs spread over worker processes on this machine; the context is sent to each worker once.

    Workers are spawned, not forked: a fork of a process holding thread pools (BLAS, LightGBM) can hang.
    They end when this process dies, kill -9 included (_end_with_parent); the resource tracker, whose pipe
    only they and this process hold, ends with them.
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn: Callable[[Job, Any], Result], jobs: Sequence[Job], context: Any) -> Iterator[Result]:
        with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_worker,
                                 initargs=(fn, context, os.getpid(), _in_main_thread())) as pool:
            for future in as_completed([pool.submit(_run_in_worker, job) for job in jobs]):
                yield future.result()

    def rows(self) -> Executor | None:
        return self

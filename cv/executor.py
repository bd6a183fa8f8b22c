"""The executors by name: where an experiment's folds run (local, worker processes, or Ray).

    executor = build_executor("processes", cpus=1)        # or "local" (the default), "ray"
    for output in executor.map(fit_fold, jobs, context):   # each fold's result, as data, as it finishes
        ...

The seam itself (Executor, LocalExecutor, ProcessExecutor) is submit.kernel.parallel, so that parts below
cv (the content cache, curation) can send rows to worker processes too.
"""

from __future__ import annotations

import contextvars
import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import Any

from submit.kernel.errors import UserError
from submit.kernel.parallel import Executor, Job, LocalExecutor, ProcessExecutor, Result
from submit.models.progress import Forward, listening, replay


class ExecutorError(UserError, ValueError):
    """An unknown executor, or resources it cannot give."""


def _local(cpus: float, gpus: float) -> Executor:
    return LocalExecutor()


def _processes(cpus: float, gpus: float) -> Executor:
    return ProcessExecutor(max(1, int((os.cpu_count() or 1) // max(cpus, 1))))


def _ray(cpus: float, gpus: float) -> Executor:
    try:  # Ray is an extra: imported only when asked for
        from submit.cv.ray_executor import RayExecutor
    except ModuleNotFoundError as err:
        if err.name != "ray":
            raise
        raise ExecutorError("the ray executor needs Ray: pip install -e '.[ray]'") from None
    timeout = os.environ.get("SUBMIT_RAY_CONNECT_TIMEOUT", "30")
    try:
        seconds = float(timeout)
    except ValueError:
        raise ExecutorError(f"SUBMIT_RAY_CONNECT_TIMEOUT must be a number of seconds, got '{timeout[:200]}'") from None
    # Joined here, before the run makes its experiment folder: a cluster that does not answer leaves nothing.
    return RayExecutor(cpus=cpus, gpus=gpus, connect_timeout=seconds).connect()


# name -> factory(cpus per fold, GPUs per fold)
EXECUTORS: dict[str, Callable[[float, float], Executor]] = {"local": _local, "processes": _processes, "ray": _ray}


def build_executor(name: str, *, cpus: float = 1, gpus: float = 0) -> Executor:
    """The executor called `name`, giving each fold `cpus` CPUs and `gpus` GPUs where it schedules by them."""
    if name not in EXECUTORS:
        raise ExecutorError(f"unknown executor '{name}'; known: {', '.join(EXECUTORS)}")
    if cpus <= 0 or gpus < 0:
        raise ExecutorError(f"each fold needs more than 0 CPUs and at least 0 GPUs, got cpus={cpus}, gpus={gpus}")
    return EXECUTORS[name](cpus, gpus)


def in_own_process(fn: Callable[[Job, Any], Result], job: Job, context: Any) -> Result:
    """fn(job, context) in one spawned worker process, its stages shown here as they go (models.progress):
    what the work holds in memory ends with its process, so work done one piece after another never adds up.
    The worker ends with this process, kill -9 included (kernel.parallel.ProcessExecutor)."""
    queue = multiprocessing.get_context("spawn").Queue()
    relay = threading.Thread(target=contextvars.copy_context().run, args=(replay, queue), daemon=True)
    relay.start()
    try:
        (result,) = ProcessExecutor(1).map(_forwarding, [job], (fn, context, queue))
        return result
    finally:
        queue.put(None)
        relay.join()


def _forwarding(job: Any, bundle: tuple[Callable[[Any, Any], Any], Any, Any]) -> Any:
    fn, context, queue = bundle
    with listening(Forward(queue)):
        return fn(job, context)

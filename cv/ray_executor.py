"""Folds, and large batches of rows, as Ray tasks: on this machine, or on the cluster at RAY_ADDRESS.

    executor = RayExecutor(cpus=1, gpus=0)                  # submit lmsys --executor ray
    for output in executor.map(fit_fold, jobs, context):    # each fold's FoldOutput, as it finishes
        ...

Ray is the engine; nothing here schedules. As AutoGluon's ParallelFoldFittingStrategy does with its
dataset, the context (the training and test frames, targets, settings) goes into the object store once
and every task is handed the same reference; each job is one task asking for the recipe's `fold_cpus`
and `fold_gpus`. A task whose worker process or node dies is run again by Ray (`retries` times); a fold is
deterministic, so the retry returns what the lost attempt would have. Results come back as data, so the
driver alone writes runs/ and the workers need no shared disk. The content cache travels as a path in
the context: on one machine every worker shares it; a worker on another machine fills its own.

Joining: RAY_ADDRESS when it is set (Ray reads it), else a Ray already started in this process, else a
new local one bound to 127.0.0.1 with no dashboard and no usage reporting. Ray is an extra:
`pip install -e '.[ray]'` (cv.executor says so when it is missing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import ray
from submit.kernel.errors import UserError


def _ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray would otherwise report usage over the network
    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=False)
        else:
            ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    return ray


def _call(fn: Callable[[Any, Any], Any], job: Any, context: Any) -> Any:
    return fn(job, context)


class RayExecutor:
    def __init__(self, *, cpus: float = 1, gpus: float = 0, retries: int = 3) -> None:
        self.cpus = cpus  # per task (fold)
        self.gpus = gpus
        self.retries = retries  # runs again of a task whose worker or node died

    def map(self, fn: Callable[[Any, Any], Any], jobs: Sequence[Any], context: Any) -> Iterator[Any]:
        if not jobs:
            return
        ray = _ray()
        shared = ray.put(context)  # once, whatever the number of jobs
        task = ray.remote(_call).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.retries,
                                         retry_exceptions=False)
        pending = [task.remote(fn, job, shared) for job in jobs]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayTaskError as err:
                    if isinstance(err.cause, UserError):  # bad settings or data: the message, not Ray's traceback
                        raise err.cause from None
                    raise
                yield result
        finally:
            for ref in pending:  # stopped early (an error, Ctrl-C): the rest is not wanted
                ray.cancel(ref)

    def rows(self) -> RayExecutor:
        return RayExecutor(retries=self.retries)  # one CPU each, no GPU: rows are embedded on the CPU

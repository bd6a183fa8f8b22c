"""The executor seam: how independent units of work (folds) are run.

    results = LocalExecutor().map(fit_fold, jobs, context)

`fn(job, context)` must be a module-level function and jobs and context plain data, so that an
executor that ships work to other processes or machines (Ray: put the context in the object store
once, submit one task per job) can replace the local one without the runner changing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": LocalExecutor}

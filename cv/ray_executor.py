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
`pip install -e '.[ray]'` (cv.executor says so when it is missing). The executor joins when it is built,
before any experiment folder exists: an address nothing answers at is refused within `connect_timeout`
seconds (SUBMIT_RAY_CONNECT_TIMEOUT, default 30), where Ray itself would retry for minutes.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import ray
from submit.kernel.errors import UserError

CONNECT_TIMEOUT_S = 30.0


class RayConnectError(UserError, ConnectionError):
    """The Ray cluster at RAY_ADDRESS does not answer."""


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of an address Ray would dial; None for the ones it resolves itself ("auto", "local")."""
    bare = address.split("://", 1)[-1]
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit():
        return None
    return host, int(port)


def check_reachable(address: str, timeout: float) -> None:
    """Refuse, within `timeout` seconds, an address where nothing accepts a connection: Ray itself retries
    "Failed to connect to GCS" for minutes before it gives up."""
    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as err:
        raise RayConnectError(
            f"no Ray cluster answers at RAY_ADDRESS={address} ({err.strerror or err}, waited up to {timeout:g} s; "
            "SUBMIT_RAY_CONNECT_TIMEOUT sets the wait). Start one there (`ray start --head --port "
            f"{target[1]}` on that machine), unset RAY_ADDRESS to start a local Ray, or run without "
            "`--executor ray`") from None


def _ray(timeout: float = CONNECT_TIMEOUT_S) -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray would otherwise report usage over the network
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            check_reachable(address, timeout)
            ray.init(log_to_driver=False)
        else:
            ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    return ray


def _call(fn: Callable[[Any, Any], Any], job: Any, context: Any) -> Any:
    return fn(job, context)


class RayExecutor:
    def __init__(self, *, cpus: float = 1, gpus: float = 0, retries: int = 3,
                 connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.cpus = cpus  # per task (fold)
        self.gpus = gpus
        self.retries = retries  # runs again of a task whose worker or node died
        self.connect_timeout = connect_timeout  # seconds to wait for the cluster at RAY_ADDRESS

    def connect(self) -> RayExecutor:
        """Join (or start) Ray now, so that an unreachable cluster is refused before any work starts."""
        _ray(self.connect_timeout)
        return self

    def map(self, fn: Callable[[Any, Any], Any], jobs: Sequence[Any], context: Any) -> Iterator[Any]:
        if not jobs:
            return
        ray = _ray(self.connect_timeout)
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
        # one CPU each, no GPU: rows are embedded on the CPU
        return RayExecutor(retries=self.retries, connect_timeout=self.connect_timeout)

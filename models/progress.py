"""Stages of a run: timed, and shown to whoever listens, without the modules doing the work printing anything.

    from submit.models.progress import stage, listening, StageTimes

    with stage("embedding usem3", total=len(texts), unit="texts") as bar:   # deep in a module
        for chunk in chunks:
            ...
            bar.advance(len(chunk))

    times = StageTimes()
    with listening(times), listening(rich_bars):   # the caller: the CLI draws bars, the runner keeps the times
        run_experiment(...)
    times.totals()                                   # {"embedding usem3": 81.2, "fold 1 fit": 12.0, ...}

Listeners live in a context variable: a stage entered with no listener costs a clock read. Stages nest (an
embedding inside a fold's fit); each is timed on its own, so nested times overlap their parent's. Work in
another process (a worker of a process pool or a Ray task) reports nothing here: its caller times it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


class Listener:
    """Told of every stage entered inside `listening(listener)`; a listener overrides what it needs."""

    def started(self, stage: Stage) -> None:
        pass

    def advanced(self, stage: Stage) -> None:
        pass

    def finished(self, stage: Stage) -> None:
        pass


_LISTENERS: ContextVar[tuple[Listener, ...]] = ContextVar("submit_stage_listeners", default=())


@dataclass
class Stage:
    name: str
    total: int | None = None  # units of work (rows, texts, folds); None when the work cannot be counted
    unit: str = "rows"
    done: int = 0
    start: float = field(default_factory=time.perf_counter)
    seconds: float | None = None  # set when the stage ends

    def advance(self, n: int = 1) -> None:
        self.done += n
        for listener in _LISTENERS.get():
            listener.advanced(self)


@contextmanager
def stage(name: str, total: int | None = None, unit: str = "rows") -> Iterator[Stage]:
    """Time a stage and tell the listeners it started, advanced and ended (also when it fails)."""
    current = Stage(name, total, unit)
    listeners = _LISTENERS.get()
    for listener in listeners:
        listener.started(current)
    try:
        yield current
    finally:
        current.seconds = time.perf_counter() - current.start
        for listener in listeners:
            listener.finished(current)


@contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """Add a listener for the stages entered inside the block (in this thread or task)."""
    token = _LISTENERS.set((*_LISTENERS.get(), listener))
    try:
        yield listener
    finally:
        _LISTENERS.reset(token)


class StageTimes(Listener):
    """A listener that keeps every finished stage, with its time."""

    def __init__(self) -> None:
        self.stages: list[Stage] = []

    def finished(self, stage: Stage) -> None:
        self.stages.append(stage)

    def totals(self) -> dict[str, float]:
        """Seconds per stage name, in the order the stages first ended (repeated names add up)."""
        out: dict[str, float] = {}
        for s in self.stages:
            out[s.name] = round(out.get(s.name, 0.0) + (s.seconds or 0.0), 3)
        return out


class Forward(Listener):
    """In a worker process: every stage event onto a queue, so that the process waiting for the worker can show
    them (replay)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def started(self, stage: Stage) -> None:
        self.queue.put(("started", id(stage), stage.name, stage.total, stage.unit))

    def advanced(self, stage: Stage) -> None:
        self.queue.put(("advanced", id(stage), stage.done, stage.total))

    def finished(self, stage: Stage) -> None:
        self.queue.put(("finished", id(stage), stage.seconds))


def replay(queue: Any) -> None:
    """Tell this context's listeners of the stages a worker forwarded (Forward), until None comes."""
    listeners, stages = _LISTENERS.get(), {}
    for kind, key, *values in iter(queue.get, None):
        if kind == "started":
            stages[key] = current = Stage(*values)
        else:
            current = stages[key]
            if kind == "advanced":
                current.done, current.total = values
            else:
                current.seconds = values[0]
                del stages[key]
        for listener in listeners:
            getattr(listener, kind)(current)

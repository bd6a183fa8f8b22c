"""A content cache for per-row arrays (embeddings, features), keyed by a hash of what they are made from.

    vectors = cached_rows("embed/usem3", texts, lambda missing: model.encode(missing))
    records = cached_json("curation", items, lambda missing: [curate(item) for item in missing])
    with row_executor(ProcessExecutor()):          # the caller's pool for large batches of missing rows
        vectors = cached_rows("embed/usem3", texts, partial(encode, "usem3"), label="embedding", parallel_min=2000)

One SQLite file per namespace under the cache folder: the one the caller chose (`using_cache_dir`, which the
CV runner and each fold set from the run's settings), else runs/cache. Rows (arrays,
or JSON values) are cached one by one, so a fold, an experiment or a later run that meets the same text
reuses its vector. Missing rows are computed in chunks, each stored as soon as it is done: a run killed
half-way keeps the finished chunks. A `label` makes the work a progress stage (models.progress). With
`parallel_min` rows or more missing and a row executor set, the chunks go to that executor's workers, so
`compute` must then be picklable (a module-level function, or a functools.partial of one).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
from submit.models.progress import stage

_CHUNK = 500  # SQLite's default limit on bound parameters is 999; also the rows computed (and stored) at a time
# Where large batches of missing rows go: any object with the executor seam's map(fn, jobs, context)
# (submit.kernel.parallel).
_ROW_EXECUTOR: ContextVar[Any] = ContextVar("submit_row_executor", default=None)


def current_row_executor() -> Any:
    """The row executor set by the caller (row_executor), or None."""
    return _ROW_EXECUTOR.get()


@contextmanager
def row_executor(executor: Any) -> Iterator[None]:
    """Send large batches of missing rows (see `parallel_min`) to `executor` inside the block; None: compute here."""
    token = _ROW_EXECUTOR.set(executor)
    try:
        yield
    finally:
        _ROW_EXECUTOR.reset(token)


_CACHE_DIR: ContextVar[Path | None] = ContextVar("submit_cache_dir", default=None)
DEFAULT_CACHE_DIR = Path("runs/cache")


@contextmanager
def using_cache_dir(path: Path) -> Iterator[Path]:
    """Use the cache folder `path` inside the block (in this thread or task)."""
    token = _CACHE_DIR.set(Path(path))
    try:
        yield Path(path)
    finally:
        _CACHE_DIR.reset(token)


def chosen_cache_dir() -> Path | None:
    """The cache folder the caller chose with using_cache_dir, or None."""
    return _CACHE_DIR.get()


def cache_dir() -> Path:
    return _CACHE_DIR.get() or DEFAULT_CACHE_DIR


def content_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _path(namespace: str) -> Path:
    return cache_dir() / f"{namespace.replace('/', '__')}.sqlite"


def _connect(namespace: str) -> sqlite3.Connection:
    path = _path(namespace)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, dtype TEXT, shape TEXT, data BLOB)")
    return con


def compute_chunk(job: tuple[int, list[str]], compute: Callable[[list[str]], Sequence[Any]]
                  ) -> tuple[int, list[Any]]:
    """Executor job: (chunk index, items) -> (chunk index, their values)."""
    index, items = job
    return index, list(compute(items))


def _computed_chunks(items: list[str], compute: Callable[[list[str]], Sequence[Any]], parallel_min: int | None
                     ) -> Iterator[tuple[list[str], list[Any]]]:
    """(items, values) chunk by chunk, in the order they finish: here, or on the row executor's workers."""
    chunks = [items[start:start + _CHUNK] for start in range(0, len(items), _CHUNK)]
    executor = _ROW_EXECUTOR.get()
    if executor is not None and parallel_min is not None and len(items) >= parallel_min:
        for index, values in executor.map(compute_chunk, list(enumerate(chunks)), compute):
            yield chunks[index], values
        return
    for chunk in chunks:
        yield chunk, list(compute(chunk))


def _cached(namespace: str, *args: Any) -> list[Any]:
    """_cached_once; a damaged cache file is removed (and said, in a warning) and its rows computed again: the
    cache only ever holds what can be remade."""
    try:
        return _cached_once(namespace, *args)
    except sqlite3.DatabaseError as err:
        if not any(sign in str(err) for sign in ("file is not a database", "malformed")):
            raise
        path = _path(namespace)
        warnings.warn(f"the cache file {path} was damaged ({err}); removed, its rows are computed again",
                      stacklevel=2)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return _cached_once(namespace, *args)


def _cached_once(namespace: str, items: Sequence[str], compute: Callable[[list[str]], Sequence[Any]],
                 encode: Callable[[Any], tuple[str, str, bytes]], decode: Callable[[str, str, bytes], Any],
                 label: str | None, unit: str, parallel_min: int | None, counts: dict[str, int] | None
                 ) -> list[Any]:
    """The cached value of each item, computing (and storing, chunk by chunk) only the ones not seen before;
    `counts` (when given) gets the number computed."""
    keys = [content_key(namespace, item) for item in items]
    found: dict[str, Any] = {}
    with _connect(namespace) as con:
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start:start + _CHUNK]
            query = f"SELECT key, dtype, shape, data FROM rows WHERE key IN ({','.join('?' * len(chunk))})"
            for key, dtype, shape, data in con.execute(query, chunk):
                found[key] = decode(dtype, shape, data)
        missing = {item: key for key, item in zip(keys, items, strict=True) if key not in found}
        if counts is not None:
            counts["computed"] = len(missing)
        if missing:
            with stage(label or namespace, total=len(missing), unit=unit) as progress:
                for chunk, values in _computed_chunks(list(missing), compute, parallel_min):
                    rows = [(missing[item], *encode(value)) for item, value in zip(chunk, values, strict=True)]
                    con.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?)", rows)
                    con.commit()  # each finished chunk survives a run killed later
                    found.update((missing[item], value) for item, value in zip(chunk, values, strict=True))
                    progress.advance(len(chunk))
    return [found[key] for key in keys]


def _encode_array(row: np.ndarray) -> tuple[str, str, bytes]:
    return str(row.dtype), ",".join(map(str, row.shape)), row.tobytes()


def _decode_array(dtype: str, shape: str, data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype).reshape(tuple(map(int, shape.split(","))))


def cached_rows(namespace: str, items: Sequence[str], compute: Callable[[list[str]], np.ndarray], *,
                label: str | None = None, unit: str = "rows", parallel_min: int | None = None) -> np.ndarray:
    """Stack the cached row of each item, computing (and storing) only the ones not seen before."""
    rows = _cached(namespace, items, compute, _encode_array, _decode_array, label, unit, parallel_min, None)
    return np.stack(rows) if rows else np.zeros((0, 0))


def cached_json(namespace: str, items: Sequence[str], compute: Callable[[list[str]], Sequence[Any]], *,
                label: str | None = None, unit: str = "rows", parallel_min: int | None = None,
                counts: dict[str, int] | None = None) -> list[Any]:
    """The cached JSON value (dicts, lists, strings, numbers) of each item, computing only the new ones;
    `counts` (when given) gets the number computed ({"computed": n})."""
    return _cached(namespace, items, compute, lambda value: ("json", "", json.dumps(value).encode("utf-8")),
                   lambda dtype, shape, data: json.loads(data), label, unit, parallel_min, counts)

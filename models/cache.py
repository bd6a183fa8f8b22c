"""A content cache for per-row arrays (embeddings, features), keyed by a hash of what they are made from.

    vectors = cached_rows("embed/usem3", texts, lambda missing: model.encode(missing))
    records = cached_json("curation", items, lambda missing: [curate(item) for item in missing])

One SQLite file per namespace under the cache folder (SUBMIT_CACHE_DIR, default runs/cache). Rows (arrays,
or JSON values) are cached one by one, so a fold, an experiment or a later run that meets the same text
reuses its vector.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_CHUNK = 500  # SQLite's default limit on bound parameters is 999


def cache_dir() -> Path:
    return Path(os.environ.get("SUBMIT_CACHE_DIR", "runs/cache"))


def content_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _connect(namespace: str) -> sqlite3.Connection:
    path = cache_dir() / f"{namespace.replace('/', '__')}.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, dtype TEXT, shape TEXT, data BLOB)")
    return con


def _cached(namespace: str, items: Sequence[str], compute: Callable[[list[str]], Sequence[Any]],
            encode: Callable[[Any], tuple[str, str, bytes]], decode: Callable[[str, str, bytes], Any]) -> list[Any]:
    """The cached value of each item, computing (and storing) only the ones not seen before."""
    keys = [content_key(namespace, item) for item in items]
    found: dict[str, Any] = {}
    with _connect(namespace) as con:
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start:start + _CHUNK]
            query = f"SELECT key, dtype, shape, data FROM rows WHERE key IN ({','.join('?' * len(chunk))})"
            for key, dtype, shape, data in con.execute(query, chunk):
                found[key] = decode(dtype, shape, data)
        missing = {key: item for key, item in zip(keys, items, strict=True) if key not in found}
        if missing:
            computed = compute(list(missing.values()))
            con.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?)",
                            [(key, *encode(value)) for key, value in zip(missing, computed, strict=True)])
            found.update(zip(missing, computed, strict=True))
    return [found[key] for key in keys]


def _encode_array(row: np.ndarray) -> tuple[str, str, bytes]:
    return str(row.dtype), ",".join(map(str, row.shape)), row.tobytes()


def _decode_array(dtype: str, shape: str, data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype).reshape(tuple(map(int, shape.split(","))))


def cached_rows(namespace: str, items: Sequence[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Stack the cached row of each item, computing (and storing) only the ones not seen before."""
    rows = _cached(namespace, items, lambda missing: np.asarray(compute(missing)), _encode_array, _decode_array)
    return np.stack(rows) if rows else np.zeros((0, 0))


def cached_json(namespace: str, items: Sequence[str], compute: Callable[[list[str]], Sequence[Any]]) -> list[Any]:
    """The cached JSON value (dicts, lists, strings, numbers) of each item, computing only the new ones."""
    return _cached(namespace, items, compute, lambda value: ("json", "", json.dumps(value).encode("utf-8")),
                   lambda dtype, shape, data: json.loads(data))

"""A content cache for per-row arrays (embeddings, features), keyed by a hash of what they are made from.

    vectors = cached_rows("embed/usem3", texts, lambda missing: model.encode(missing))

One SQLite file per namespace under the cache folder (SUBMIT_CACHE_DIR, default runs/cache). Rows are
cached one by one, so a fold, an experiment or a later run that meets the same text reuses its vector.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

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


def cached_rows(namespace: str, items: Sequence[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Stack the cached row of each item, computing (and storing) only the ones not seen before."""
    keys = [content_key(namespace, item) for item in items]
    found: dict[str, np.ndarray] = {}
    with _connect(namespace) as con:
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start:start + _CHUNK]
            query = f"SELECT key, dtype, shape, data FROM rows WHERE key IN ({','.join('?' * len(chunk))})"
            for key, dtype, shape, data in con.execute(query, chunk):
                found[key] = np.frombuffer(data, dtype=dtype).reshape(tuple(map(int, shape.split(","))))
        missing = {key: item for key, item in zip(keys, items, strict=True) if key not in found}
        if missing:
            computed = np.asarray(compute(list(missing.values())))
            con.executemany(
                "INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?)",
                [(key, str(row.dtype), ",".join(map(str, row.shape)), row.tobytes())
                 for key, row in zip(missing, computed, strict=True)],
            )
            found.update(zip(missing, computed, strict=True))
    return np.stack([found[key] for key in keys]) if keys else np.zeros((0, 0))

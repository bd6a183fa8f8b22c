"""The experiment store: one SQLite file (WAL, one transaction per write) beside the artifacts folders.

    store = Store(runs_dir / "leaderboard.sqlite")
    store.record_experiment(row)                    # insert or replace, keyed by experiment id
    rows = store.leaderboard("wsdm")                # best first, in the metric's own direction

Two runs writing at once lose no row: SQLite serialises the writers and `timeout` makes the second wait.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY,
    competition TEXT NOT NULL,
    kind TEXT NOT NULL,              -- model | ensemble
    recipe TEXT NOT NULL,
    head TEXT NOT NULL,
    metric TEXT NOT NULL,
    higher_is_better INTEGER NOT NULL,
    cv_mean REAL NOT NULL,           -- mean of the per-fold scores
    cv_std REAL NOT NULL,
    cv_no_tta REAL,                  -- the same without test-time views (NULL when the recipe has none)
    fold_scores TEXT NOT NULL,       -- JSON list
    other_scores TEXT NOT NULL,      -- JSON {metric: mean over folds}
    fit_s REAL NOT NULL,
    predict_s REAL NOT NULL,
    n_train INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    folds_id TEXT NOT NULL,
    git_commit TEXT,
    path TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ensemble_members (
    ensemble_id TEXT NOT NULL REFERENCES experiments(id),
    member_id TEXT NOT NULL REFERENCES experiments(id),
    weight REAL,                     -- NULL for methods without weights (rank, stack)
    PRIMARY KEY (ensemble_id, member_id)
);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id TEXT NOT NULL REFERENCES experiments(id),
    competition TEXT NOT NULL,
    path TEXT NOT NULL,
    vectors_model TEXT,              -- the model that made submitted vectors (answer_embedding)
    created TEXT NOT NULL,
    message TEXT,
    public_score REAL,
    private_score REAL,
    host_ref TEXT,                   -- the host's id of an uploaded submission (Kaggle's submission ref)
    status TEXT                      -- the host's status: pending | complete | error | submitted
);
"""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            columns = {row["name"] for row in con.execute("PRAGMA table_info(submissions)")}
            for added in ("host_ref TEXT", "status TEXT"):  # stores made before uploads existed
                if added.split()[0] not in columns:
                    con.execute(f"ALTER TABLE submissions ADD COLUMN {added}")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60)
        con.row_factory = sqlite3.Row
        return con

    def _write(self, sql: str, values: tuple[Any, ...]) -> int:
        with closing(self._connect()) as con, con:  # the inner `with con` is one transaction
            return con.execute(sql, values).lastrowid

    @staticmethod
    def _experiment_insert(row: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        row = {**row, "fold_scores": json.dumps(row["fold_scores"]),
               "other_scores": json.dumps(row.get("other_scores", {})), "created": row.get("created") or now()}
        columns = list(row)
        return (f"INSERT OR REPLACE INTO experiments ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})", tuple(row[c] for c in columns))

    def record_experiment(self, row: dict[str, Any]) -> None:
        self._write(*self._experiment_insert(row))

    def record_submission(self, experiment_id: str, competition: str, path: Path, vectors_model: str | None,
                          message: str | None = None, host_ref: str | None = None, status: str | None = None) -> int:
        return self._write(
            "INSERT INTO submissions (experiment_id, competition, path, vectors_model, created, message, host_ref, "
            "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (experiment_id, competition, str(path), vectors_model, now(), message, host_ref, status))

    def update_submission(self, competition: str, host_ref: str, status: str, public_score: float | None,
                          private_score: float | None) -> int:
        """The host's verdict on an uploaded submission; returns how many rows it matched (0 or 1)."""
        with closing(self._connect()) as con, con:
            return con.execute("UPDATE submissions SET status = ?, public_score = ?, private_score = ? "
                               "WHERE competition = ? AND host_ref = ?",
                               (status, public_score, private_score, competition, host_ref)).rowcount

    def submissions(self, competition: str) -> list[dict[str, Any]]:
        """Uploaded submissions (those with a host ref), oldest first."""
        with closing(self._connect()) as con:
            rows = con.execute("SELECT * FROM submissions WHERE competition = ? AND host_ref IS NOT NULL ORDER BY id",
                               (competition,)).fetchall()
        return [dict(r) for r in rows]

    def experiment(self, experiment_id: str) -> dict[str, Any] | None:
        with closing(self._connect()) as con:
            row = con.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return _decode(row) if row else None

    def leaderboard(self, competition: str) -> list[dict[str, Any]]:
        """Experiments of a competition, best CV first, with their latest submission's public score."""
        with closing(self._connect()) as con:
            rows = con.execute(
                """SELECT e.*, (SELECT s.public_score FROM submissions s WHERE s.experiment_id = e.id
                                AND s.public_score IS NOT NULL ORDER BY s.id DESC LIMIT 1) AS public_score,
                      (SELECT s.private_score FROM submissions s WHERE s.experiment_id = e.id
                                AND s.private_score IS NOT NULL ORDER BY s.id DESC LIMIT 1) AS private_score
                   FROM experiments e WHERE e.competition = ?""", (competition,)).fetchall()
        decoded = [_decode(r) for r in rows]
        # Each row carries its metric's direction; a competition has one primary metric, so one sort fits all.
        return sorted(decoded, key=lambda r: (-r["cv_mean"] if r["higher_is_better"] else r["cv_mean"], r["created"]))

    def rank(self, competition: str, experiment_id: str) -> tuple[int, int]:
        board = self.leaderboard(competition)
        ids = [r["id"] for r in board]
        return ids.index(experiment_id) + 1, len(ids)

    def record_ensemble(self, row: dict[str, Any], weights: dict[str, float | None]) -> None:
        """An ensemble's experiment row and its members' weights (replacing any earlier record), in one
        transaction, so no ensemble row is left without its members."""
        with closing(self._connect()) as con, con:
            con.execute(*self._experiment_insert(row))
            con.execute("DELETE FROM ensemble_members WHERE ensemble_id = ?", (row["id"],))
            con.executemany("INSERT INTO ensemble_members (ensemble_id, member_id, weight) VALUES (?, ?, ?)",
                            [(row["id"], member, weight) for member, weight in weights.items()])

    def ensemble_members(self, ensemble_id: str) -> dict[str, float | None]:
        with closing(self._connect()) as con:
            rows = con.execute("SELECT member_id, weight FROM ensemble_members WHERE ensemble_id = ?",
                               (ensemble_id,)).fetchall()
        return {r["member_id"]: r["weight"] for r in rows}


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["fold_scores"] = json.loads(out["fold_scores"])
    out["other_scores"] = json.loads(out["other_scores"])
    out["higher_is_better"] = bool(out["higher_is_better"])
    return out

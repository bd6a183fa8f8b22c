"""The experiment store: one SQLite file (WAL, one transaction per write) beside the artifacts folders.

    store = Store(runs_dir / "leaderboard.sqlite")
    store.record_experiment(row)                    # insert or replace, keyed by experiment id
    rows = store.leaderboard("wsdm")                # best first, in the metric's own direction
    rows = Store(path, read_only=True).leaderboard("wsdm")   # reading commands: creates nothing

Two runs writing at once lose no row: SQLite serialises the writers and `timeout` makes the second wait.
The store is an index of the experiment folders, which are the source of truth: each experiment's
scores.json holds its leaderboard row and its uploads/ the record of each upload to the host, so a damaged
store is rebuilt from them (`rebuild_store`).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from submit.cv.experiment import ArtifactError, Experiment, Upload, experiments
from submit.kernel.errors import UserError, WriteError, write_error


class StoreError(UserError):
    """The store cannot be read (a damaged file) or written (a full disk, a read-only place)."""


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
    created TEXT NOT NULL,
    learned_from TEXT                -- JSON {"distill": teacher id, "pseudo": id, ...}; NULL: its labels only
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


_DAMAGED = ("file is not a database", "malformed", "no such table")
_DISK = ("database or disk is full", "disk i/o error")
_READ_ONLY = ("readonly database", "unable to open database file")


def _rebuild_advice(path: Path) -> str:
    """How to get a damaged store back: rebuilt from the experiment folders beside it (`--rebuild` reads the
    folders of every competition, so any one of their names does)."""
    names = sorted({p.parent.parent.name for p in path.parent.glob("*/*/scores.json")})
    if not names:
        return f"no experiment folder beside it holds a result: move it aside (mv {path} {path}.old) and run again"
    return (f"the experiment folders beside it hold every result: rebuild it with "
            f"`submit leaderboard {names[0]} --rebuild --runs {path.parent}`")


def damaged(path: Path, problem: str) -> StoreError:
    return StoreError(f"{path} is damaged ({problem}); {_rebuild_advice(path)}")


def _store_error(path: Path, err: sqlite3.DatabaseError) -> UserError | None:
    text = str(err).lower()
    if any(m in text for m in _DAMAGED):
        return damaged(path, str(err))
    if any(m in text for m in _DISK):
        return WriteError(f"cannot write {path}: the disk is full or failing (SQLite: {err}); free some space, "
                          "then run the same command again (finished work is kept)")
    if any(m in text for m in _READ_ONLY):
        return WriteError(f"cannot write {path} (SQLite: {err}); choose a place you can write to (--runs) or "
                          "change its permissions")
    return None


@contextmanager
def writing_store(path: Path) -> Iterator[None]:
    """SQLite's and the OS's errors about the store's file as errors that say what to do; others are bugs."""
    try:
        yield
    except sqlite3.DatabaseError as err:
        mapped = _store_error(path, err)
        if mapped is None or isinstance(err, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
            raise
        raise mapped from None
    except OSError as err:
        mapped = write_error(path, err)
        if mapped is None:
            raise
        raise mapped from None


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


class Store:
    def __init__(self, path: Path, *, read_only: bool = False):
        """read_only: for commands that only read; a missing store reads as empty and nothing is created,
        and a folder the user cannot write to (a read-only runs folder) still reads."""
        self.path = Path(path)
        self.read_only = read_only
        if read_only:
            return
        with writing_store(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._create()
        with self._connection() as con:
            # Made whole by _create: a file without the table (0 bytes, say) lost what it held.
            if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'").fetchone():
                raise damaged(self.path, f"{self.path.stat().st_size:,} bytes and no experiments table")
            con.execute("PRAGMA journal_mode=WAL")  # stores made by earlier versions
            con.executescript(_SCHEMA)
            # Stores made before uploads existed, and before experiments learnt from others.
            for table, added in (("submissions", "host_ref TEXT"), ("submissions", "status TEXT"),
                                 ("experiments", "learned_from TEXT")):
                columns = {row["name"] for row in con.execute(f"PRAGMA table_info({table})")}
                if added.split()[0] not in columns:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {added}")

    def _create(self) -> None:
        """A new store, made whole beside its place and linked in: a file at the store's path always holds the
        schema, so one without it is damaged, never mistaken for a new store that another run is making."""
        staged = self.path.with_name(f".{self.path.name}.{os.getpid()}-{threading.get_ident()}.new")
        staged.unlink(missing_ok=True)  # left by a killed run that had this pid
        with closing(sqlite3.connect(staged)) as con:
            con.execute("PRAGMA journal_mode=WAL")  # kept in the file
            con.executescript(_SCHEMA)
        try:
            os.link(staged, self.path)  # unlike a rename, never replaces a store another run made meanwhile
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a rename, where no store has appeared
            if not self.path.exists():
                os.replace(staged, self.path)
        finally:
            staged.unlink(missing_ok=True)

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            con = sqlite3.connect(self.path, timeout=60)
        elif not self.path.exists():
            con = sqlite3.connect(":memory:")  # nothing recorded yet: an empty store, and no file made
            con.executescript(_SCHEMA)
        elif os.access(self.path.parent, os.W_OK):
            con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=60)
        else:  # nobody can be writing to a folder that cannot be written to
            con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        con.row_factory = sqlite3.Row
        return con

    @contextmanager
    def _connection(self, *, transaction: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection (one transaction when `transaction`), closed after; SQLite's errors about the file
        (damaged, full disk, read-only) become a StoreError that says what to do."""
        with writing_store(self.path), closing(self._connect()) as con:
            if transaction:
                with con:
                    yield con
            else:
                yield con

    def _write(self, sql: str, values: tuple[Any, ...]) -> int:
        with self._connection(transaction=True) as con:
            return con.execute(sql, values).lastrowid

    @staticmethod
    def _experiment_insert(row: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        row = {**row, "fold_scores": json.dumps(row["fold_scores"]),
               "other_scores": json.dumps(row.get("other_scores", {})), "created": row.get("created") or now()}
        if "learned_from" in row:  # JSON, and NULL for an experiment that learnt from its labels only
            row["learned_from"] = json.dumps(row["learned_from"]) if row["learned_from"] else None
        columns = list(row)
        return (f"INSERT OR REPLACE INTO experiments ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})", tuple(row[c] for c in columns))

    def record_experiment(self, row: dict[str, Any]) -> None:
        self._write(*self._experiment_insert(row))

    def record_submission(self, experiment_id: str, competition: str, path: Path, vectors_model: str | None,
                          message: str | None = None, host_ref: str | None = None, status: str | None = None) -> int:
        """A submission file written for an experiment; an upload (one with a host ref or a status) is also kept
        in the experiment's folder beside the store, so that a rebuilt store has it."""
        upload = Upload(experiment_id, competition, str(path), now(), vectors_model, message, host_ref=host_ref,
                        status=status)
        experiment = self._experiment(competition, experiment_id)
        if (host_ref is not None or status is not None) and experiment.dir.is_dir():
            experiment.record_upload(upload)
        return self._write(
            "INSERT INTO submissions (experiment_id, competition, path, vectors_model, created, message, host_ref, "
            "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (experiment_id, competition, str(path), vectors_model, upload.created, message, host_ref, status))

    def _experiment(self, competition: str, experiment_id: str) -> Experiment:
        """An experiment's folder: beside the store (runs/<competition>/<id>)."""
        return Experiment.at(self.path.parent, competition, experiment_id)

    def update_submission(self, competition: str, host_ref: str, status: str, public_score: float | None,
                          private_score: float | None) -> int:
        """The host's verdict on an uploaded submission, in the store and its experiment's folder; returns how
        many rows it matched (0 or 1)."""
        with self._connection(transaction=True) as con:
            rows = con.execute("SELECT experiment_id FROM submissions WHERE competition = ? AND host_ref = ?",
                               (competition, host_ref)).fetchall()
            matched = con.execute("UPDATE submissions SET status = ?, public_score = ?, private_score = ? "
                                  "WHERE competition = ? AND host_ref = ?",
                                  (status, public_score, private_score, competition, host_ref)).rowcount
        for row in rows:
            self._experiment(competition, row["experiment_id"]).update_upload(host_ref, status, public_score,
                                                                              private_score)
        return matched

    def submissions(self, competition: str) -> list[dict[str, Any]]:
        """Uploaded submissions (those with a host ref), oldest first."""
        with self._connection() as con:
            rows = con.execute("SELECT * FROM submissions WHERE competition = ? AND host_ref IS NOT NULL ORDER BY id",
                               (competition,)).fetchall()
        return [dict(r) for r in rows]

    def experiment(self, experiment_id: str) -> dict[str, Any] | None:
        with self._connection() as con:
            row = con.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return _decode(row) if row else None

    def leaderboard(self, competition: str) -> list[dict[str, Any]]:
        """Experiments of a competition, best CV first, with their latest submission's public score."""
        with self._connection() as con:
            rows = con.execute(
                """SELECT e.*, (SELECT s.public_score FROM submissions s WHERE s.experiment_id = e.id
                                AND s.public_score IS NOT NULL ORDER BY s.id DESC LIMIT 1) AS public_score,
                      (SELECT s.private_score FROM submissions s WHERE s.experiment_id = e.id
                                AND s.private_score IS NOT NULL ORDER BY s.id DESC LIMIT 1) AS private_score
                   FROM experiments e WHERE e.competition = ?""", (competition,)).fetchall()
        decoded = [_decode(r) for r in rows]
        # Each row carries its metric's direction; a competition has one primary metric, so one sort fits all.
        # Ties (an ensemble that keeps one member) fall to the older, then by id: the same order after --rebuild.
        return sorted(decoded, key=lambda r: (-r["cv_mean"] if r["higher_is_better"] else r["cv_mean"], r["created"],
                                              r["id"]))

    def rank(self, competition: str, experiment_id: str) -> tuple[int, int]:
        board = self.leaderboard(competition)
        ids = [r["id"] for r in board]
        return ids.index(experiment_id) + 1, len(ids)

    def record_ensemble(self, row: dict[str, Any], weights: dict[str, float | None]) -> None:
        """An ensemble's experiment row and its members' weights (replacing any earlier record), in one
        transaction, so no ensemble row is left without its members."""
        with self._connection(transaction=True) as con:
            con.execute(*self._experiment_insert(row))
            con.execute("DELETE FROM ensemble_members WHERE ensemble_id = ?", (row["id"],))
            con.executemany("INSERT INTO ensemble_members (ensemble_id, member_id, weight) VALUES (?, ?, ?)",
                            [(row["id"], member, weight) for member, weight in weights.items()])

    def ensemble_members(self, ensemble_id: str) -> dict[str, float | None]:
        with self._connection() as con:
            rows = con.execute("SELECT member_id, weight FROM ensemble_members WHERE ensemble_id = ?",
                               (ensemble_id,)).fetchall()
        return {r["member_id"]: r["weight"] for r in rows}


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["fold_scores"] = json.loads(out["fold_scores"])
    out["other_scores"] = json.loads(out["other_scores"])
    out["higher_is_better"] = bool(out["higher_is_better"])
    out["learned_from"] = json.loads(out["learned_from"]) if out.get("learned_from") else {}
    return out


def _old_uploads(path: Path) -> list[Upload]:
    """The uploads an old store holds, or none when it cannot be read (their folders still hold theirs)."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM submissions WHERE host_ref IS NOT NULL OR status IS NOT NULL")
            return [Upload.from_row(dict(r)) for r in rows]
    except sqlite3.DatabaseError:
        return []


def _move_aside(path: Path) -> Path:
    moved = path.with_name(f"{path.name}.{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.old")
    with writing_store(path):
        shutil.move(path, moved)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return moved


def rebuild_store(runs_dir: Path) -> tuple[int, list[str], Path | None]:
    """A new store from the experiment folders (each one's record in scores.json, its uploads in uploads/), the
    old file moved aside; uploads the old file holds and no folder does (recorded before folders kept them)
    are carried over when it can still be read.
    Returns (experiments recorded, folders or files skipped with the reason, where the old file went)."""
    path = Path(runs_dir) / "leaderboard.sqlite"
    old, moved = [], None
    if path.exists():
        old, moved = _old_uploads(path), _move_aside(path)
    store = Store(path)
    recorded, skipped, uploads = 0, [], []
    for experiment in experiments(runs_dir):
        try:
            _record_folder(store, experiment)
        except ArtifactError as err:  # it names the file and what rewrites it
            skipped.append(str(err))
            continue
        recorded += 1
        try:
            uploads += experiment.uploads()
        except ArtifactError as err:
            skipped.append(f"an upload of {experiment.id}: {err}")
    kept = {(u.experiment_id, u.created, u.host_ref) for u in uploads}
    uploads += [u for u in old if (u.experiment_id, u.created, u.host_ref) not in kept]
    _insert_uploads(store, sorted(uploads, key=lambda u: u.created))
    return recorded, skipped, moved


def _record_folder(store: Store, experiment: Experiment) -> None:
    """An experiment's record (and an ensemble's members' weights) from its folder into the store."""
    record = experiment.read_record()
    if record.id != experiment.id:  # a copied folder: its row would move to the copy
        raise ArtifactError(f"{experiment.dir}: the folder is named {experiment.id} but its scores.json is experiment "
                            f"{record.id}; an experiment's folder must bear its id (rename or remove the copy)")
    if record.kind == "ensemble":
        members = experiment.read_summary("members")["members"]
        store.record_ensemble(record.row(), {m["id"]: m["weight"] for m in members})
    else:
        store.record_experiment(record.row())


def _insert_uploads(store: Store, uploads: list[Upload]) -> None:
    if not uploads:
        return
    columns = list(uploads[0].row())
    with store._connection(transaction=True) as con:
        con.executemany(f"INSERT INTO submissions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                        [tuple(u.row()[c] for c in columns) for u in uploads])

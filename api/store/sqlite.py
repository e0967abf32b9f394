"""The SQLite event store: WAL, synchronous=FULL, one writer thread that group-commits.

Concurrent writes are queued to the group-commit writer shared with PostgreSQL
(`api.store.writer.GroupCommitWriter`): one thread runs every waiting write (up to `max_group`) in one
transaction, COMMITs once (fsync), and only then completes the callers' futures: durability of
``synchronous=FULL`` at close to the speed of ``NORMAL``. A failing write alone is refused (SAVEPOINTs
only when one fails); a full disk, a lock held elsewhere or a failing COMMIT fails the group. New
events go in with multi-row INSERTs (one statement per chunk, not per row).
Readers use their own connections (one per thread), so queries never wait for the writer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any

from api.errors import StoreBusy, StoreError, StoreFull, StoreUnavailable
from api.store.base import PARENT_MIN_RES, EventRecord, UpsertResult, to_us
from api.store.common import EVENT_COLS as _EVENT_COLS
from api.store.common import N_EVENT_COLS as _N_EVENT_COLS
from api.store.common import (
    UPDATE_EVENT,
    SharedStoreMethods,
    event_row,
    placeholders,
    plan_upsert,
    row_to_event,
    update_row,
)
from api.store.incidents import IncidentStoreMethods
from api.store.jobs import JobStoreMethods
from api.store.schema import SqlTypes, pending_migrations, schema_migrations
from api.store.traffic_counts import TrafficCountStoreMethods
from api.store.writer import GroupCommitWriter
from twin.h3grid import MAX_RES, check_resolution

#: The shared schema (`api.store.schema.schema_migrations`) in SQLite's types.
_TYPES = SqlTypes()
MIGRATIONS: tuple[tuple[int, str], ...] = schema_migrations(_TYPES)

_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLS}) VALUES ({', '.join('?' * _N_EVENT_COLS)})"
#: Rows per multi-row INSERT: one statement (one sqlite3_step, one release of the GIL) per chunk
#: instead of one per row, so the writer thread does not queue for the GIL after every row while the
#: event loop is busy. Fixed sizes keep the number of distinct statements (all cached) small.
_CHUNKS = (256, 64, 16, 4, 1)


def _insert_sql(n: int) -> str:
    one = f"({', '.join('?' * _N_EVENT_COLS)})"
    return f"INSERT INTO events ({_EVENT_COLS}) VALUES " + ", ".join([one] * n)


_INSERT_N = {n: _insert_sql(n) for n in _CHUNKS}


def _map_error(e: sqlite3.Error) -> StoreError:
    code = getattr(e, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(e).lower()
    if primary == sqlite3.SQLITE_FULL or "disk is full" in text:
        return StoreFull()
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text or "busy" in text:
        return StoreBusy()
    if isinstance(e, sqlite3.OperationalError) and primary == sqlite3.SQLITE_IOERR:
        return StoreUnavailable(f"the event store had an I/O error: {e}")
    return StoreUnavailable(f"the event store failed: {e}")


class SQLiteWriter(GroupCommitWriter[sqlite3.Connection]):
    """The shared group-commit writer on SQLite: ``BEGIN IMMEDIATE`` takes the write lock at once.

    A full disk or a lock held by another process fails the whole group; any other failing write (a
    constraint, a refused value) is refused alone.
    """

    BEGIN = "BEGIN IMMEDIATE"
    DRIVER_ERRORS = (sqlite3.Error, OSError)

    def classify(self, e: Exception) -> tuple[BaseException, bool]:
        if isinstance(e, sqlite3.Error):
            mapped = _map_error(e)
            return mapped, isinstance(mapped, StoreFull | StoreBusy)
        return e, False

    def store_error(self, e: BaseException) -> StoreError:
        if isinstance(e, sqlite3.Error):
            return _map_error(e)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:  # outside SQLite's own I/O
            return StoreFull()
        return StoreUnavailable(f"the event store failed: {e}")

    def in_transaction(self, conn: sqlite3.Connection) -> bool:
        return conn.in_transaction


def make_private(db: Path) -> None:
    """Make the database file readable by its owner only (0600) in a folder only the owner enters.

    The store holds citizens' contacts: no other local user may read it. The folder is created 0700
    (or tightened to 0700 when it is ours and not a shared sticky folder such as /tmp); the database
    file is created 0600 before SQLite opens it, and SQLite gives its ``-wal`` and ``-shm`` files the
    database file's mode. Files of an older install are tightened too.
    """
    folder = db.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = folder.stat()
    if st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX and stat.S_IMODE(st.st_mode) & 0o077:
        folder.chmod(stat.S_IMODE(st.st_mode) & 0o700)
    if not db.exists():
        # Only to create it: closing any descriptor of an open database file would drop every POSIX
        # lock this process holds on it (SQLite's own connections included), so an existing file is
        # never opened here; chmod touches no lock.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(db, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        try:
            if stat.S_IMODE(f.stat().st_mode) & 0o077:
                f.chmod(0o600)
        except FileNotFoundError:
            pass


class SQLiteStore(JobStoreMethods, IncidentStoreMethods, TrafficCountStoreMethods, SharedStoreMethods):
    """The embedded `Store`: one SQLite file in WAL mode with durable group commits.

    Parameters
    ----------
    path
        The database file (its folder is created). Must be on a local filesystem (WAL needs it).
    res
        The H3 resolution events are indexed at (parents down to res 7 are stored too).
    busy_timeout_ms
        How long a write waits for a lock held by another process before failing with `StoreBusy`.
    max_group
        The most writes committed together.
    """

    def __init__(
        self,
        path: Path,
        *,
        res: int = 9,
        busy_timeout_ms: int = 2000,
        max_group: int = 256,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path)
        self.res = check_resolution(res)
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        make_private(self.path)
        self._closed = False
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._cell_rows: dict[tuple[int, int], tuple[int | None, ...]] = {}
        try:
            conn = self._connect()
            self._migrate(conn)
        except sqlite3.Error as e:
            raise _map_error(e) from e
        self.writer = SQLiteWriter(conn, max_group=max_group, name="sqlite-writer")

    _FORMAT_STYLE = False  # sqlite3: ? placeholders
    _GREATEST = "MAX"
    _BOOL_AS_INT = True  # INTEGER columns

    # ------------------------------------------------------------------------------------ dialect
    def _upsert_sql(self, table: str, cols: str, key: str) -> str:
        # SQLite's own insert-or-replace (the row of `key` is deleted and the new one inserted).
        return f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({placeholders(len(cols.split(',')))})"

    def _categories_filter(self, categories: Sequence[str]) -> tuple[str, list[Any]]:
        return f"category IN ({placeholders(len(categories))})", list(categories)

    def _before_filter(self, start_us: int, event_id: str) -> tuple[str, list[Any]]:
        return "(start_us < ? OR (start_us = ? AND event_id < ?))", [start_us, start_us, event_id]

    def _check_cell_res(self, res: int) -> None:
        check_resolution(res)

    # ----------------------------------------------------------------------------------- plumbing
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout_ms / 1000
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreUnavailable(f"{self.path}: WAL mode refused ({mode}); use a local filesystem")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        for version, statements in pending_migrations(conn, MIGRATIONS, _TYPES):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)",
                    (version, to_us(datetime.now().astimezone())),
                )
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        """Return the highest applied migration."""
        row = self._reader().execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable("the event store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise _map_error(e) from e

    def _close_readers(self) -> None:
        with self._readers_lock:
            for c in self._readers:
                c.close()
            self._readers.clear()

    # ------------------------------------------------------------------------------------- events
    def _upsert(self, conn: sqlite3.Connection, events: list[EventRecord]) -> list[UpsertResult]:
        existing: dict[str, EventRecord] = {}
        ids = list({e.event_id for e in events})
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            sql = f"SELECT {_EVENT_COLS} FROM events WHERE event_id IN ({', '.join('?' * len(chunk))})"
            for row in conn.execute(sql, chunk):
                rec = row_to_event(row)
                existing[rec.event_id] = rec
        out, inserts, updates = plan_upsert(existing, events)
        if inserts:
            self._insert(
                conn,
                [event_row(e, self.res, self._cells_row(e), synthetic_as_int=True) for e in inserts.values()],
            )
        if updates:
            conn.executemany(UPDATE_EVENT, [update_row(e, self._cells_row(e)) for e in updates.values()])
        return out

    @staticmethod
    def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows with as few statements as the fixed chunk sizes allow."""
        i = 0
        n = len(rows)
        for size in _CHUNKS:
            sql = _INSERT_N[size]
            while n - i >= size:
                if size == 1:
                    conn.execute(sql, rows[i])
                else:
                    conn.execute(sql, [v for row in rows[i : i + size] for v in row])
                i += size

    def _cells_row(self, e: EventRecord) -> tuple[int | None, ...]:
        # Events share few distinct cells: one tuple per fine cell, built once.
        key = (e.cells.get(self.res, -1), len(e.cells))
        row = self._cell_rows.get(key)
        if row is None:
            row = tuple(e.cells.get(r) for r in range(PARENT_MIN_RES, MAX_RES + 1))
            if key[0] >= 0:
                if len(self._cell_rows) > 100_000:
                    self._cell_rows.clear()
                self._cell_rows[key] = row
        return row

    # ------------------------------------------------------------------------------------ cameras
    def submit_heartbeats(self, beats: Sequence[tuple[str, datetime]]) -> Future[None]:
        """Record cameras' last-seen times (a later time wins)."""
        rows = [(cid, to_us(at)) for cid, at in beats]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO camera_seen (camera_id, last_seen_us) VALUES (?, ?) "
                "ON CONFLICT (camera_id) DO UPDATE SET last_seen_us = "
                "MAX(camera_seen.last_seen_us, excluded.last_seen_us)",
                rows,
            )

        return self._submit(op)

    # ------------------------------------------------------------------------------------ checks
    def check_integrity(self) -> str:
        """Run ``PRAGMA integrity_check``; return "ok" or the problems found."""
        rows = self._read("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

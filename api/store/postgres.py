"""The PostgreSQL event store: one writer connection that group-commits, a small pool of readers.

It implements `api.store.base.Store` with the same semantics as the SQLite backend and passes the same
suite (``tests/api/store_contract.py``):

- **Durability.** The writer sets ``synchronous_commit = on``; a write's future completes only after
  the COMMIT of its group returned, i.e. after the WAL record was flushed (with the server's
  ``fsync = on``). Concurrent writes queue to the group-commit writer shared with SQLite
  (`api.store.writer.GroupCommitWriter`): one transaction and one COMMIT per group, a failing write
  rolled back alone (SAVEPOINTs only when one fails), a failing COMMIT fails the whole group and nothing
  of it remains.
- **Idempotency.** Events are upserted by ``event_id`` with the lifecycle rules of the contract
  (``created``/``updated``/``duplicate``/``stale``/``conflict``); existing rows are read ``FOR UPDATE``
  so another process writing the same ids waits instead of racing.
- **Plain columns.** Positions are ``lon``/``lat`` doubles and H3 cells ``bigint`` columns (res 7 up to
  the store resolution), so PostGIS is not needed. Event ids use the ``"C"`` collation so that keyset
  paging orders ids byte-wise, as SQLite does.
- **Faults.** SQLSTATE classes map to the store errors of `api.errors`: disk full (53100) →
  `StoreFull` (507); lock timeouts, serialisation failures, deadlocks, too many connections →
  `StoreBusy` (503 + Retry-After); a lost connection → `StoreUnavailable`. A broken connection is
  replaced on the next use, so the service recovers without a restart.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq

from api.errors import StoreBusy, StoreError, StoreFull, StoreUnavailable
from api.store.base import PARENT_MIN_RES, EventRecord, UpsertResult, to_us
from api.store.common import EVENT_COLS as _EVENT_COLS
from api.store.common import (
    UPDATE_EVENT,
    SharedStoreMethods,
    event_row,
    plan_upsert,
    row_to_event,
    to_format_style,
    update_row,
)
from api.store.incidents import IncidentStoreMethods
from api.store.jobs import JobStoreMethods
from api.store.schema import SqlTypes, pending_migrations, schema_migrations
from api.store.traffic_counts import TrafficCountStoreMethods
from api.store.writer import GroupCommitWriter
from twin.errors import InputError
from twin.h3grid import MAX_RES, check_resolution

#: Advisory lock key that serialises schema migrations between processes ("LSTWIN" in ASCII).
_MIGRATION_LOCK = 0x4C535457494E

#: The shared schema (`api.store.schema.schema_migrations`) in PostgreSQL's types; ids sort byte-wise
#: (the "C" collation), as SQLite's do, for keyset paging.
#: (big, real, small, boolean, text_id, blob): see `SqlTypes`.
_TYPES = SqlTypes(
    "BIGINT", "DOUBLE PRECISION", "SMALLINT", "BOOLEAN", 'TEXT COLLATE "C"', "BYTEA", lon_lat_index=True
)
MIGRATIONS: tuple[tuple[int, str], ...] = schema_migrations(_TYPES)

_COPY_EVENTS = f"COPY events ({_EVENT_COLS}) FROM STDIN".encode()


_UPDATE_EVENT = to_format_style(UPDATE_EVENT).encode()

#: SQLSTATEs that mean "another writer or the server's load is in the way; retry soon".
_BUSY_STATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available (lock_timeout)
        "57014",  # query_canceled (statement_timeout)
        "53300",  # too_many_connections
        "53400",  # configuration_limit_exceeded
        "23505",  # unique_violation: a concurrent process inserted the same id first; a retry upserts
    }
)


def map_error(e: BaseException) -> StoreError | InputError:
    """Return the store error (or input error) that a psycopg exception stands for.

    Parameters
    ----------
    e
        An exception raised by psycopg.

    Returns
    -------
    StoreError | InputError
        `StoreFull` for a full disk, `StoreBusy` for lock/serialisation/capacity conflicts,
        `InputError` for data the server refuses (e.g. a NUL character), else `StoreUnavailable`.
    """
    state = getattr(getattr(e, "diag", None), "sqlstate", None) or getattr(e, "sqlstate", None)
    text = str(e).lower()
    first = (str(e).splitlines() or [type(e).__name__])[0]
    if state == "53100" or isinstance(e, pg_errors.DiskFull) or "no space left on device" in text:
        return StoreFull()
    if state in _BUSY_STATES:
        return StoreBusy()
    if state == "53200":  # out_of_memory
        return StoreBusy("the event store's server is out of memory")
    if isinstance(e, psycopg.DataError) or (state or "").startswith("22"):
        return InputError("event", f"refused by the database: {first}")
    if isinstance(e, psycopg.OperationalError) or (state or "").startswith(("08", "57")):
        return StoreUnavailable(f"the event store's database connection failed: {first}")
    return StoreUnavailable(f"the event store failed: {first}")


def store_error(e: BaseException) -> StoreError:
    """Return the store error a psycopg exception stands for (data the server refuses included)."""
    mapped = map_error(e)
    return mapped if isinstance(mapped, StoreError) else StoreUnavailable(mapped.message)


class PostgresWriter(GroupCommitWriter[psycopg.Connection[Any]]):
    """The shared group-commit writer on PostgreSQL, which reopens a lost connection.

    Any store error (full, busy, a lost connection) fails the whole group; data the server refuses
    (`InputError`) is refused alone. A group whose connection died before its COMMIT runs once more on
    a fresh connection.
    """

    DRIVER_ERRORS = (psycopg.Error,)

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        reconnect: Callable[[], psycopg.Connection[Any]],
        *,
        max_group: int = 256,
        name: str = "postgres-writer",
    ) -> None:
        self._reconnect = reconnect
        super().__init__(conn, max_group=max_group, name=name)

    def classify(self, e: Exception) -> tuple[BaseException, bool]:
        if isinstance(e, psycopg.Error):
            mapped = map_error(e)
            return mapped, isinstance(mapped, StoreError)
        return e, False

    def store_error(self, e: BaseException) -> StoreError:
        return store_error(e)

    def in_transaction(self, conn: psycopg.Connection[Any]) -> bool:
        return conn.info.transaction_status != pq.TransactionStatus.IDLE

    def lost(self, conn: psycopg.Connection[Any]) -> bool:
        return conn.closed or conn.broken

    def connection(self) -> psycopg.Connection[Any]:
        if self.lost(self.conn):
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = self._reconnect()
        return self.conn


class PostgresStore(JobStoreMethods, IncidentStoreMethods, TrafficCountStoreMethods, SharedStoreMethods):
    """The scale-out `Store`: PostgreSQL with durable group commits from one writer connection.

    Parameters
    ----------
    dsn
        A libpq connection string or URI, e.g. ``postgresql://twin@127.0.0.1:5432/twin``.
    res
        The H3 resolution events are indexed at (parents down to res 7 are stored too).
    busy_timeout_ms
        How long a write waits for a row or table lock held by another session before it fails with
        `StoreBusy` (PostgreSQL ``lock_timeout``).
    max_group
        The most writes committed together.
    readers
        The most reader connections kept open (reads beyond it wait for a free one).
    connect_timeout_s
        How long opening a connection may take.
    """

    def __init__(
        self,
        dsn: str,
        *,
        res: int = 9,
        busy_timeout_ms: int = 2000,
        max_group: int = 256,
        readers: int = 8,
        connect_timeout_s: int = 5,
    ) -> None:
        self.dsn = dsn
        self.res = check_resolution(res)
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.connect_timeout_s = connect_timeout_s
        self._closed = False
        self._pool: queue.LifoQueue[psycopg.Connection[Any] | None] = queue.LifoQueue()
        for _ in range(max(1, readers)):
            self._pool.put(None)  # a slot; connections open lazily
        self._all_readers: list[psycopg.Connection[Any]] = []
        self._readers_lock = threading.Lock()
        try:
            conn = self._connect_writer()
            self._migrate(conn)
        except psycopg.Error as e:
            raise store_error(e) from e
        self.writer = PostgresWriter(conn, self._connect_writer, max_group=max_group, name="postgres-writer")

    _FORMAT_STYLE = True  # psycopg: %s placeholders
    _CLAIM_LOCK = "FOR UPDATE SKIP LOCKED"  # several instances' dispatchers: a row being claimed is skipped
    _GREATEST = "GREATEST"
    _BOOL_AS_INT = False  # BOOLEAN columns

    # ------------------------------------------------------------------------------------ dialect
    def _upsert_sql(self, table: str, cols: str, key: str) -> str:
        names = [c.strip() for c in cols.split(",")]
        sets = ", ".join(f"{c} = excluded.{c}" for c in names if c != key)
        values = ", ".join(["%s"] * len(names))
        return f"INSERT INTO {table} ({cols}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET {sets}"

    def _categories_filter(self, categories: Sequence[str]) -> tuple[str, list[Any]]:
        return "category = ANY(?)", [list(categories)]

    def _before_filter(self, start_us: int, event_id: str) -> tuple[str, list[Any]]:
        return "(start_us, event_id) < (?, ?)", [start_us, event_id]

    def _check_cell_res(self, res: int) -> None:
        check_resolution(res)
        if res < PARENT_MIN_RES:
            raise InputError("res", f"must be at least {PARENT_MIN_RES} to filter events by cell")

    # ----------------------------------------------------------------------------------- plumbing
    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=self.connect_timeout_s,
            application_name="langson-twin",
        )

    def _connect_writer(self) -> psycopg.Connection[Any]:
        conn = self._connect()
        conn.execute("SET synchronous_commit = on")
        conn.execute(f"SET lock_timeout = {self.busy_timeout_ms}")
        conn.execute("SET idle_in_transaction_session_timeout = 60000")
        return conn

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            for version, statements in pending_migrations(conn, MIGRATIONS, _TYPES):
                for statement in statements:
                    conn.execute(statement.encode())
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s)",
                    (version, to_us(datetime.now(UTC))),
                )

    def schema_version(self) -> int:
        """Return the highest applied migration."""
        row = self._read("SELECT MAX(version) FROM schema_migrations")
        return int(row[0][0] or 0)

    @contextlib.contextmanager
    def _reader(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise StoreUnavailable("the event store is closed")
        conn = self._pool.get()
        try:
            if conn is None or conn.closed or conn.broken:
                with contextlib.suppress(Exception):
                    if conn is not None:
                        conn.close()
                conn = self._connect()
                conn.execute("SET default_transaction_read_only = on")
                conn.execute(f"SET lock_timeout = {self.busy_timeout_ms}")
                with self._readers_lock:
                    self._all_readers.append(conn)
            yield conn
        except psycopg.Error:
            # A failed connection is dropped; the slot opens a fresh one next time.
            if conn is not None and (conn.closed or conn.broken):
                conn = None
            raise
        finally:
            self._pool.put(conn)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        # A pooled connection may have died while idle (server restart, terminated backend): reads are
        # idempotent, so one retry on a fresh connection hides it from the caller.
        for attempt in (1, 2):
            broken = False
            try:
                with self._reader() as conn:
                    try:
                        return conn.execute(sql.encode(), params).fetchall()
                    finally:
                        broken = conn.closed or conn.broken
            except psycopg.Error as e:
                if broken and attempt == 1:
                    continue
                raise map_error(e) from e
        raise StoreUnavailable("the event store's database connection failed twice")  # pragma: no cover

    def _close_readers(self) -> None:
        with self._readers_lock:
            for c in self._all_readers:
                with contextlib.suppress(psycopg.Error):
                    c.close()
            self._all_readers.clear()

    # ------------------------------------------------------------------------------------- events
    def _upsert(self, conn: psycopg.Connection[Any], events: list[EventRecord]) -> list[UpsertResult]:
        existing: dict[str, EventRecord] = {}
        ids = sorted({e.event_id for e in events})  # sorted: row locks in one order, no deadlocks
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            sql = f"SELECT {_EVENT_COLS} FROM events WHERE event_id = ANY(%s) ORDER BY event_id FOR UPDATE"
            for row in conn.execute(sql.encode(), (chunk,)):
                rec = row_to_event(row)
                existing[rec.event_id] = rec
        out, inserts, updates = plan_upsert(existing, events)
        with conn.cursor() as cur:
            if inserts:
                # COPY: one statement for the whole write, no per-row parsing or round trips.
                with cur.copy(_COPY_EVENTS) as copy:
                    for e in inserts.values():
                        copy.write_row(event_row(e, self.res, _cells_row(e), synthetic_as_int=False))
            if updates:
                cur.executemany(_UPDATE_EVENT, [update_row(e, _cells_row(e)) for e in updates.values()])
        return out

    # ------------------------------------------------------------------------------------ cameras
    def submit_heartbeats(self, beats: Sequence[tuple[str, datetime]]) -> Future[None]:
        """Record cameras' last-seen times (a later time wins)."""
        rows = [(cid, to_us(at)) for cid, at in beats]

        def op(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    b"INSERT INTO camera_seen (camera_id, last_seen_us) VALUES (%s, %s) "
                    b"ON CONFLICT (camera_id) DO UPDATE SET last_seen_us = "
                    b"GREATEST(camera_seen.last_seen_us, excluded.last_seen_us)",
                    rows,
                )

        return self._submit(op)

    # ------------------------------------------------------------------------------------ checks
    def check_integrity(self) -> str:
        """Check the B-tree indexes with ``amcheck`` when it is available, and row invariants always.

        Returns
        -------
        str
            ``"ok"`` or the problems found, separated by ``"; "``.
        """
        problems: list[str] = []
        rows = self._read(
            "SELECT count(*) FROM events WHERE revision < 1 OR lifecycle NOT IN ('new', 'update', 'end') "
            "OR (end_us IS NOT NULL AND lifecycle <> 'end' AND end_us < start_us)"
        )
        if rows[0][0]:
            problems.append(f"{rows[0][0]} events break the row invariants")
        has_amcheck = self._read("SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'")[0][0]
        if has_amcheck:
            idx = self._read(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam "
                "WHERE a.amname = 'btree' AND t.relname IN "
                "('events', 'camera_seen', 'camera_history', 'alerts', 'reports')"
            )
            for (name,) in idx:
                try:
                    self._read("SELECT bt_index_check(%s::regclass, true)", (name,))
                except StoreError as e:
                    problems.append(f"index {name}: {e.message}")
        return "; ".join(problems) or "ok"


def _cells_row(e: EventRecord) -> list[int | None]:
    return [e.cells.get(r) for r in range(PARENT_MIN_RES, MAX_RES + 1)]

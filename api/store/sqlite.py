"""The SQLite event store: WAL, synchronous=FULL, one writer thread that group-commits.

Concurrent writes are queued to a single writer thread. It takes every write waiting in the queue (up
to `max_group`), runs them inside one transaction, COMMITs once (fsync), and only then completes the
callers' futures: durability of ``synchronous=FULL`` at close to the speed of ``NORMAL``. If a write
fails, the transaction is rolled back and the group runs again with each write in its own SAVEPOINT,
so the failing write alone is refused; a failing COMMIT fails the group. New events go in with
multi-row INSERTs (one statement per chunk, not per row).
Readers use their own connections (one per thread), so queries never wait for the writer.
"""

from __future__ import annotations

import contextlib
import errno
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from api.errors import StoreBusy, StoreError, StoreFull, StoreUnavailable
from api.store.base import (
    LIFECYCLE_RANK,
    PARENT_MIN_RES,
    AlertRecord,
    CameraSnapshot,
    CredentialRecord,
    EventPage,
    EventQuery,
    EventRecord,
    ReportRecord,
    UpsertResult,
    decode_cursor,
    encode_cursor,
    from_us,
    to_us,
)
from twin.h3grid import MAX_RES, check_resolution

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

_RES_COLS = tuple(f"cell_r{r}" for r in range(PARENT_MIN_RES, MAX_RES + 1))

#: Schema migrations, applied in order once each; the applied versions live in `schema_migrations`.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        f"""
        CREATE TABLE events (
            event_id TEXT PRIMARY KEY NOT NULL,
            camera_id TEXT NOT NULL,
            category TEXT NOT NULL,
            severity TEXT NOT NULL,
            confidence REAL NOT NULL,
            lifecycle TEXT NOT NULL,
            start_us INTEGER NOT NULL,
            end_us INTEGER,
            lon REAL NOT NULL,
            lat REAL NOT NULL,
            res INTEGER NOT NULL,
            {", ".join(f"{c} INTEGER" for c in _RES_COLS)},
            ward_code TEXT NOT NULL,
            attributes TEXT NOT NULL,
            synthetic INTEGER NOT NULL,
            received_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL,
            revision INTEGER NOT NULL
        );
        CREATE INDEX events_time ON events (start_us, event_id);
        CREATE INDEX events_category_time ON events (category, start_us);
        CREATE INDEX events_camera_time ON events (camera_id, start_us);
        CREATE INDEX events_ward_time ON events (ward_code, start_us);
        CREATE INDEX events_cell_r9_time ON events (cell_r9, start_us);
        CREATE INDEX events_cell_r7_time ON events (cell_r7, start_us);
        CREATE TABLE camera_seen (
            camera_id TEXT PRIMARY KEY NOT NULL,
            last_seen_us INTEGER NOT NULL
        );
        CREATE TABLE camera_history (
            at_us INTEGER PRIMARY KEY NOT NULL,
            online INTEGER NOT NULL,
            connected INTEGER NOT NULL,
            total INTEGER NOT NULL
        );
        CREATE TABLE alerts (
            alert_id TEXT PRIMARY KEY NOT NULL,
            rule TEXT NOT NULL,
            key TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL,
            cell INTEGER,
            camera_id TEXT,
            lon REAL,
            lat REAL,
            details TEXT NOT NULL,
            acknowledged_by TEXT,
            note TEXT
        );
        CREATE INDEX alerts_status_created ON alerts (status, created_us);
        CREATE TABLE reports (
            request_id TEXT PRIMARY KEY NOT NULL,
            service_code TEXT NOT NULL,
            status TEXT NOT NULL,
            description TEXT NOT NULL,
            lon REAL NOT NULL,
            lat REAL NOT NULL,
            cell INTEGER NOT NULL,
            ward_code TEXT NOT NULL,
            address TEXT,
            requested_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL,
            status_notes TEXT,
            agency_responsible TEXT,
            contact TEXT NOT NULL,
            synthetic INTEGER NOT NULL
        );
        CREATE INDEX reports_requested ON reports (requested_us);
        """,
    ),
    (
        2,
        """
        CREATE TABLE credentials (
            key_id TEXT PRIMARY KEY NOT NULL,
            secret_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            label TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            expires_us INTEGER,
            revoked_us INTEGER,
            last_used_us INTEGER
        );
        CREATE TABLE report_owners (
            request_id TEXT PRIMARY KEY NOT NULL,
            owner TEXT NOT NULL
        );
        CREATE INDEX report_owners_owner ON report_owners (owner);
        """,
    ),
)

_EVENT_COLS = (
    "event_id, camera_id, category, severity, confidence, lifecycle, start_us, end_us, lon, lat, res, "
    + ", ".join(_RES_COLS)
    + ", ward_code, attributes, synthetic, received_us, updated_us, revision"
)
_N_EVENT_COLS = len(_EVENT_COLS.split(","))
_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLS}) VALUES ({', '.join('?' * _N_EVENT_COLS)})"
#: Rows per multi-row INSERT: one statement (one sqlite3_step, one release of the GIL) per chunk
#: instead of one per row, so the writer thread does not queue for the GIL after every row while the
#: event loop is busy. Fixed sizes keep the number of distinct statements (all cached) small.
_CHUNKS = (256, 64, 16, 4, 1)


def _insert_sql(n: int) -> str:
    one = f"({', '.join('?' * _N_EVENT_COLS)})"
    return f"INSERT INTO events ({_EVENT_COLS}) VALUES " + ", ".join([one] * n)


_INSERT_N = {n: _insert_sql(n) for n in _CHUNKS}
_UPDATE_EVENT = (
    "UPDATE events SET severity = ?, confidence = ?, lifecycle = ?, end_us = ?, lon = ?, lat = ?, "
    + ", ".join(f"{c} = ?" for c in _RES_COLS)
    + ", ward_code = ?, attributes = ?, updated_us = ?, revision = ? WHERE event_id = ?"
)


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


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


class SQLiteStore:
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
        self.max_group = max_group
        self.synchronous = synchronous
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._closed = False
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._queue: queue.SimpleQueue[tuple[Op, Future[Any]] | None] = queue.SimpleQueue()
        self.commits = 0
        self.grouped_writes = 0
        self._cell_rows: dict[tuple[int, int], tuple[int | None, ...]] = {}
        try:
            self._writer_conn = self._connect()
            self._migrate(self._writer_conn)
        except sqlite3.Error as e:
            raise _map_error(e) from e
        self._writer = threading.Thread(target=self._writer_loop, name="sqlite-writer", daemon=True)
        self._writer.start()

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
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";"):
                    if statement.strip():
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

    def _submit(self, op: Op) -> Future[Any]:
        fut: Future[Any] = Future()
        if self._closed:
            fut.set_exception(StoreUnavailable("the event store is closed"))
            return fut
        self._queue.put((op, fut))
        return fut

    def _writer_loop(self) -> None:
        conn = self._writer_conn
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            stop = False
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._run_group(conn, group)
            if stop:
                return

    def _run_ops(
        self, conn: sqlite3.Connection, group: list[tuple[Op, Future[Any]]], *, isolate: bool
    ) -> list[tuple[Future[Any], Any, BaseException | None]] | None:
        """Run the group's writes in one transaction and COMMIT; return each write's outcome.

        Without `isolate`, no SAVEPOINT is taken (two statements fewer per write): if a write fails,
        the whole transaction is rolled back and None returned, and the caller runs the group again
        with `isolate`, where a failing write is rolled back to its own savepoint alone. A full disk or
        a lock held elsewhere fails the group (raised).
        """
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        for op, fut in group:
            if isolate:
                conn.execute("SAVEPOINT op")
            try:
                value = op(conn)
            except Exception as e:  # the caller gets the error through its future
                mapped: BaseException = e
                if isinstance(e, sqlite3.Error):
                    mapped = _map_error(e)
                    if isinstance(mapped, StoreFull | StoreBusy):
                        raise
                if not isolate:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    return None
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                results.append((fut, None, mapped))
                continue
            if isolate:
                conn.execute("RELEASE op")
            results.append((fut, value, None))
        conn.execute("COMMIT")
        return results

    def _run_group(self, conn: sqlite3.Connection, group: list[tuple[Op, Future[Any]]]) -> None:
        try:
            results = self._run_ops(conn, group, isolate=False)
            if results is None:
                results = self._run_ops(conn, group, isolate=True)
                assert results is not None
        except sqlite3.Error as e:
            # After SQLITE_FULL SQLite may already have rolled back: ROLLBACK only if still open.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            err = _map_error(e)
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(err)
            return
        except OSError as e:  # pragma: no cover  (ENOSPC outside SQLite's own I/O)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            err2: StoreError = StoreFull() if e.errno == errno.ENOSPC else StoreUnavailable(str(e))
            for _, fut in group:
                fut.set_exception(err2)
            return
        self.commits += 1
        self.grouped_writes += len(group)
        for fut, value, exc in results:
            if fut.cancelled():  # the caller gave up (a cancelled request): the committed write stands
                continue
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)

    def close(self) -> None:
        """Finish pending writes, stop the writer and close every connection."""
        if self._closed:
            return
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._closed = True
        self._writer_conn.close()
        with self._readers_lock:
            for c in self._readers:
                c.close()
            self._readers.clear()

    # ------------------------------------------------------------------------------------- events
    def submit_events(self, events: Sequence[EventRecord]) -> Future[list[UpsertResult]]:
        """Upsert events by id; the future completes after the group's COMMIT."""
        batch = list(events)
        return self._submit(lambda conn: self._upsert(conn, batch))

    def _upsert(self, conn: sqlite3.Connection, events: list[EventRecord]) -> list[UpsertResult]:
        existing: dict[str, EventRecord] = {}
        ids = list({e.event_id for e in events})
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            sql = f"SELECT {_EVENT_COLS} FROM events WHERE event_id IN ({', '.join('?' * len(chunk))})"
            for row in conn.execute(sql, chunk):
                rec = self._row_to_event(row)
                existing[rec.event_id] = rec
        inserts: dict[str, EventRecord] = {}
        updates: dict[str, EventRecord] = {}
        out: list[UpsertResult] = []
        for ev in events:
            old = existing.get(ev.event_id)
            if old is None:
                new = ev if ev.revision == 1 else replace(ev, revision=1)
                existing[ev.event_id] = new
                inserts[ev.event_id] = new
                out.append(UpsertResult(ev.event_id, "created", new))
                continue
            if old.camera_id != ev.camera_id or old.category != ev.category:
                reason = f"event_id already used for camera {old.camera_id} / category {old.category}"
                out.append(UpsertResult(ev.event_id, "conflict", old, reason))
                continue
            if LIFECYCLE_RANK[ev.lifecycle] < LIFECYCLE_RANK[old.lifecycle]:
                out.append(UpsertResult(ev.event_id, "stale", old, f"already {old.lifecycle}"))
                continue
            if old.same_content(ev):
                out.append(UpsertResult(ev.event_id, "duplicate", old))
                continue
            new = replace(
                ev,
                start_time=min(old.start_time, ev.start_time),
                received_at=old.received_at,
                revision=old.revision + 1,
            )
            existing[ev.event_id] = new
            if ev.event_id in inserts:
                inserts[ev.event_id] = new
            else:
                updates[ev.event_id] = new
            out.append(UpsertResult(ev.event_id, "updated", new))
        if inserts:
            self._insert(conn, [self._event_row(e) for e in inserts.values()])
        if updates:
            conn.executemany(_UPDATE_EVENT, [self._update_row(e) for e in updates.values()])
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

    def _event_row(self, e: EventRecord) -> tuple[Any, ...]:
        return (
            e.event_id,
            e.camera_id,
            e.category,
            e.severity,
            e.confidence,
            e.lifecycle,
            to_us(e.start_time),
            to_us(e.end_time) if e.end_time else None,
            e.lon,
            e.lat,
            self.res,
            *self._cells_row(e),
            e.ward_code,
            _dumps(e.attributes),
            int(e.synthetic),
            to_us(e.received_at),
            to_us(e.updated_at),
            e.revision,
        )

    def _update_row(self, e: EventRecord) -> tuple[Any, ...]:
        return (
            e.severity,
            e.confidence,
            e.lifecycle,
            to_us(e.end_time) if e.end_time else None,
            e.lon,
            e.lat,
            *self._cells_row(e),
            e.ward_code,
            _dumps(e.attributes),
            to_us(e.updated_at),
            e.revision,
            e.event_id,
        )

    @staticmethod
    def _row_to_event(row: Sequence[Any]) -> EventRecord:
        n = len(_RES_COLS)
        cells = {PARENT_MIN_RES + i: int(c) for i, c in enumerate(row[11 : 11 + n]) if c is not None}
        rest = row[11 + n :]
        return EventRecord(
            event_id=row[0],
            camera_id=row[1],
            category=row[2],
            severity=row[3],
            confidence=float(row[4]),
            lifecycle=row[5],
            start_time=from_us(row[6]),
            end_time=from_us(row[7]) if row[7] is not None else None,
            lon=float(row[8]),
            lat=float(row[9]),
            cells=cells,
            ward_code=rest[0],
            attributes=json.loads(rest[1]),
            synthetic=bool(rest[2]),
            received_at=from_us(rest[3]),
            updated_at=from_us(rest[4]),
            revision=int(rest[5]),
        )

    def get_event(self, event_id: str) -> EventRecord | None:
        """Return one event by id, or None."""
        rows = self._read(f"SELECT {_EVENT_COLS} FROM events WHERE event_id = ?", (event_id,))
        return self._row_to_event(rows[0]) if rows else None

    def query_events(self, query: EventQuery) -> EventPage:
        """Return one page of events, newest first, keyset-paged on (start time, event id)."""
        where: list[str] = []
        params: list[Any] = []
        if query.bbox is not None:
            x0, y0, x1, y1 = query.bbox
            where.append("lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?")
            params += [x0, x1, y0, y1]
        if query.since is not None:
            where.append("start_us >= ?")
            params.append(to_us(query.since))
        if query.until is not None:
            where.append("start_us < ?")
            params.append(to_us(query.until))
        if query.categories:
            where.append(f"category IN ({', '.join('?' * len(query.categories))})")
            params += list(query.categories)
        if query.camera_id is not None:
            where.append("camera_id = ?")
            params.append(query.camera_id)
        if query.ward_code is not None:
            where.append("ward_code = ?")
            params.append(query.ward_code)
        if query.cell is not None:
            res, cell = query.cell
            check_resolution(res)
            where.append(f"cell_r{res} = ?")
            params.append(cell)
        if query.cursor:
            start_us, event_id = decode_cursor(query.cursor)
            where.append("(start_us < ? OR (start_us = ? AND event_id < ?))")
            params += [start_us, start_us, event_id]
        sql = f"SELECT {_EVENT_COLS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_us DESC, event_id DESC LIMIT ?"
        limit = max(1, int(query.limit))
        params.append(limit + 1)
        rows = self._read(sql, params)
        events = [self._row_to_event(r) for r in rows[:limit]]
        nxt = None
        if len(rows) > limit and events:
            nxt = encode_cursor(events[-1].start_time, events[-1].event_id)
        return EventPage(events, nxt)

    def events_since(self, since: datetime) -> list[EventRecord]:
        """Return events that started at or after `since`, oldest first."""
        rows = self._read(
            f"SELECT {_EVENT_COLS} FROM events WHERE start_us >= ? ORDER BY start_us, event_id",
            (to_us(since),),
        )
        return [self._row_to_event(r) for r in rows]

    def live_rows_since(self, since: datetime) -> list[tuple[datetime, int, str, bool]]:
        """Return (start time, cell at the store resolution, category, synthetic) of the events that
        started at or after `since`, oldest first: what the live counts are rebuilt from at start-up
        (four columns, not whole records: a restart with 150k recent events reads them in ~0.2 s).
        """
        rows = self._read(
            f"SELECT start_us, cell_r{self.res}, category, synthetic FROM events WHERE start_us >= ? "
            "ORDER BY start_us, event_id",
            (to_us(since),),
        )
        return [(from_us(r[0]), int(r[1]), r[2], bool(r[3])) for r in rows]

    def count_events(self) -> int:
        """Return the number of stored events."""
        return int(self._read("SELECT COUNT(*) FROM events")[0][0])

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

    def camera_last_seen(self) -> dict[str, datetime]:
        """Return the last-seen time of every camera seen so far."""
        return {r[0]: from_us(r[1]) for r in self._read("SELECT camera_id, last_seen_us FROM camera_seen")}

    def submit_camera_snapshot(self, snapshot: CameraSnapshot) -> Future[None]:
        """Append one fleet status snapshot (same instant: replaced)."""
        row = (to_us(snapshot.at), snapshot.online, snapshot.connected, snapshot.total)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO camera_history VALUES (?, ?, ?, ?)", row)

        return self._submit(op)

    def camera_history(self, since: datetime, limit: int = 1440) -> list[CameraSnapshot]:
        """Return the latest `limit` snapshots since `since`, oldest first."""
        rows = self._read(
            "SELECT at_us, online, connected, total FROM camera_history WHERE at_us >= ? "
            "ORDER BY at_us DESC LIMIT ?",
            (to_us(since), limit),
        )
        return [CameraSnapshot(from_us(r[0]), r[1], r[2], r[3]) for r in reversed(rows)]

    # ------------------------------------------------------------------------------------- alerts
    _ALERT_COLS = (
        "alert_id, rule, key, status, severity, title, created_us, updated_us, cell, camera_id, "
        "lon, lat, details, acknowledged_by, note"
    )

    def submit_alert(self, alert: AlertRecord) -> Future[AlertRecord]:
        """Insert or replace an alert by id."""
        row = (
            alert.alert_id,
            alert.rule,
            alert.key,
            alert.status,
            alert.severity,
            alert.title,
            to_us(alert.created_at),
            to_us(alert.updated_at),
            alert.cell,
            alert.camera_id,
            alert.lon,
            alert.lat,
            _dumps(alert.details),
            alert.acknowledged_by,
            alert.note,
        )

        def op(conn: sqlite3.Connection) -> AlertRecord:
            conn.execute(
                f"INSERT OR REPLACE INTO alerts ({self._ALERT_COLS}) VALUES ({', '.join('?' * 15)})", row
            )
            return alert

        return self._submit(op)

    @staticmethod
    def _row_to_alert(r: Sequence[Any]) -> AlertRecord:
        return AlertRecord(
            alert_id=r[0],
            rule=r[1],
            key=r[2],
            status=r[3],
            severity=r[4],
            title=r[5],
            created_at=from_us(r[6]),
            updated_at=from_us(r[7]),
            cell=r[8],
            camera_id=r[9],
            lon=r[10],
            lat=r[11],
            details=json.loads(r[12]),
            acknowledged_by=r[13],
            note=r[14],
        )

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        """Return one alert, or None."""
        rows = self._read(f"SELECT {self._ALERT_COLS} FROM alerts WHERE alert_id = ?", (alert_id,))
        return self._row_to_alert(rows[0]) if rows else None

    def list_alerts(self, status: str | None = None, limit: int = 200) -> list[AlertRecord]:
        """Return alerts newest first, optionally of one status."""
        sql = f"SELECT {self._ALERT_COLS} FROM alerts"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY created_us DESC, alert_id DESC LIMIT ?"
        params.append(limit)
        return [self._row_to_alert(r) for r in self._read(sql, params)]

    # ------------------------------------------------------------------------------------ reports
    _REPORT_COLS = (
        "request_id, service_code, status, description, lon, lat, cell, ward_code, address, "
        "requested_us, updated_us, status_notes, agency_responsible, contact, synthetic"
    )

    def submit_report(self, report: ReportRecord) -> Future[ReportRecord]:
        """Insert or replace a citizen report by id."""
        row = (
            report.request_id,
            report.service_code,
            report.status,
            report.description,
            report.lon,
            report.lat,
            report.cell,
            report.ward_code,
            report.address,
            to_us(report.requested_at),
            to_us(report.updated_at),
            report.status_notes,
            report.agency_responsible,
            _dumps(report.contact),
            int(report.synthetic),
        )

        def op(conn: sqlite3.Connection) -> ReportRecord:
            conn.execute(
                f"INSERT OR REPLACE INTO reports ({self._REPORT_COLS}) VALUES ({', '.join('?' * 15)})",
                row,
            )
            return report

        return self._submit(op)

    @staticmethod
    def _row_to_report(r: Sequence[Any]) -> ReportRecord:
        return ReportRecord(
            request_id=r[0],
            service_code=r[1],
            status=r[2],
            description=r[3],
            lon=r[4],
            lat=r[5],
            cell=r[6],
            ward_code=r[7],
            address=r[8],
            requested_at=from_us(r[9]),
            updated_at=from_us(r[10]),
            status_notes=r[11],
            agency_responsible=r[12],
            contact=json.loads(r[13]),
            synthetic=bool(r[14]),
        )

    def get_report(self, request_id: str) -> ReportRecord | None:
        """Return one citizen report, or None."""
        rows = self._read(f"SELECT {self._REPORT_COLS} FROM reports WHERE request_id = ?", (request_id,))
        return self._row_to_report(rows[0]) if rows else None

    def list_reports(
        self,
        *,
        service_code: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[ReportRecord]:
        """Return citizen reports newest first, filtered."""
        where: list[str] = []
        params: list[Any] = []
        if service_code:
            where.append("service_code = ?")
            params.append(service_code)
        if status:
            where.append("status = ?")
            params.append(status)
        if since:
            where.append("requested_us >= ?")
            params.append(to_us(since))
        if until:
            where.append("requested_us < ?")
            params.append(to_us(until))
        sql = f"SELECT {self._REPORT_COLS} FROM reports"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY requested_us DESC, request_id DESC LIMIT ?"
        params.append(limit)
        return [self._row_to_report(r) for r in self._read(sql, params)]

    # ------------------------------------------------------------------------------------ checks
    def check_integrity(self) -> str:
        """Run ``PRAGMA integrity_check``; return "ok" or the problems found."""
        rows = self._read("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    def stats(self) -> dict[str, int]:
        """Return writer counters: commits and writes committed (their ratio is the group size)."""
        return {"commits": self.commits, "writes": self.grouped_writes}

    # -------------------------------------------------------------------------------- credentials
    _CRED_COLS = "key_id, secret_hash, role, label, created_us, expires_us, revoked_us, last_used_us"

    def submit_credential(self, credential: CredentialRecord) -> Future[CredentialRecord]:
        """Insert a new API key record (only the hash of its secret)."""
        c = credential
        row = (
            c.key_id,
            c.secret_hash,
            c.role,
            c.label,
            to_us(c.created_at),
            to_us(c.expires_at) if c.expires_at else None,
            to_us(c.revoked_at) if c.revoked_at else None,
            to_us(c.last_used_at) if c.last_used_at else None,
        )

        def op(conn: sqlite3.Connection) -> CredentialRecord:
            conn.execute(f"INSERT INTO credentials ({self._CRED_COLS}) VALUES ({', '.join('?' * 8)})", row)
            return credential

        return self._submit(op)

    @staticmethod
    def _row_to_credential(r: Sequence[Any]) -> CredentialRecord:
        return CredentialRecord(
            key_id=r[0],
            secret_hash=r[1],
            role=r[2],
            label=r[3],
            created_at=from_us(r[4]),
            expires_at=from_us(r[5]) if r[5] is not None else None,
            revoked_at=from_us(r[6]) if r[6] is not None else None,
            last_used_at=from_us(r[7]) if r[7] is not None else None,
        )

    def get_credential(self, key_id: str) -> CredentialRecord | None:
        """Return one API key record, or None."""
        rows = self._read(f"SELECT {self._CRED_COLS} FROM credentials WHERE key_id = ?", (key_id,))
        return self._row_to_credential(rows[0]) if rows else None

    def list_credentials(self) -> list[CredentialRecord]:
        """Return every API key record, newest first."""
        rows = self._read(f"SELECT {self._CRED_COLS} FROM credentials ORDER BY created_us DESC, key_id")
        return [self._row_to_credential(r) for r in rows]

    def revoke_credential(self, key_id: str, at: datetime) -> Future[bool]:
        """Mark a key revoked (an earlier revocation time stays); return whether it exists."""
        at_us = to_us(at)

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE credentials SET revoked_us = COALESCE(revoked_us, ?) WHERE key_id = ?",
                (at_us, key_id),
            )
            return cur.rowcount > 0

        return self._submit(op)

    def touch_credential(self, key_id: str, at: datetime) -> Future[None]:
        """Record a key's use (a later time wins)."""
        at_us = to_us(at)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE credentials SET last_used_us = MAX(COALESCE(last_used_us, 0), ?) WHERE key_id = ?",
                (at_us, key_id),
            )

        return self._submit(op)

    def submit_report_owner(self, request_id: str, owner: str) -> Future[None]:
        """Record which key submitted a report."""

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO report_owners VALUES (?, ?)", (request_id, owner))

        return self._submit(op)

    def report_owner(self, request_id: str) -> str | None:
        """Return the key id that submitted a report, or None."""
        rows = self._read("SELECT owner FROM report_owners WHERE request_id = ?", (request_id,))
        return str(rows[0][0]) if rows else None

    def list_reports_of(self, owner: str, limit: int = 200) -> list[ReportRecord]:
        """Return the reports a key submitted, newest first."""
        rows = self._read(
            f"SELECT {self._REPORT_COLS} FROM reports JOIN report_owners USING (request_id) "
            "WHERE owner = ? ORDER BY requested_us DESC, request_id DESC LIMIT ?",
            (owner, limit),
        )
        return [self._row_to_report(r) for r in rows]

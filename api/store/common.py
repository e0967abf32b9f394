"""What the SQLite and PostgreSQL stores share: column lists, row ↔ record converters, the upsert rules
and `SharedStoreMethods`, the methods whose SQL differs between the dialects only by the placeholder.

SQL here is written with ``?`` placeholders; `SharedStoreMethods._sql` turns it into the backend's
dialect (``%s`` for psycopg). Where the dialects really differ (the insert-or-replace of a table, the
two-argument maximum, the category and keyset-cursor filters of `query_events`), each backend names its
own form in a class attribute or hook; performance-critical paths (event insert/update SQL, COPY) stay
in the backends. Every write goes through the group-commit writer both share (`api.store.writer`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import orjson

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
from api.store.writer import GroupCommitWriter
from twin.h3grid import MAX_RES, descendant_range

RES_COLS = tuple(f"cell_r{r}" for r in range(PARENT_MIN_RES, MAX_RES + 1))
#: An event's finest stored cell (the one at its own ``res``; the finer columns are NULL): the one cell
#: index (``events_cell_time``, migration 2002) is on it, and a coarser cell is found by range scans
#: over its descendants (`twin.h3grid.descendant_range`) instead of one index per resolution.
FINE_CELL = "coalesce(" + ", ".join(reversed(RES_COLS)) + ")"
EVENT_COLS = (
    "event_id, camera_id, category, severity, confidence, lifecycle, start_us, end_us, lon, lat, res, "
    + ", ".join(RES_COLS)
    + ", ward_code, attributes, synthetic, received_us, updated_us, revision, seq, observed_us, sent_by"
)
N_EVENT_COLS = len(EVENT_COLS.split(","))
#: The UPDATE of a changed event (values: `update_row`).
UPDATE_EVENT = (
    "UPDATE events SET severity = ?, confidence = ?, lifecycle = ?, end_us = ?, lon = ?, lat = ?, "
    + ", ".join(f"{c} = ?" for c in RES_COLS)
    + ", ward_code = ?, attributes = ?, updated_us = ?, revision = ?, seq = ?, observed_us = ? "
    "WHERE event_id = ?"
)
CAMERA_HISTORY_COLS = "at_us, online, connected, total"
REPORT_OWNER_COLS = "request_id, owner"


def dumps(obj: Any) -> str:
    """Return the canonical JSON text of a details/attributes/contact mapping (sorted keys)."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def placeholders(n: int) -> str:
    """Return ``?, ?, …`` for `n` values (turned into the dialect by `SharedStoreMethods._sql`)."""
    return ", ".join("?" * n)


def newest_first(cols: str, table: str, key: str, status: str | None, limit: int) -> tuple[str, list[Any]]:
    """Return the SELECT (``?`` placeholders) and values of the newest `limit` rows of `table` (by
    ``created_us``, then `key`), only those of `status` when one is given."""
    sql = f"SELECT {cols} FROM {table}"
    params: list[Any] = []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    sql += f" ORDER BY created_us DESC, {key} DESC LIMIT ?"
    params.append(limit)
    return sql, params


@lru_cache(maxsize=1024)
def cell_filter(res: int, cell: int) -> tuple[str, list[Any]]:
    """Return the WHERE clause (on `FINE_CELL`, so on its index) and values of the events inside `cell`
    at `res`: one range of descendants per resolution an event may be stored at (all but the store's
    own are empty and cost one index probe each). A `cell` not at `res` matches nothing."""
    if (int(cell) >> 52) & 0xF != res:
        return "1 = 0", []
    ranges = [descendant_range(cell, r) for r in range(max(res, PARENT_MIN_RES), MAX_RES + 1)]
    clause = " OR ".join([f"{FINE_CELL} BETWEEN ? AND ?"] * len(ranges))
    return f"({clause})", [v for lo_hi in ranges for v in lo_hi]


def to_format_style(sql: str) -> str:
    """Return `sql` with its ``?`` placeholders written as ``%s`` (psycopg's style); cached."""
    return sql.replace("?", "%s")


# ------------------------------------------------------------------------------------------ rows
R = TypeVar("R")


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a record as one column: its name there and how a value goes in and comes out."""

    field: str
    name: str = ""  # default: the field's name
    to_db: Callable[[Any], Any] = _same
    from_db: Callable[[Any], Any] = _same
    flag: bool = False  # a bool, stored 0/1 where the dialect's column is an integer

    @property
    def column(self) -> str:
        """Return the column's name."""
        return self.name or self.field


def time_column(field: str, name: str) -> Column:
    """Return the column of an aware UTC time stored as integer microseconds."""
    return Column(field, name, to_us, lambda us: from_us(int(us)))


def _opt_us(t: datetime | None) -> int | None:
    return None if t is None else to_us(t)


def _opt_time(us: int | None) -> datetime | None:
    return None if us is None else from_us(int(us))


def opt_time_column(field: str, name: str) -> Column:
    """Return the column of an aware UTC time or None, stored as integer microseconds or NULL."""
    return Column(field, name, _opt_us, _opt_time)


def json_column(field: str) -> Column:
    """Return the column of a mapping stored as canonical JSON text (`dumps`)."""
    return Column(field, to_db=dumps, from_db=json.loads)


@dataclass(frozen=True)
class RowCodec(Generic[R]):
    """How one record type is stored: one column per field, in order; the one row ↔ record mapping."""

    record: type[R]
    table: str
    key: str  # the id column (upserts replace by it)
    columns: tuple[Column | str, ...]

    @cached_property
    def _columns(self) -> tuple[Column, ...]:
        return tuple(c if isinstance(c, Column) else Column(c) for c in self.columns)

    @cached_property
    def cols(self) -> str:
        """Return the column list, for SELECT and INSERT."""
        return ", ".join(c.column for c in self._columns)

    def row(self, record: R, *, bool_as_int: bool = False) -> tuple[Any, ...]:
        """Return the values of `cols` for `record` (flags as 0/1 where the columns are integers)."""
        return tuple(
            int(v) if c.flag and bool_as_int else c.to_db(v)
            for c in self._columns
            for v in (getattr(record, c.field),)
        )

    def from_row(self, r: Sequence[Any]) -> R:
        """Return the record of a row selected with `cols`."""
        return self.record(**{c.field: c.from_db(v) for c, v in zip(self._columns, r, strict=True)})


ALERTS = RowCodec(
    AlertRecord,
    "alerts",
    "alert_id",
    (
        "alert_id", "rule", "key", "status", "severity", "title",
        time_column("created_at", "created_us"), time_column("updated_at", "updated_us"),
        "cell", "camera_id", "lon", "lat", json_column("details"), "acknowledged_by", "note",
    ),
)  # fmt: skip
CREDENTIALS = RowCodec(
    CredentialRecord,
    "credentials",
    "key_id",
    (
        "key_id", "secret_hash", "role", "label", time_column("created_at", "created_us"),
        opt_time_column("expires_at", "expires_us"), opt_time_column("revoked_at", "revoked_us"),
        opt_time_column("last_used_at", "last_used_us"),
    ),
)  # fmt: skip
CRED_COLS = CREDENTIALS.cols
REPORTS = RowCodec(
    ReportRecord,
    "reports",
    "request_id",
    (
        "request_id", "service_code", "status", "description", "lon", "lat", "cell", "ward_code", "address",
        time_column("requested_at", "requested_us"), time_column("updated_at", "updated_us"),
        "status_notes", "agency_responsible", json_column("contact"),
        Column("synthetic", from_db=bool, flag=True), "media_url",
        Column("attributes", to_db=dumps, from_db=lambda text: json.loads(text) if text else {}),
    ),
)  # fmt: skip


def row_to_event(row: Sequence[Any]) -> EventRecord:
    """Return the event of a row selected with `EVENT_COLS`."""
    n = len(RES_COLS)
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
        sequence=int(rest[6]) if rest[6] is not None else None,
        observed_at=from_us(rest[7]) if rest[7] is not None else None,
        sent_by=rest[8],
    )


def event_row(
    e: EventRecord, res: int, cells: Sequence[int | None], *, synthetic_as_int: bool
) -> tuple[Any, ...]:
    """Return the values of `EVENT_COLS` for a new event indexed at `res` with the cell columns
    `cells` (`RES_COLS`; the flag as 0/1 where the column is an integer)."""
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
        res,
        *cells,
        e.ward_code,
        dumps(e.attributes),
        int(e.synthetic) if synthetic_as_int else e.synthetic,
        to_us(e.received_at),
        to_us(e.updated_at),
        e.revision,
        e.sequence,
        to_us(e.observed_at) if e.observed_at else None,
        e.sent_by,
    )


def update_row(e: EventRecord, cells: Sequence[int | None]) -> tuple[Any, ...]:
    """Return the values of `UPDATE_EVENT` for a changed event."""
    return (
        e.severity,
        e.confidence,
        e.lifecycle,
        to_us(e.end_time) if e.end_time else None,
        e.lon,
        e.lat,
        *cells,
        e.ward_code,
        dumps(e.attributes),
        to_us(e.updated_at),
        e.revision,
        e.sequence,
        to_us(e.observed_at) if e.observed_at else None,
        e.event_id,
    )


# --------------------------------------------------------------------------------------- upsert
def stale_reason(old: EventRecord, ev: EventRecord) -> str | None:
    """Return why message `ev` is older than the stored `old` of the same event (so is not applied),
    or None when it is newer or cannot be told older.

    Messages are ordered by their own clock, never by arrival: the lifecycle first (nothing comes
    after an ``end`` but another ``end``), then the sender's ``sequence`` when both messages carry
    one, else the camera's ``observed_at`` when both do; a later ``end`` never moves ``end_time``
    back. Without any of these, the later arrival wins (senders should number their messages).
    """
    reason = None
    if LIFECYCLE_RANK[ev.lifecycle] < LIFECYCLE_RANK[old.lifecycle]:
        reason = f"already {old.lifecycle}"
    elif ev.sequence is not None and old.sequence is not None:
        if ev.sequence <= old.sequence:
            reason = f"sequence {ev.sequence} is not after the stored {old.sequence}"
    elif ev.observed_at is not None and old.observed_at is not None:
        if ev.observed_at <= old.observed_at:
            reason = f"observed_at {ev.observed_at.isoformat()} is not after the stored one"
    elif (
        old.lifecycle == "end"
        and ev.lifecycle == "end"
        and old.end_time is not None
        and ev.end_time is not None
        and ev.end_time < old.end_time
    ):
        reason = f"end_time {ev.end_time.isoformat()} is before the stored end"
    return reason


def plan_upsert(
    existing: dict[str, EventRecord], events: Sequence[EventRecord]
) -> tuple[list[UpsertResult], dict[str, EventRecord], dict[str, EventRecord]]:
    """Apply the contract's upsert rules to `events` given the stored rows `existing`.

    Parameters
    ----------
    existing
        Stored records by id (updated in place as the batch is applied, so the same id twice in one
        write behaves like two writes).
    events
        The write, in order.

    Returns
    -------
    tuple
        The per-event results, the records to INSERT and the records to UPDATE (by id).
    """
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
        if old.same_content(ev):
            out.append(UpsertResult(ev.event_id, "duplicate", old))
            continue
        why = stale_reason(old, ev)
        if why is not None:
            out.append(UpsertResult(ev.event_id, "stale", old, why))
            continue
        new = replace(
            ev,
            start_time=min(old.start_time, ev.start_time),
            received_at=old.received_at,
            revision=old.revision + 1,
            sequence=ev.sequence if ev.sequence is not None else old.sequence,
            observed_at=ev.observed_at if ev.observed_at is not None else old.observed_at,
            sent_by=old.sent_by or ev.sent_by,
        )
        existing[ev.event_id] = new
        if ev.event_id in inserts:
            inserts[ev.event_id] = new
        else:
            updates[ev.event_id] = new
        out.append(UpsertResult(ev.event_id, "updated", new))
    return out, inserts, updates


# -------------------------------------------------------------------------------------- methods
class RecordReads:
    """Reading records by their `RowCodec`: one by id, the newest of a status (every store mixin)."""

    if TYPE_CHECKING:

        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

        def _sql(self, sql: str) -> str: ...

    def _get_record(self, codec: RowCodec[R], key: str) -> R | None:
        """Return the record of id `key`, or None."""
        sql = f"SELECT {codec.cols} FROM {codec.table} WHERE {codec.key} = ?"
        rows = self._read(self._sql(sql), (key,))
        return codec.from_row(rows[0]) if rows else None

    def _newest_records(self, codec: RowCodec[R], status: str | None, limit: int) -> list[R]:
        """Return the newest `limit` records, only those of `status` when one is given."""
        sql, params = newest_first(codec.cols, codec.table, codec.key, status, limit)
        return [codec.from_row(r) for r in self._read(self._sql(sql), params)]


class SharedStoreMethods(RecordReads):
    """The `Store` methods both backends run alike, over the backend's `_read` and `_submit`.

    A backend sets `_FORMAT_STYLE` (psycopg's ``%s`` placeholders instead of ``?``), `_GREATEST` (its
    two-argument maximum) and `_BOOL_AS_INT` (flags stored as 0/1), and implements the SQL that really
    differs: `_upsert_sql` (insert-or-replace of one row by key), `_categories_filter`, `_before_filter`
    (the keyset cursor) and `_check_cell_res`.
    """

    _FORMAT_STYLE: ClassVar[bool] = False
    _GREATEST: ClassVar[str] = "MAX"
    _BOOL_AS_INT: ClassVar[bool] = True
    res: int
    _closed: bool
    #: The backend's group-commit writer (`api.store.writer`): every write goes through it.
    writer: GroupCommitWriter[Any]

    if TYPE_CHECKING:

        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def _submit(self, op: Callable[[Any], Any]) -> Future[Any]:
        """Queue one write (a function of the writer's connection) to the group-commit writer."""
        return self.writer.submit(op)

    def _sql(self, sql: str) -> str:
        """Return `sql` (written with ``?`` placeholders) in this backend's placeholder style."""
        return to_format_style(sql) if self._FORMAT_STYLE else sql

    def _upsert_sql(self, table: str, cols: str, key: str) -> str:
        """Return the statement that inserts one row of `cols` into `table`, replacing the row of `key`."""
        raise NotImplementedError

    def _categories_filter(self, categories: Sequence[str]) -> tuple[str, list[Any]]:
        """Return the clause (``?`` placeholders) and values that keep events of one of `categories`."""
        raise NotImplementedError

    def _before_filter(self, start_us: int, event_id: str) -> tuple[str, list[Any]]:
        """Return the clause and values that keep events ordered before (start_us, event_id)."""
        raise NotImplementedError

    def _check_cell_res(self, res: int) -> None:
        """Refuse a resolution of `EventQuery.cell` that the backend cannot filter on."""
        raise NotImplementedError

    def _upsert(self, conn: Any, events: list[EventRecord]) -> list[UpsertResult]:
        """Apply one write of events on the writer's connection (`plan_upsert`, then the backend's
        insert and update SQL)."""
        raise NotImplementedError

    def _close_readers(self) -> None:
        """Close every reader connection."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish pending writes, stop the writer and close every connection."""
        if self._closed:
            return
        self.writer.close()
        self._closed = True
        self._close_readers()

    def _write(self, sql: str, row: Sequence[Any], result: Any = None) -> Future[Any]:
        """Queue one statement; its future completes with `result` after the group's COMMIT."""

        def op(conn: Any) -> Any:
            conn.execute(sql, row)
            return result

        return self._submit(op)

    # ------------------------------------------------------------------------------------- events
    def submit_events(self, events: Sequence[EventRecord]) -> Future[list[UpsertResult]]:
        """Upsert events by id; the future completes after the group's COMMIT."""
        batch = list(events)
        return self._submit(lambda conn: self._upsert(conn, batch))

    def get_event(self, event_id: str) -> EventRecord | None:
        """Return one event by id, or None."""
        rows = self._read(self._sql(f"SELECT {EVENT_COLS} FROM events WHERE event_id = ?"), (event_id,))
        return row_to_event(rows[0]) if rows else None

    def events_since(self, since: datetime) -> list[EventRecord]:
        """Return events that started at or after `since`, oldest first."""
        rows = self._read(
            self._sql(f"SELECT {EVENT_COLS} FROM events WHERE start_us >= ? ORDER BY start_us, event_id"),
            (to_us(since),),
        )
        return [row_to_event(r) for r in rows]

    def live_rows_since(self, since: datetime) -> list[tuple[datetime, int, str, bool]]:
        """Return (start time, cell at the store resolution, category, synthetic) of the events that
        started at or after `since`, oldest first: what the live counts are rebuilt from at start-up
        (four columns, not whole records: a restart with 150k recent events reads them in ~0.2 s).
        """
        rows = self._read(
            self._sql(
                f"SELECT start_us, cell_r{self.res}, category, synthetic FROM events WHERE start_us >= ? "
                "ORDER BY start_us, event_id"
            ),
            (to_us(since),),
        )
        return [(from_us(r[0]), int(r[1]), r[2], bool(r[3])) for r in rows]

    def category_rows_since(self, category: str, since: datetime) -> list[tuple[str, datetime, int]]:
        """Return (event id, start time, cell at the store resolution) of the events of `category` that
        started at or after `since`, oldest first (what a cluster's alert leader reads each tick)."""
        rows = self._read(
            self._sql(
                f"SELECT event_id, start_us, cell_r{self.res} FROM events WHERE category = ? "
                "AND start_us >= ? ORDER BY start_us, event_id"
            ),
            (category, to_us(since)),
        )
        return [(r[0], from_us(r[1]), int(r[2])) for r in rows]

    def count_events(self) -> int:
        """Return the number of stored events."""
        return int(self._read("SELECT COUNT(*) FROM events")[0][0])

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
            clause, values = self._categories_filter(query.categories)
            where.append(clause)
            params += values
        if query.camera_id is not None:
            where.append("camera_id = ?")
            params.append(query.camera_id)
        if query.ward_code is not None:
            where.append("ward_code = ?")
            params.append(query.ward_code)
        if query.cell is not None:
            res, cell = query.cell
            self._check_cell_res(res)
            clause, values = cell_filter(res, cell)
            where.append(clause)
            params += values
        if query.cursor:
            clause, values = self._before_filter(*decode_cursor(query.cursor))
            where.append(clause)
            params += values
        sql = f"SELECT {EVENT_COLS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_us DESC, event_id DESC LIMIT ?"
        limit = max(1, int(query.limit))
        params.append(limit + 1)
        rows = self._read(self._sql(sql), params)
        events = [row_to_event(r) for r in rows[:limit]]
        nxt = None
        if len(rows) > limit and events:
            nxt = encode_cursor(events[-1].start_time, events[-1].event_id)
        return EventPage(events, nxt)

    # ------------------------------------------------------------------------------------ cameras
    def camera_last_seen(self) -> dict[str, datetime]:
        """Return the last-seen time of every camera seen so far."""
        return {r[0]: from_us(r[1]) for r in self._read("SELECT camera_id, last_seen_us FROM camera_seen")}

    def submit_camera_snapshot(self, snapshot: CameraSnapshot) -> Future[None]:
        """Append one fleet status snapshot (same instant: replaced)."""
        row = (to_us(snapshot.at), snapshot.online, snapshot.connected, snapshot.total)
        return self._write(self._upsert_sql("camera_history", CAMERA_HISTORY_COLS, "at_us"), row)

    def camera_history(self, since: datetime, limit: int = 1440) -> list[CameraSnapshot]:
        """Return the latest `limit` snapshots since `since`, oldest first."""
        rows = self._read(
            self._sql(
                f"SELECT {CAMERA_HISTORY_COLS} FROM camera_history WHERE at_us >= ? "
                "ORDER BY at_us DESC LIMIT ?"
            ),
            (to_us(since), limit),
        )
        return [CameraSnapshot(from_us(r[0]), r[1], r[2], r[3]) for r in reversed(rows)]

    # ---------------------------------------------------------------------- records by their codec
    def _upsert_record(self, codec: RowCodec[R], record: R) -> Future[R]:
        """Insert or replace `record` by its id."""
        row = codec.row(record, bool_as_int=self._BOOL_AS_INT)
        return self._write(self._upsert_sql(codec.table, codec.cols, codec.key), row, record)

    # ------------------------------------------------------------------------------------- alerts
    def submit_alert(self, alert: AlertRecord) -> Future[AlertRecord]:
        """Insert or replace an alert by id."""
        return self._upsert_record(ALERTS, alert)

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        """Return one alert, or None."""
        return self._get_record(ALERTS, alert_id)

    def list_alerts(self, status: str | None = None, limit: int = 200) -> list[AlertRecord]:
        """Return alerts newest first, optionally of one status."""
        return self._newest_records(ALERTS, status, limit)

    # ------------------------------------------------------------------------------------ reports
    def submit_report(self, report: ReportRecord) -> Future[ReportRecord]:
        """Insert or replace a citizen report by id."""
        return self._upsert_record(REPORTS, report)

    def get_report(self, request_id: str) -> ReportRecord | None:
        """Return one citizen report, or None."""
        return self._get_record(REPORTS, request_id)

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
        sql = f"SELECT {REPORTS.cols} FROM reports"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY requested_us DESC, request_id DESC LIMIT ?"
        params.append(limit)
        return [REPORTS.from_row(r) for r in self._read(self._sql(sql), params)]

    def submit_report_owner(self, request_id: str, owner: str) -> Future[None]:
        """Record which key submitted a report."""
        sql = self._upsert_sql("report_owners", REPORT_OWNER_COLS, "request_id")
        return self._write(sql, (request_id, owner))

    def report_owner(self, request_id: str) -> str | None:
        """Return the key id that submitted a report, or None."""
        rows = self._read(self._sql("SELECT owner FROM report_owners WHERE request_id = ?"), (request_id,))
        return str(rows[0][0]) if rows else None

    def list_reports_of(self, owner: str, limit: int = 200) -> list[ReportRecord]:
        """Return the reports a key submitted, newest first."""
        rows = self._read(
            self._sql(
                f"SELECT {REPORTS.cols} FROM reports JOIN report_owners USING (request_id) "
                "WHERE owner = ? ORDER BY requested_us DESC, request_id DESC LIMIT ?"
            ),
            (owner, limit),
        )
        return [REPORTS.from_row(r) for r in rows]

    # -------------------------------------------------------------------------------- credentials
    def submit_credential(self, credential: CredentialRecord) -> Future[CredentialRecord]:
        """Insert a new API key record (only the hash of its secret); an existing id is refused."""
        sql = self._sql(f"INSERT INTO credentials ({CRED_COLS}) VALUES ({placeholders(8)})")
        return self._write(sql, CREDENTIALS.row(credential), credential)

    def get_credential(self, key_id: str) -> CredentialRecord | None:
        """Return one API key record, or None."""
        return self._get_record(CREDENTIALS, key_id)

    def list_credentials(self) -> list[CredentialRecord]:
        """Return every API key record, newest first."""
        rows = self._read(f"SELECT {CRED_COLS} FROM credentials ORDER BY created_us DESC, key_id")
        return [CREDENTIALS.from_row(r) for r in rows]

    def revoke_credential(self, key_id: str, at: datetime) -> Future[bool]:
        """Mark a key revoked (an earlier revocation time stays); return whether it exists."""
        sql = self._sql("UPDATE credentials SET revoked_us = COALESCE(revoked_us, ?) WHERE key_id = ?")
        params = (to_us(at), key_id)

        def op(conn: Any) -> bool:
            return bool(conn.execute(sql, params).rowcount > 0)

        return self._submit(op)

    def bind_key_cameras(self, key_id: str, cameras: Sequence[str]) -> Future[None]:
        """Bind a key to the cameras it may speak for (``"*"``: every camera); rebinding replaces."""
        delete = self._sql("DELETE FROM key_cameras WHERE key_id = ?")
        insert = self._sql("INSERT INTO key_cameras (key_id, camera_id) VALUES (?, ?)")
        rows = [(key_id, c) for c in sorted(set(cameras))]

        def op(conn: Any) -> None:
            conn.execute(delete, (key_id,))
            for row in rows:
                conn.execute(insert, row)

        return self._submit(op)

    def cameras_of_key(self, key_id: str) -> frozenset[str] | None:
        """Return the cameras a key may speak for (``{"*"}``: all), or None when it is not bound."""
        rows = self._read(self._sql("SELECT camera_id FROM key_cameras WHERE key_id = ?"), (key_id,))
        return frozenset(str(r[0]) for r in rows) if rows else None

    def consume_credential(self, key_id: str, at: datetime) -> Future[bool]:
        """Revoke a key if it is not revoked yet; return whether this call did (the writer serialises
        the check and the update, so of two concurrent calls exactly one wins)."""
        sql = self._sql("UPDATE credentials SET revoked_us = ? WHERE key_id = ? AND revoked_us IS NULL")
        params = (to_us(at), key_id)

        def op(conn: Any) -> bool:
            return bool(conn.execute(sql, params).rowcount > 0)

        return self._submit(op)

    def touch_credential(self, key_id: str, at: datetime) -> Future[None]:
        """Record a key's use (a later time wins)."""
        sql = self._sql(
            f"UPDATE credentials SET last_used_us = {self._GREATEST}(COALESCE(last_used_us, 0), ?) "
            "WHERE key_id = ?"
        )
        return self._write(sql, (to_us(at), key_id))

    # ------------------------------------------------------------------------------------ checks
    def stats(self) -> dict[str, int]:
        """Return writer counters: commits and writes committed (their ratio is the group size)."""
        return {"commits": self.writer.commits, "writes": self.writer.grouped_writes}

"""Incidents in the store: records, their tables and the methods both backends share (issue 16).

An incident is what operators and city units work on: one or more alerts of a rule on the same cell or
camera, or citizen reports of one service on the same cell, grouped within a time window. Every change
of status, unit or note is one row of ``incident_changes`` (who, when, from → to, note); the incident
row carries a ``revision`` that each change increments, and a change names the revision it was made
on, so two operators editing at once never overwrite each other (the second gets `RevisionConflict`).

The tables live in their own migrations (versions 1601…, kept apart from the event store's numbering)
so the incident schema evolves without touching the event tables. `IncidentStoreMethods` is mixed into
`SQLiteStore` and `PostgresStore`; its writes run on the backend's single writer thread, so "find the
open incident of this group, else insert one" is atomic per process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from api.store.base import from_us, to_us
from api.store.common import Column, RecordReads, RowCodec, opt_time_column, time_column

IncidentStatus = Literal["new", "acknowledged", "assigned", "in_progress", "resolved", "closed"]
INCIDENT_STATUSES: tuple[str, ...] = ("new", "acknowledged", "assigned", "in_progress", "resolved", "closed")
#: Statuses still waiting for someone.
OPEN_STATUSES: tuple[str, ...] = ("new", "acknowledged", "assigned", "in_progress")
#: Largest snapshot accepted (bytes).
SNAPSHOT_MAX_BYTES = 200_000


class RevisionConflict(Exception):  # noqa: N818  (the HTTP answer's name is "precondition failed")
    """The incident changed since the revision a write was based on."""

    def __init__(self, incident_id: str, expected: int, current: int | None) -> None:
        super().__init__(f"incident {incident_id} is at revision {current}, not {expected}")
        self.incident_id = incident_id
        self.expected = expected
        self.current = current


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One incident as stored. Times are aware UTC; `due_at` is when its category's target expires."""

    incident_id: str
    kind: str  # "alert" | "report"
    category: str  # alert rule or Open311 service code
    group_key: str  # kind:category:cell-or-camera
    status: str
    severity: str
    title_vi: str
    title_en: str
    count: int
    first_at: datetime
    last_at: datetime
    created_at: datetime
    updated_at: datetime
    lon: float | None = None
    lat: float | None = None
    cell: int | None = None
    camera_id: str | None = None
    ward_code: str = ""
    street: str = ""
    unit_id: str | None = None
    due_at: datetime | None = None
    revision: int = 1
    sources: tuple[str, ...] = ()  # "alert:AL-…", "report:LS-…"
    details: dict[str, Any] = field(default_factory=dict)
    snapshot_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """One recorded change of an incident: who (from the credentials), when, what, and a note."""

    incident_id: str
    revision: int  # the incident's revision after this change
    at: datetime
    actor: str
    role: str
    action: str  # created | grouped | status | assign | note | auto
    from_status: str | None = None
    to_status: str | None = None
    unit_id: str | None = None
    note: str | None = None
    snapshot_id: str | None = None


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One JPEG of evidence: attached by a gateway to an event, or by staff to an incident change."""

    snapshot_id: str
    data: bytes
    created_at: datetime
    key_id: str
    event_id: str | None = None
    incident_id: str | None = None
    sha256: str = ""

    @property
    def size(self) -> int:
        """Return the JPEG's size in bytes."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    """Filters of `list_incidents`; newest first (last occurrence, then id)."""

    statuses: tuple[str, ...] = ()
    category: str | None = None
    ward_code: str | None = None
    unit_id: str | None = None
    overdue_at: datetime | None = None  # only incidents open and past due at this time
    limit: int = 200


def incident_migrations(big: str, real: str, blob: str) -> tuple[tuple[int, str], ...]:
    """Return the incident tables' migrations in one dialect's types (integer, float, bytes)."""
    return (
        (
            1601,
            f"""
            CREATE TABLE incidents (
                incident_id TEXT PRIMARY KEY NOT NULL,
                kind TEXT NOT NULL,
                category TEXT NOT NULL,
                group_key TEXT NOT NULL,
                status TEXT NOT NULL,
                severity TEXT NOT NULL,
                title_vi TEXT NOT NULL,
                title_en TEXT NOT NULL,
                count INTEGER NOT NULL,
                first_us {big} NOT NULL,
                last_us {big} NOT NULL,
                created_us {big} NOT NULL,
                updated_us {big} NOT NULL,
                lon {real},
                lat {real},
                cell {big},
                camera_id TEXT,
                ward_code TEXT NOT NULL,
                street TEXT NOT NULL,
                unit_id TEXT,
                due_us {big},
                revision INTEGER NOT NULL,
                sources TEXT NOT NULL,
                details TEXT NOT NULL,
                snapshot_ids TEXT NOT NULL
            );
            CREATE INDEX incidents_last ON incidents (last_us, incident_id);
            CREATE INDEX incidents_status_last ON incidents (status, last_us);
            CREATE INDEX incidents_group ON incidents (group_key, status);
            CREATE INDEX incidents_unit_last ON incidents (unit_id, last_us);
            CREATE TABLE incident_changes (
                incident_id TEXT NOT NULL,
                revision INTEGER NOT NULL,
                at_us {big} NOT NULL,
                actor TEXT NOT NULL,
                role TEXT NOT NULL,
                action TEXT NOT NULL,
                from_status TEXT,
                to_status TEXT,
                unit_id TEXT,
                note TEXT,
                snapshot_id TEXT,
                PRIMARY KEY (incident_id, revision)
            );
            CREATE TABLE incident_sources (
                source TEXT PRIMARY KEY NOT NULL,
                incident_id TEXT NOT NULL
            );
            CREATE TABLE snapshots (
                snapshot_id TEXT PRIMARY KEY NOT NULL,
                data {blob} NOT NULL,
                created_us {big} NOT NULL,
                key_id TEXT NOT NULL,
                event_id TEXT,
                incident_id TEXT,
                sha256 TEXT NOT NULL
            );
            CREATE INDEX snapshots_event ON snapshots (event_id);
            CREATE INDEX snapshots_created ON snapshots (created_us);
            CREATE TABLE unit_keys (
                key_id TEXT PRIMARY KEY NOT NULL,
                unit_id TEXT NOT NULL
            )
            """,
        ),
    )


CHANGE_COLS = (
    "incident_id, revision, at_us, actor, role, action, from_status, to_status, unit_id, note, snapshot_id"
)
SNAPSHOT_META_COLS = "snapshot_id, created_us, key_id, event_id, incident_id, sha256"


def _opt(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else convert(v)


def _ids_json(ids: Sequence[str]) -> str:
    return json.dumps(list(ids))


def _ids(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


#: An incident as a row of the ``incidents`` table.
INCIDENTS = RowCodec(
    IncidentRecord,
    "incidents",
    "incident_id",
    (
        "incident_id", "kind", "category", "group_key", "status", "severity", "title_vi", "title_en",
        Column("count", from_db=int),
        time_column("first_at", "first_us"), time_column("last_at", "last_us"),
        time_column("created_at", "created_us"), time_column("updated_at", "updated_us"),
        Column("lon", from_db=_opt(float)), Column("lat", from_db=_opt(float)),
        Column("cell", from_db=_opt(int)),
        "camera_id", "ward_code", "street", "unit_id",
        opt_time_column("due_at", "due_us"),
        Column("revision", from_db=int),
        Column("sources", to_db=_ids_json, from_db=_ids),
        Column("details", to_db=lambda d: json.dumps(d, ensure_ascii=False, separators=(",", ":")),
               from_db=json.loads),
        Column("snapshot_ids", to_db=_ids_json, from_db=_ids),
    ),
)  # fmt: skip
INCIDENT_COLS = INCIDENTS.cols
N_INCIDENT_COLS = len(INCIDENTS.columns)


def change_row(c: IncidentChange) -> tuple[Any, ...]:
    """Return a change as a row of `CHANGE_COLS`."""
    return (
        c.incident_id,
        c.revision,
        to_us(c.at),
        c.actor,
        c.role,
        c.action,
        c.from_status,
        c.to_status,
        c.unit_id,
        c.note,
        c.snapshot_id,
    )


def row_to_change(r: Sequence[Any]) -> IncidentChange:
    """Return the change of a row of `CHANGE_COLS`."""
    return IncidentChange(
        r[0], int(r[1]), from_us(int(r[2])), r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10]
    )


class IncidentStoreMethods(RecordReads):
    """The incident methods of the `Store`, over the backend's `_read`, `_submit` and `_sql`."""

    if TYPE_CHECKING:

        def _submit(self, op: Callable[[Any], Any]) -> Future[Any]: ...

    # ---------------------------------------------------------------------------------- incidents
    def _insert_incident(self, conn: Any, inc: IncidentRecord, change: IncidentChange) -> None:
        conn.execute(
            self._sql(f"INSERT INTO incidents ({INCIDENT_COLS}) VALUES ({', '.join('?' * N_INCIDENT_COLS)})"),
            INCIDENTS.row(inc),
        )
        self._insert_links(conn, inc.incident_id, inc.sources, change)

    def _insert_links(
        self, conn: Any, incident_id: str, sources: Sequence[str], change: IncidentChange
    ) -> None:
        for s in sources:
            conn.execute(
                self._sql("INSERT INTO incident_sources (source, incident_id) VALUES (?, ?)"),
                (s, incident_id),
            )
        conn.execute(
            self._sql(f"INSERT INTO incident_changes ({CHANGE_COLS}) VALUES ({', '.join('?' * 11)})"),
            change_row(change),
        )

    def submit_occurrence(
        self, candidate: IncidentRecord, since: datetime, actor: str = "system"
    ) -> Future[tuple[IncidentRecord, bool]]:
        """Group one alert or report into an incident, atomically; return (incident, created).

        The latest incident of `candidate.group_key` whose last occurrence is at or after `since` gets
        its count, last time and sources extended (revision + 1, a ``grouped`` change) if it is open,
        or is reopened if the system resolved it (``details.auto_resolved``); otherwise `candidate` is
        inserted (revision 1, a ``created`` change).
        """
        select = self._sql(
            f"SELECT {INCIDENT_COLS} FROM incidents WHERE group_key = ? AND last_us >= ? "
            "ORDER BY last_us DESC, incident_id DESC LIMIT 1"
        )

        def op(conn: Any) -> tuple[IncidentRecord, bool]:
            row = conn.execute(select, (candidate.group_key, to_us(since))).fetchone()
            cur = INCIDENTS.from_row(row) if row is not None else None
            # An incident the system resolved (its condition cleared) reopens when it recurs in the
            # window; one that people resolved or closed stays closed and the recurrence is new.
            reopen = cur is not None and cur.status == "resolved" and bool(cur.details.get("auto_resolved"))
            if cur is None or (cur.status not in OPEN_STATUSES and not reopen):
                change = IncidentChange(
                    candidate.incident_id,
                    1,
                    candidate.created_at,
                    actor,
                    "system",
                    "created",
                    to_status=candidate.status,
                    unit_id=candidate.unit_id,
                )
                self._insert_incident(conn, candidate, change)
                return candidate, True
            details = {**cur.details, **candidate.details}
            details.pop("auto_resolved", None)
            status = ("assigned" if cur.unit_id else "new") if reopen else cur.status
            new = replace(
                cur,
                status=status,
                count=cur.count + candidate.count,
                last_at=max(cur.last_at, candidate.last_at),
                updated_at=candidate.updated_at,
                revision=cur.revision + 1,
                sources=cur.sources + candidate.sources,
                details=details,
                snapshot_ids=cur.snapshot_ids + candidate.snapshot_ids,
            )
            self._update(conn, new, cur.revision)
            change = IncidentChange(
                cur.incident_id,
                new.revision,
                candidate.updated_at,
                actor,
                "system",
                "reopened" if reopen else "grouped",
                from_status=cur.status,
                to_status=status,
                note=", ".join(candidate.sources),
            )
            self._insert_links(conn, cur.incident_id, candidate.sources, change)
            return new, False

        return self._submit(op)

    def _update(self, conn: Any, new: IncidentRecord, expected: int) -> None:
        cols = [c.strip() for c in INCIDENT_COLS.split(",")][1:]
        sql = self._sql(
            f"UPDATE incidents SET {', '.join(f'{c} = ?' for c in cols)} "
            "WHERE incident_id = ? AND revision = ?"
        )
        row = INCIDENTS.row(new)
        cur = conn.execute(sql, (*row[1:], new.incident_id, expected))
        if cur.rowcount != 1:
            got = conn.execute(
                self._sql("SELECT revision FROM incidents WHERE incident_id = ?"), (new.incident_id,)
            ).fetchone()
            raise RevisionConflict(new.incident_id, expected, None if got is None else int(got[0]))

    def update_incident(
        self, new: IncidentRecord, expected_revision: int, change: IncidentChange
    ) -> Future[IncidentRecord]:
        """Replace an incident if it is still at `expected_revision` and record `change`.

        `new.revision` must be `expected_revision + 1`; a stale revision fails with `RevisionConflict`
        and writes nothing.
        """

        def op(conn: Any) -> IncidentRecord:
            self._update(conn, new, expected_revision)
            self._insert_links(conn, new.incident_id, (), change)
            return new

        return self._submit(op)

    def get_incident(self, incident_id: str) -> IncidentRecord | None:
        """Return one incident, or None."""
        return self._get_record(INCIDENTS, incident_id)

    def incident_of_source(self, source: str) -> IncidentRecord | None:
        """Return the incident an alert (``alert:<id>``) or report (``report:<id>``) belongs to."""
        rows = self._read(
            self._sql(
                f"SELECT {', '.join('i.' + c.strip() for c in INCIDENT_COLS.split(','))} FROM incidents i "
                "JOIN incident_sources s ON s.incident_id = i.incident_id WHERE s.source = ?"
            ),
            (source,),
        )
        return INCIDENTS.from_row(rows[0]) if rows else None

    def list_incidents(self, query: IncidentQuery) -> list[IncidentRecord]:
        """Return incidents matching `query`, newest (last occurrence) first."""
        where: list[str] = []
        params: list[Any] = []
        statuses = query.statuses
        if query.overdue_at is not None:
            statuses = tuple(s for s in (statuses or OPEN_STATUSES) if s in OPEN_STATUSES) or ("-",)
            where.append("due_us IS NOT NULL AND due_us < ?")
            params.append(to_us(query.overdue_at))
        if statuses:
            # `status || ''` keeps the planner off the status index: walking incidents_last backwards
            # and stopping at `limit` beats sorting every open incident (10,000: 150 → 20 ms, SQLite).
            where.append(f"status || '' IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        for col, value in (
            ("category", query.category),
            ("ward_code", query.ward_code),
            ("unit_id", query.unit_id),
        ):
            if value:
                where.append(f"{col} = ?")
                params.append(value)
        sql = f"SELECT {INCIDENT_COLS} FROM incidents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY last_us DESC, incident_id DESC LIMIT ?"
        params.append(query.limit)
        return [INCIDENTS.from_row(r) for r in self._read(self._sql(sql), params)]

    def incident_changes(self, incident_id: str) -> list[IncidentChange]:
        """Return the recorded changes of an incident, oldest first."""
        rows = self._read(
            self._sql(f"SELECT {CHANGE_COLS} FROM incident_changes WHERE incident_id = ? ORDER BY revision"),
            (incident_id,),
        )
        return [row_to_change(r) for r in rows]

    # ---------------------------------------------------------------------------------- snapshots
    def submit_snapshot(self, snap: SnapshotRecord) -> Future[SnapshotRecord]:
        """Store one JPEG of evidence (its id must be new)."""
        sql = self._sql(f"INSERT INTO snapshots (data, {SNAPSHOT_META_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)")
        row = (
            snap.data,
            snap.snapshot_id,
            to_us(snap.created_at),
            snap.key_id,
            snap.event_id,
            snap.incident_id,
            snap.sha256,
        )

        def op(conn: Any) -> SnapshotRecord:
            conn.execute(sql, row)
            return snap

        return self._submit(op)

    def get_snapshot(self, snapshot_id: str) -> SnapshotRecord | None:
        """Return one snapshot with its bytes, or None."""
        rows = self._read(
            self._sql(f"SELECT data, {SNAPSHOT_META_COLS} FROM snapshots WHERE snapshot_id = ?"),
            (snapshot_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return SnapshotRecord(r[1], bytes(r[0]), from_us(int(r[2])), r[3], r[4], r[5], r[6])

    def snapshots_of_event(self, event_id: str) -> list[str]:
        """Return the ids of the snapshots attached to an event."""
        rows = self._read(
            self._sql("SELECT snapshot_id FROM snapshots WHERE event_id = ? ORDER BY created_us"), (event_id,)
        )
        return [str(r[0]) for r in rows]

    def purge_snapshots(self, before: datetime) -> Future[int]:
        """Delete snapshots created before `before`; return how many went."""
        sql = self._sql("DELETE FROM snapshots WHERE created_us < ?")
        at = to_us(before)

        def op(conn: Any) -> int:
            return int(conn.execute(sql, (at,)).rowcount)

        return self._submit(op)

    # ---------------------------------------------------------------------------------- unit keys
    def bind_unit_key(self, key_id: str, unit_id: str) -> Future[None]:
        """Bind a key of the ``unit`` role to its unit (rebinding replaces)."""
        delete = self._sql("DELETE FROM unit_keys WHERE key_id = ?")
        insert = self._sql("INSERT INTO unit_keys (key_id, unit_id) VALUES (?, ?)")

        def op(conn: Any) -> None:
            conn.execute(delete, (key_id,))
            conn.execute(insert, (key_id, unit_id))

        return self._submit(op)

    def unit_of_key(self, key_id: str) -> str | None:
        """Return the unit a key is bound to, or None."""
        rows = self._read(self._sql("SELECT unit_id FROM unit_keys WHERE key_id = ?"), (key_id,))
        return str(rows[0][0]) if rows else None

"""Traffic counts in the store (issue 14): classified vehicle counts per camera, interval and direction.

Not to be confused with `api.services.counts` (live *event* counts per H3 cell). A traffic count is
what a camera's analytics counted crossing its view in one interval of 1–15 min, per vehicle class
and direction of travel, on the link the camera registry says it watches (`twin.cameras.watched_links`).

One row per (camera, interval start, direction): that triple is the idempotency key. A resent row with
the same values is a ``duplicate`` (nothing written), with other values an ``updated`` correction (the
camera recounted), else ``created``. The table lives in its own migrations (versions 1401…), on both
backends (`TrafficCountStoreMethods` is mixed into `SQLiteStore` and `PostgresStore`); writes go
through the backend's group-commit writer, so a batch is durable, and all-or-nothing, when its future
completes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from api.store.base import from_us, to_us

#: The first migration version of the traffic-count tables (issue 14's range).
TRAFFIC_COUNTS_MIGRATION = 1401
#: Vehicle classes counted, in column order (the traffic model's `simulations.traffic.params.MODES`).
COUNT_CLASSES: tuple[str, ...] = ("motorbike", "car", "bus", "truck")

TRAFFIC_COUNT_COLS = (
    "camera_id, start_us, direction, interval_s, link_id, motorbike, car, bus, truck, mean_speed_kmh, "
    "synthetic, received_us"
)
_N_COLS = len(TRAFFIC_COUNT_COLS.split(","))


def traffic_count_migrations(big: str, real: str, text_id: str) -> tuple[tuple[int, str], ...]:
    """Return the traffic-count table's migrations in one dialect's types (integer, float, id text)."""
    return (
        (
            TRAFFIC_COUNTS_MIGRATION,
            f"""
            CREATE TABLE traffic_counts (
                camera_id {text_id} NOT NULL,
                start_us {big} NOT NULL,
                direction {text_id} NOT NULL,
                interval_s INTEGER NOT NULL,
                link_id INTEGER NOT NULL,
                motorbike INTEGER NOT NULL,
                car INTEGER NOT NULL,
                bus INTEGER NOT NULL,
                truck INTEGER NOT NULL,
                mean_speed_kmh {real},
                synthetic INTEGER NOT NULL DEFAULT 0,
                received_us {big} NOT NULL,
                PRIMARY KEY (camera_id, start_us, direction)
            );
            CREATE INDEX traffic_counts_start ON traffic_counts (start_us)
            """,
        ),
    )


@dataclass(frozen=True, slots=True)
class TrafficCountRecord:
    """One stored count: a camera's vehicles per class in one direction over one interval (UTC)."""

    camera_id: str
    start: datetime
    direction: str
    interval_s: int
    link_id: int
    motorbike: int
    car: int
    bus: int
    truck: int
    received_at: datetime
    mean_speed_kmh: float | None = None
    synthetic: bool = False

    @property
    def total(self) -> int:
        """All vehicles of the interval."""
        return self.motorbike + self.car + self.bus + self.truck

    def same_values(self, other: TrafficCountRecord) -> bool:
        """Whether `other` says the same (everything but when it was received)."""
        return _values(self) == _values(other)


def _values(r: TrafficCountRecord) -> tuple[Any, ...]:
    return (r.interval_s, r.link_id, r.motorbike, r.car, r.bus, r.truck, r.mean_speed_kmh, r.synthetic)


def traffic_count_row(r: TrafficCountRecord) -> tuple[Any, ...]:
    """Return the row of `r` in `TRAFFIC_COUNT_COLS` order."""
    return (
        r.camera_id, to_us(r.start), r.direction, int(r.interval_s), int(r.link_id), int(r.motorbike),
        int(r.car), int(r.bus), int(r.truck), r.mean_speed_kmh, int(bool(r.synthetic)), to_us(r.received_at),
    )  # fmt: skip


def row_to_traffic_count(row: Sequence[Any]) -> TrafficCountRecord:
    """Return the record of a row selected with `TRAFFIC_COUNT_COLS`."""
    return TrafficCountRecord(
        camera_id=row[0], start=from_us(int(row[1])), direction=row[2], interval_s=int(row[3]),
        link_id=int(row[4]), motorbike=int(row[5]), car=int(row[6]), bus=int(row[7]), truck=int(row[8]),
        mean_speed_kmh=None if row[9] is None else float(row[9]), synthetic=bool(row[10]),
        received_at=from_us(int(row[11])),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TrafficCountQuery:
    """Which counts to return: intervals starting in [since, until), optionally of some cameras."""

    since: datetime
    until: datetime
    cameras: tuple[str, ...] = ()
    limit: int = 100_000


class TrafficCountStoreMethods:
    """The traffic-count methods of `api.store.base.Store`, over the backend's `_read`, `_submit`, `_sql`."""

    if TYPE_CHECKING:

        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

        def _submit(self, op: Callable[[Any], Any]) -> Future[Any]: ...

        def _sql(self, sql: str) -> str: ...

    def submit_traffic_counts(self, records: Sequence[TrafficCountRecord]) -> Future[list[str]]:
        """Store `records` in one transaction; return per record ``created``, ``updated`` or ``duplicate``.

        Records are keyed by (camera, interval start, direction); a key repeated within the batch
        counts as the later record (an update of the earlier one).
        """
        select = self._sql(
            f"SELECT {TRAFFIC_COUNT_COLS} FROM traffic_counts "
            "WHERE camera_id = ? AND start_us = ? AND direction = ?"
        )
        insert = self._sql(
            f"INSERT INTO traffic_counts ({TRAFFIC_COUNT_COLS}) VALUES ({', '.join('?' * _N_COLS)})"
        )
        update = self._sql(
            "UPDATE traffic_counts SET interval_s = ?, link_id = ?, motorbike = ?, car = ?, bus = ?, "
            "truck = ?, mean_speed_kmh = ?, synthetic = ?, received_us = ? "
            "WHERE camera_id = ? AND start_us = ? AND direction = ?"
        )
        rows = [traffic_count_row(r) for r in records]
        recs = list(records)

        def op(conn: Any) -> list[str]:
            out: list[str] = []
            for rec, row in zip(recs, rows, strict=True):
                found = conn.execute(select, row[:3]).fetchall()
                if not found:
                    conn.execute(insert, row)
                    out.append("created")
                elif row_to_traffic_count(found[0]).same_values(rec):
                    out.append("duplicate")
                else:
                    conn.execute(update, (*row[3:], *row[:3]))
                    out.append("updated")
            return out

        return self._submit(op)

    def traffic_counts(self, query: TrafficCountQuery) -> list[TrafficCountRecord]:
        """Return the counts matching `query`, by interval start, camera and direction."""
        sql = f"SELECT {TRAFFIC_COUNT_COLS} FROM traffic_counts WHERE start_us >= ? AND start_us < ?"
        params: list[Any] = [to_us(query.since), to_us(query.until)]
        if query.cameras:
            sql += f" AND camera_id IN ({', '.join('?' * len(query.cameras))})"
            params.extend(query.cameras)
        sql += " ORDER BY start_us, camera_id, direction LIMIT ?"
        params.append(int(query.limit))
        return [row_to_traffic_count(r) for r in self._read(self._sql(sql), params)]

    def traffic_counts_end(self, until: datetime) -> datetime | None:
        """Return the end of the latest counted interval starting before `until` (None: no counts)."""
        rows = self._read(
            self._sql(
                "SELECT start_us, interval_s FROM traffic_counts WHERE start_us = (SELECT MAX(start_us) "
                "FROM traffic_counts WHERE start_us < ?) ORDER BY interval_s DESC LIMIT 1"
            ),
            [to_us(until)],
        )
        if not rows:
            return None
        return from_us(int(rows[0][0]) + 1_000_000 * int(rows[0][1]))

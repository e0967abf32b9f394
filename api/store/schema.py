"""The schema both stores share: every migration, written once over the dialect's column types.

`schema_migrations` lists them in the order they apply (once each; the applied versions live in the
``schema_migrations`` table); `api.store.sqlite` and `api.store.postgres` call it with their `SqlTypes`.
Add a migration here, once, in its issue's version range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from api.store.common import FINE_CELL, RES_COLS
from api.store.incidents import incident_migrations
from api.store.jobs import job_lease_migrations, job_migrations
from api.store.traffic_counts import traffic_count_migrations

#: Migration 4, the same on both backends: who sent an event (the key, from the credentials) and the
#: cameras a camera-gateway key may speak for (`api.auth.keys.check_cameras`).
SENDER_MIGRATION: tuple[int, str] = (
    4,
    """
    ALTER TABLE events ADD COLUMN sent_by TEXT;
    CREATE TABLE key_cameras (
        key_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        PRIMARY KEY (key_id, camera_id)
    )
    """,
)


@dataclass(frozen=True, slots=True)
class SqlTypes:
    """A dialect's column types for the schema both backends share (`schema_migrations`); the defaults
    are SQLite's."""

    big: str = "INTEGER"  #: 64-bit integer (times in µs, H3 cells)
    real: str = "REAL"  #: double-precision float
    small: str = "INTEGER"  #: small integer (the H3 resolution)
    boolean: str = "INTEGER"  #: a flag
    text_id: str = "TEXT"  #: a text primary key that orders byte-wise (keyset paging)
    blob: str = "BLOB"  #: bytes
    lon_lat_index: bool = False  #: whether events get a (lon, lat) index


def pending_migrations(
    conn: Any, migrations: Sequence[tuple[int, str]], t: SqlTypes
) -> list[tuple[int, list[str]]]:
    """Create the ``schema_migrations`` table if it is missing and return the `migrations` it does not
    list yet, in order, each as its version and its statements (the caller applies and records them)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        f"(version INTEGER PRIMARY KEY, applied_us {t.big} NOT NULL)"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    return [(v, [st for st in sql.split(";") if st.strip()]) for v, sql in migrations if v not in done]


def _core_migration(t: SqlTypes) -> tuple[int, str]:
    """Return migration 1: events, cameras, alerts and citizen reports."""
    lon_lat = "\n        CREATE INDEX events_lon_lat ON events (lon, lat);" if t.lon_lat_index else ""
    return (
        1,
        f"""
        CREATE TABLE events (
            event_id {t.text_id} PRIMARY KEY NOT NULL,
            camera_id TEXT NOT NULL,
            category TEXT NOT NULL,
            severity TEXT NOT NULL,
            confidence {t.real} NOT NULL,
            lifecycle TEXT NOT NULL,
            start_us {t.big} NOT NULL,
            end_us {t.big},
            lon {t.real} NOT NULL,
            lat {t.real} NOT NULL,
            res {t.small} NOT NULL,
            {", ".join(f"{c} {t.big}" for c in RES_COLS)},
            ward_code TEXT NOT NULL,
            attributes TEXT NOT NULL,
            synthetic {t.boolean} NOT NULL,
            received_us {t.big} NOT NULL,
            updated_us {t.big} NOT NULL,
            revision INTEGER NOT NULL
        );
        CREATE INDEX events_time ON events (start_us, event_id);
        CREATE INDEX events_category_time ON events (category, start_us);
        CREATE INDEX events_camera_time ON events (camera_id, start_us);
        CREATE INDEX events_ward_time ON events (ward_code, start_us);
        CREATE INDEX events_cell_r9_time ON events (cell_r9, start_us);
        CREATE INDEX events_cell_r7_time ON events (cell_r7, start_us);{lon_lat}
        CREATE TABLE camera_seen (
            camera_id TEXT PRIMARY KEY NOT NULL,
            last_seen_us {t.big} NOT NULL
        );
        CREATE TABLE camera_history (
            at_us {t.big} PRIMARY KEY NOT NULL,
            online INTEGER NOT NULL,
            connected INTEGER NOT NULL,
            total INTEGER NOT NULL
        );
        CREATE TABLE alerts (
            alert_id {t.text_id} PRIMARY KEY NOT NULL,
            rule TEXT NOT NULL,
            key TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            created_us {t.big} NOT NULL,
            updated_us {t.big} NOT NULL,
            cell {t.big},
            camera_id TEXT,
            lon {t.real},
            lat {t.real},
            details TEXT NOT NULL,
            acknowledged_by TEXT,
            note TEXT
        );
        CREATE INDEX alerts_status_created ON alerts (status, created_us);
        CREATE TABLE reports (
            request_id {t.text_id} PRIMARY KEY NOT NULL,
            service_code TEXT NOT NULL,
            status TEXT NOT NULL,
            description TEXT NOT NULL,
            lon {t.real} NOT NULL,
            lat {t.real} NOT NULL,
            cell {t.big} NOT NULL,
            ward_code TEXT NOT NULL,
            address TEXT,
            requested_us {t.big} NOT NULL,
            updated_us {t.big} NOT NULL,
            status_notes TEXT,
            agency_responsible TEXT,
            contact TEXT NOT NULL,
            synthetic {t.boolean} NOT NULL
        );
        CREATE INDEX reports_requested ON reports (requested_us);
        """,
    )


def schema_migrations(t: SqlTypes) -> tuple[tuple[int, str], ...]:
    """Return the schema migrations of both backends in dialect `t`'s types, in the order they apply
    (once each; the applied versions live in ``schema_migrations``). Add a migration here, once."""
    return (
        _core_migration(t),
        (
            2,
            f"""
            CREATE TABLE credentials (
                key_id {t.text_id} PRIMARY KEY NOT NULL,
                secret_hash TEXT NOT NULL,
                role TEXT NOT NULL,
                label TEXT NOT NULL,
                created_us {t.big} NOT NULL,
                expires_us {t.big},
                revoked_us {t.big},
                last_used_us {t.big}
            );
            CREATE TABLE report_owners (
                request_id {t.text_id} PRIMARY KEY NOT NULL,
                owner TEXT NOT NULL
            );
            CREATE INDEX report_owners_owner ON report_owners (owner);
            """,
        ),
        *job_migrations(t.big, t.real, t.text_id),
        (
            3,
            # The message's own order (`api.store.common.stale_reason`): sequence and observed time.
            f"""
            ALTER TABLE events ADD COLUMN seq {t.big};
            ALTER TABLE events ADD COLUMN observed_us {t.big}
            """,
        ),
        SENDER_MIGRATION,
        *traffic_count_migrations(t.big, t.real, t.text_id),
        *incident_migrations(t.big, t.real, t.blob),
        (
            1801,
            # Open311 media_url and attribute[code] answers of a report (issue 18's range).
            """
            ALTER TABLE reports ADD COLUMN media_url TEXT;
            ALTER TABLE reports ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}'
            """,
        ),
        *job_lease_migrations(t.big),
        (
            2002,
            # Issue 20: one cell index instead of one per resolution (a coarser cell is a range of its
            # descendants, `api.store.common.cell_filter`): one B-tree fewer to update per event.
            f"""
            DROP INDEX IF EXISTS events_cell_r9_time;
            DROP INDEX IF EXISTS events_cell_r7_time;
            CREATE INDEX events_cell_time ON events (({FINE_CELL}), start_us)
            """,
        ),
    )

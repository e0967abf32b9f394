"""Retention: delete old camera events and erase citizens' contacts once their reports are closed.

The purge opens its own connection to the store's database (SQLite file or PostgreSQL DSN), so it
runs the same way from ``twin purge`` (cron / systemd timer) while the service is up: deletions go in
small transactions that never hold the write lock for long, and the service's writer simply waits its
turn (busy timeout / row locks).

Erased really means erased where the database allows it: on SQLite the purge connection uses
``secure_delete`` (freed content is overwritten with zeros) and checkpoints the WAL afterwards; on
PostgreSQL it runs ``VACUUM`` on the touched tables so dead row versions are reclaimed. What is kept and
for how long is documented in PRIVACY.md.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from api.errors import StoreBusy, StoreError, StoreFull, StoreUnavailable
from api.settings import RetentionSettings
from api.store.base import to_us
from twin.errors import InputError

if TYPE_CHECKING:
    import psycopg

#: Rows deleted per transaction: small enough that the service's writer never waits long.
CHUNK = 5000


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one purge did (or, for a dry run, would do)."""

    events_before: datetime
    contacts_before: datetime
    events_deleted: int
    contacts_erased: int
    dry_run: bool
    backend: str

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values (times in ISO 8601)."""
        d = asdict(self)
        d["events_before"] = self.events_before.isoformat()
        d["contacts_before"] = self.contacts_before.isoformat()
        return d


def cutoffs(policy: RetentionSettings, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Return (events before, contacts of reports closed before) for `policy` at `now`."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise InputError("now", "must carry a time zone (UTC recommended)")
    return now - timedelta(days=policy.events_days), now - timedelta(days=policy.contact_days)


def purge(
    dsn: str,
    policy: RetentionSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeReport:
    """Apply the retention policy to the store a DSN names.

    Parameters
    ----------
    dsn
        ``sqlite:///path`` or ``postgresql://...`` (as `api.store.open_store` takes). The schema must
        exist (the service or `open_store` creates it).
    policy
        Retention periods (the ``retention`` section of `api.settings.Settings`).
    now
        The reference time (aware; default now).
    dry_run
        Count what would change without changing it.

    Returns
    -------
    PurgeReport
        The cut-off times and the counts.

    Raises
    ------
    StoreBusy, StoreFull, StoreUnavailable
        When the database is locked for longer than the busy timeout, full, or unreachable; what was
        committed before stays committed, and running the purge again finishes the job.
    """
    ev_before, ct_before = cutoffs(policy, now)
    scheme = urlparse(dsn).scheme.lower()
    if scheme == "sqlite":
        path = dsn[len("sqlite:///") :] if dsn.lower().startswith("sqlite:///") else ""
        if not path or path == "/":
            raise InputError("dsn", "sqlite DSN needs a file path, e.g. sqlite:///var/twin/events.sqlite3")
        if not Path(path).exists():
            raise InputError("dsn", f"no event store at {path}", hint="check --store-dsn / TWIN_STORE_DSN")
        deleted, erased = _purge_sqlite(Path(path), to_us(ev_before), to_us(ct_before), dry_run)
    elif scheme in ("postgresql", "postgres"):
        deleted, erased = _purge_postgres(dsn, to_us(ev_before), to_us(ct_before), dry_run)
    else:
        raise InputError(
            "dsn", f"unknown store scheme {scheme!r}", hint="use sqlite:///path or postgresql://…"
        )
    return PurgeReport(
        ev_before, ct_before, deleted, erased, dry_run, "sqlite" if scheme == "sqlite" else "postgresql"
    )


# ------------------------------------------------------------------------------------------ SQLite
_CONTACT_WHERE = "status = 'closed' AND updated_us < ? AND contact <> '{}'"


def _sqlite_error(e: sqlite3.Error) -> StoreError:
    text = str(e).lower()
    if "full" in text:
        return StoreFull()
    if "locked" in text or "busy" in text:
        return StoreBusy()
    return StoreUnavailable(f"the retention purge failed: {e}")


@contextlib.contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA secure_delete = ON")
        yield conn
    finally:
        conn.close()


def _purge_sqlite(path: Path, ev_us: int, ct_us: int, dry_run: bool) -> tuple[int, int]:
    try:
        with _sqlite(path) as conn:
            if dry_run:
                n_ev = conn.execute("SELECT COUNT(*) FROM events WHERE start_us < ?", (ev_us,)).fetchone()[0]
                n_ct = conn.execute(
                    f"SELECT COUNT(*) FROM reports WHERE {_CONTACT_WHERE}", (ct_us,)
                ).fetchone()[0]
                return int(n_ev), int(n_ct)
            deleted = 0
            while True:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = conn.execute(
                        "DELETE FROM events WHERE rowid IN "
                        "(SELECT rowid FROM events WHERE start_us < ? LIMIT ?)",
                        (ev_us, CHUNK),
                    )
                    conn.execute("COMMIT")
                except sqlite3.Error:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                deleted += cur.rowcount
                if cur.rowcount < CHUNK:
                    break
            conn.execute("BEGIN IMMEDIATE")
            try:
                erased = conn.execute(
                    f"UPDATE reports SET contact = '{{}}' WHERE {_CONTACT_WHERE}", (ct_us,)
                ).rowcount
                # Evidence snapshots (images: may show people or plates) go with the contact period.
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'snapshots'").fetchone():
                    conn.execute("DELETE FROM snapshots WHERE created_us < ?", (ct_us,))
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            # Old page images (with the erased contacts) live in the WAL until a checkpoint.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return deleted, erased
    except sqlite3.Error as e:
        raise _sqlite_error(e) from e


# -------------------------------------------------------------------------------------- PostgreSQL
def _pg_error(e: psycopg.Error) -> StoreError:
    from api.store.postgres import map_error as map_pg_error  # noqa: PLC0415  (imports psycopg)

    mapped = map_pg_error(e)
    return mapped if isinstance(mapped, StoreError) else StoreUnavailable(mapped.message)


def _purge_postgres(dsn: str, ev_us: int, ct_us: int, dry_run: bool) -> tuple[int, int]:
    import psycopg  # noqa: PLC0415  (only for PostgreSQL: keeps psycopg off an SQLite service's start-up)

    contact_where = "status = 'closed' AND updated_us < %s AND contact <> '{}'"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name="twin-purge") as conn:
            conn.execute("SET synchronous_commit = on")
            conn.execute("SET lock_timeout = 10000")
            if dry_run:
                n_ev = conn.execute("SELECT COUNT(*) FROM events WHERE start_us < %s", (ev_us,)).fetchone()
                n_ct = conn.execute(
                    f"SELECT COUNT(*) FROM reports WHERE {contact_where}".encode(), (ct_us,)
                ).fetchone()
                return int(n_ev[0] if n_ev else 0), int(n_ct[0] if n_ct else 0)
            deleted = 0
            while True:
                with conn.transaction():
                    n = conn.execute(
                        "DELETE FROM events WHERE event_id IN (SELECT event_id FROM events "
                        "WHERE start_us < %s LIMIT %s FOR UPDATE SKIP LOCKED)",
                        (ev_us, CHUNK),
                    ).rowcount
                deleted += max(n, 0)
                if n < CHUNK:
                    break
            with conn.transaction():
                erased = conn.execute(
                    f"UPDATE reports SET contact = '{{}}' WHERE {contact_where}".encode(), (ct_us,)
                ).rowcount
                has = conn.execute("SELECT to_regclass('snapshots') IS NOT NULL").fetchone()
                if has and has[0]:
                    conn.execute("DELETE FROM snapshots WHERE created_us < %s", (ct_us,))
            # Reclaim dead row versions (the erased contacts, the deleted events) now, not someday.
            if erased > 0:
                conn.execute("VACUUM reports")
            if deleted > 0:
                conn.execute("VACUUM events")
            return deleted, max(erased, 0)
    except psycopg.Error as e:
        raise _pg_error(e) from e

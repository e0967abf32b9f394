"""The SQLite store: the shared contract suite plus SQLite-specific durability and fault behaviour."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from api.errors import StoreBusy, StoreFull
from api.store import default_dsn, open_store
from api.store.base import EventQuery, EventRecord, Store
from api.store.common import cell_filter
from api.store.sqlite import MIGRATIONS, SQLiteStore
from tests.api.store_contract import *  # noqa: F403  (the shared contract suite)
from tests.api.store_contract import T0, make_event, write
from twin.errors import InputError


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each backend."""
    s = open_store(default_dsn(tmp_path), res=9)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "ev.sqlite3", res=9, busy_timeout_ms=100)
    yield s
    s.close()


def test_pragmas_wal_full_and_migrations(sqlite_store: SQLiteStore) -> None:
    conn = sqlite3.connect(sqlite_store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    w = sqlite_store.writer.conn
    assert w.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert sqlite_store.schema_version() == MIGRATIONS[-1][0]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"events_time", "events_category_time", "events_camera_time", "events_cell_time"} <= indexes
    assert not {"events_cell_r9_time", "events_cell_r7_time"} & indexes  # one cell index (issue 20)
    conn.close()


def test_an_older_database_moves_to_the_one_cell_index(tmp_path: Path) -> None:
    """A database with the per-resolution cell indexes (before migration 2002) gets the one index on the
    finest cell when opened, and cell queries at res 7 and 9 use it and answer the same."""
    path = tmp_path / "old.sqlite3"
    s = SQLiteStore(path)
    events = [make_event(i, lon=106.70 + 0.01 * (i % 9), lat=21.80 + 0.01 * (i // 9)) for i in range(60)]
    write(s, events)
    s.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        "DROP INDEX events_cell_time; DELETE FROM schema_migrations WHERE version = 2002;"
        "CREATE INDEX events_cell_r9_time ON events (cell_r9, start_us);"
        "CREATE INDEX events_cell_r7_time ON events (cell_r7, start_us);"
    )
    conn.close()
    s = SQLiteStore(path)
    try:
        names = {r[0] for r in s._read("SELECT name FROM sqlite_master WHERE type = 'index'")}
        check_one_cell_index(s, names, events)
        for res in (7, 9):
            clause, values = cell_filter(res, events[0].cells[res])
            sql = f"EXPLAIN QUERY PLAN SELECT event_id FROM events WHERE {clause}"
            plan = " ".join(str(r[3]) for r in s._read(sql, values))
            assert "events_cell_time" in plan, plan
    finally:
        s.close()


def check_one_cell_index(s: Store, names: set[str], events: list[EventRecord]) -> None:
    """After migration 2002 (either store): the one cell index only, and cell queries at res 7 and 9
    answer what the events' own cells say."""
    assert "events_cell_time" in names
    assert not {"events_cell_r9_time", "events_cell_r7_time"} & names
    assert s.schema_version() == MIGRATIONS[-1][0]  # type: ignore[attr-defined]
    for res in (7, 9):
        cell = events[0].cells[res]
        got = [e.event_id for e in s.query_events(EventQuery(cell=(res, cell), limit=100)).events]
        assert got == sorted((e.event_id for e in events if e.cells[res] == cell), reverse=True)


def test_reopen_keeps_data_and_does_not_remigrate(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "a.db")
    write(s, [make_event(i) for i in range(5)])
    s.close()
    s2 = SQLiteStore(tmp_path / "a.db")
    assert s2.count_events() == 5
    rows = s2._reader().execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
    assert rows == len(MIGRATIONS)
    s2.close()


def test_group_commit_batches_concurrent_writes(sqlite_store: SQLiteStore) -> None:
    futs = [sqlite_store.submit_events([make_event(i)]) for i in range(300)]
    assert all(f.result(timeout=60)[0].outcome == "created" for f in futs)
    st = sqlite_store.stats()
    assert st["writes"] == 300
    assert st["commits"] < 300  # many writes shared one COMMIT


def test_disk_full_is_store_full_and_recovers(sqlite_store: SQLiteStore) -> None:
    write(sqlite_store, [make_event(0)])
    w = sqlite_store.writer.conn
    pages = w.execute("PRAGMA page_count").fetchone()[0]
    w.execute(f"PRAGMA max_page_count = {pages}")
    big = [make_event(i, attributes={"pad": "x" * 400, "i": i}) for i in range(1, 400)]
    with pytest.raises(StoreFull):
        sqlite_store.submit_events(big).result(timeout=30)
    assert sqlite_store.count_events() == 1  # nothing of the failed write remains
    w.execute("PRAGMA max_page_count = 1073741823")
    assert write(sqlite_store, big[:3]) == ["created"] * 3
    assert sqlite_store.check_integrity() == "ok"


def test_locked_database_is_store_busy_and_recovers(sqlite_store: SQLiteStore) -> None:
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy):
            sqlite_store.submit_events([make_event(1)]).result(timeout=30)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert write(sqlite_store, [make_event(1)]) == ["created"]


def test_dsn_parsing(tmp_path: Path) -> None:
    s = open_store(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(s, SQLiteStore)
    assert s.path == tmp_path / "x.db"
    s.close()
    with pytest.raises(InputError, match="store_dsn"):
        open_store("mysql://nope")
    with pytest.raises(InputError, match="store_dsn"):
        open_store("sqlite:///")


def check_live_rows(store: Store) -> None:
    """`live_rows_since` gives what the full records say, oldest first, for the rebuild at start-up."""
    evs = [
        make_event(i, start=T0 + timedelta(minutes=10 - i), category="accident" if i % 3 else "congestion",
                   synthetic=bool(i % 2))
        for i in range(10)
    ]  # fmt: skip
    write(store, evs)
    since = T0 + timedelta(minutes=4)
    rows = store.live_rows_since(since)  # type: ignore[attr-defined]
    full = store.events_since(since)
    assert rows == [(e.start_time, e.cells[9], e.category, e.synthetic) for e in full]
    assert len(rows) == 7
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_live_rows_since(store: Store) -> None:
    check_live_rows(store)

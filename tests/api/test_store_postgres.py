"""The PostgreSQL store: the shared contract suite on a real server, plus its own fault behaviour.

One throwaway server (``tests.support.postgres.postgres_server``) runs for the session; every test gets
a fresh, empty database on it.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.errors import StoreBusy, StoreFull, StoreUnavailable
from api.store import open_store
from api.store.base import Store
from api.store.postgres import MIGRATIONS, PostgresStore, map_error
from api.store.sqlite import SQLiteStore
from tests.api.store_contract import *  # noqa: F403  (the shared contract suite)
from tests.api.store_contract import T0, make_event, write
from tests.api.test_store_sqlite import check_live_rows, check_one_cell_index
from tests.support.postgres import find_bindir, postgres_server
from twin.errors import InputError

pytestmark = pytest.mark.postgres

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The DSN of the session's PostgreSQL server (its maintenance database)."""
    if find_bindir() is None:
        pytest.fail("PostgreSQL server binaries missing: scripts/setup-system.sh should install them")
    with postgres_server("twin_admin") as dsn:
        yield dsn


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A DSN of a fresh, empty database on the session server (dropped afterwards)."""
    name = f"twin_t{next(_counter)}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield pg_server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def store(pg_dsn: str) -> Iterator[Store]:
    """An empty PostgreSQL store, opened through the DSN dispatcher like the service does."""
    s = open_store(pg_dsn, res=9)
    yield s
    s.close()


@pytest.fixture
def pg_store(pg_dsn: str) -> Iterator[PostgresStore]:
    s = PostgresStore(pg_dsn, res=9, busy_timeout_ms=200)
    yield s
    s.close()


def test_dispatch_durability_settings_and_migrations(pg_store: PostgresStore, pg_dsn: str) -> None:
    opened = open_store(pg_dsn.replace("postgresql://", "postgres://"))
    assert isinstance(opened, PostgresStore)
    opened.close()
    assert pg_store.schema_version() == MIGRATIONS[-1][0]
    w = pg_store.writer.conn
    assert w is not None
    assert w.execute("SHOW synchronous_commit").fetchone() == ("on",)
    assert w.execute("SHOW fsync").fetchone() == ("on",)
    with psycopg.connect(pg_dsn) as c:
        idx = {r[0] for r in c.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")}
    assert {"events_time", "events_category_time", "events_camera_time", "events_cell_time"} <= idx
    assert not {"events_cell_r9_time", "events_cell_r7_time"} & idx  # one cell index (issue 20)


def test_an_older_database_moves_to_the_one_cell_index(pg_dsn: str) -> None:
    """A database with the per-resolution cell indexes (before migration 2002) gets the one index on the
    finest cell when opened; cell queries at res 7 and 9 answer the same."""
    s = PostgresStore(pg_dsn)
    events = [make_event(i, lon=106.70 + 0.01 * (i % 9), lat=21.80 + 0.01 * (i // 9)) for i in range(60)]
    write(s, events)
    s.close()
    with psycopg.connect(pg_dsn, autocommit=True) as c:
        c.execute("DROP INDEX events_cell_time")
        c.execute("DELETE FROM schema_migrations WHERE version = 2002")
        c.execute("CREATE INDEX events_cell_r9_time ON events (cell_r9, start_us)")
        c.execute("CREATE INDEX events_cell_r7_time ON events (cell_r7, start_us)")
    s = PostgresStore(pg_dsn)
    try:
        names = {r[0] for r in s._read("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")}
        check_one_cell_index(s, names, events)
    finally:
        s.close()


def test_reopen_keeps_data_and_does_not_remigrate(pg_dsn: str) -> None:
    s = PostgresStore(pg_dsn)
    write(s, [make_event(i) for i in range(5)])
    s.close()
    s2 = PostgresStore(pg_dsn)
    assert s2.count_events() == 5
    assert s2._read("SELECT COUNT(*) FROM schema_migrations")[0][0] == len(MIGRATIONS)
    s2.close()


def test_group_commit_batches_concurrent_writes(pg_store: PostgresStore) -> None:
    futs = [pg_store.submit_events([make_event(i)]) for i in range(300)]
    assert all(f.result(timeout=60)[0].outcome == "created" for f in futs)
    st = pg_store.stats()
    assert st["writes"] == 300
    assert st["commits"] < 300


def test_locked_table_is_store_busy_and_recovers(pg_store: PostgresStore, pg_dsn: str) -> None:
    write(pg_store, [make_event(0)])
    other = psycopg.connect(pg_dsn)
    other.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
    try:
        with pytest.raises(StoreBusy):
            pg_store.submit_events([make_event(1)]).result(timeout=30)
        with pytest.raises(StoreBusy):  # readers time out too instead of hanging
            pg_store.count_events()
    finally:
        other.rollback()
        other.close()
    assert write(pg_store, [make_event(1)]) == ["created"]
    assert pg_store.count_events() == 2


def test_killed_connections_are_replaced_without_restart(pg_store: PostgresStore, pg_dsn: str) -> None:
    write(pg_store, [make_event(0)])
    assert pg_store.count_events() == 1
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'langson-twin' AND pid <> pg_backend_pid()"
        )
    # Reads and writes on the dead connections are retried once on fresh ones: the caller sees nothing.
    assert pg_store.count_events() == 1
    assert write(pg_store, [make_event(1), make_event(2)]) == ["created", "created"]
    assert pg_store.count_events() == 3
    assert pg_store.check_integrity() == "ok"


def test_refused_data_fails_only_its_own_write(pg_store: PostgresStore) -> None:
    good = pg_store.submit_events([make_event(1)])
    bad = pg_store.submit_events([make_event(2, event_id="ev-\x00-nul")])
    assert good.result(timeout=30)[0].outcome == "created"
    with pytest.raises(InputError):
        bad.result(timeout=30)
    assert pg_store.count_events() == 1


def test_two_processes_upserting_the_same_ids_agree(pg_dsn: str) -> None:
    a, b = PostgresStore(pg_dsn), PostgresStore(pg_dsn)
    try:
        events = [make_event(i) for i in range(50)]

        def go(s: PostgresStore) -> list[str]:
            for _ in range(20):
                try:
                    return write(s, events)
                except StoreBusy:
                    continue
            raise AssertionError("never got through")

        with ThreadPoolExecutor(2) as ex:
            ra, rb = ex.map(go, [a, b])
        assert sorted([*ra, *rb]) == sorted(["created"] * 50 + ["duplicate"] * 50)
        assert a.count_events() == 50
        upd = [replace(e, lifecycle="end", end_time=T0 + timedelta(hours=1)) for e in events[:5]]
        assert write(b, upd) == ["updated"] * 5
        assert a.get_event("ev-00000").revision == 2  # type: ignore[union-attr]
    finally:
        a.close()
        b.close()


def test_concurrent_readers_share_a_bounded_pool(pg_dsn: str) -> None:
    s = PostgresStore(pg_dsn, readers=2)
    try:
        write(s, [make_event(i) for i in range(10)])
        counts: list[int] = []
        lock = threading.Lock()

        def read() -> None:
            n = s.count_events()
            with lock:
                counts.append(n)

        threads = [threading.Thread(target=read) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert counts == [10] * 12
        assert len(s._all_readers) <= 2
    finally:
        s.close()


def test_error_mapping() -> None:
    assert isinstance(map_error(psycopg.errors.DiskFull("could not extend file")), StoreFull)
    assert isinstance(map_error(psycopg.errors.LockNotAvailable("lock timeout")), StoreBusy)
    assert isinstance(map_error(psycopg.errors.SerializationFailure("x")), StoreBusy)
    assert isinstance(map_error(psycopg.errors.DeadlockDetected("x")), StoreBusy)
    assert isinstance(map_error(psycopg.errors.TooManyConnections("x")), StoreBusy)
    assert isinstance(map_error(psycopg.OperationalError("server closed the connection")), StoreUnavailable)
    assert isinstance(map_error(psycopg.errors.CharacterNotInRepertoire("nul")), InputError)


def test_unreachable_server_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none", connect_timeout_s=2)


_MSG = st.tuples(
    st.integers(0, 3),  # which id
    st.sampled_from(["new", "update", "end"]),
    st.sampled_from(["low", "medium", "high"]),
    st.sampled_from(["LS-CAM-001", "LS-CAM-002"]),
    st.integers(0, 120),  # seconds after T0
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.lists(_MSG, min_size=1, max_size=4), min_size=1, max_size=5))
def test_same_outcomes_and_rows_as_sqlite(
    writes: list[list[tuple[int, str, str, str, int]]], pg_store: PostgresStore, tmp_path: Path
) -> None:
    """Any sequence of lifecycle messages gives the same outcomes and final rows on both backends."""
    prefix = uuid.uuid4().hex[:8]
    lite = SQLiteStore(tmp_path / f"{prefix}.sqlite3")
    try:
        for w in writes:
            batch = [
                make_event(
                    0,
                    event_id=f"{prefix}-{i}",
                    lifecycle=lc,
                    severity=sev,
                    camera=cam,
                    start=T0 + timedelta(seconds=sec),
                    end_time=T0 + timedelta(hours=1) if lc == "end" else None,
                )
                for i, lc, sev, cam, sec in w
            ]
            assert write(pg_store, batch) == write(lite, batch)
        for i in range(4):
            assert pg_store.get_event(f"{prefix}-{i}") == lite.get_event(f"{prefix}-{i}")
    finally:
        lite.close()


def test_a_refused_write_alone_in_its_group_leaves_the_writer_usable(pg_store: PostgresStore) -> None:
    with pytest.raises(InputError):
        pg_store.submit_events([make_event(1, event_id="solo-\x00")]).result(timeout=30)
    assert write(pg_store, [make_event(2)]) == ["created"]
    assert pg_store.count_events() == 1


def test_large_write_spans_several_insert_statements(pg_store: PostgresStore) -> None:
    events = [make_event(i) for i in range(2345)]
    assert write(pg_store, events) == ["created"] * 2345
    assert pg_store.count_events() == 2345
    assert pg_store.get_event("ev-02344") == events[-1]


def test_live_rows_since(store: Store) -> None:
    check_live_rows(store)

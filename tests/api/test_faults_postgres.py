"""Faults with the PostgreSQL store: a locked table is 503 + Retry-After, dropped database connections
are replaced transparently, a full disk is `StoreFull` (507); the service recovers without a restart."""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.errors import StoreFull
from api.store.postgres import PostgresStore
from tests.api.store_contract import make_event, write
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, live_client
from tests.api.test_store_postgres import pg_dsn, pg_server  # noqa: F401  (fixtures)
from tests.support.events import event
from twin.city import City

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_client(
    pg_dsn: str,  # noqa: F811  (the imported fixture)
    monkeypatch: pytest.MonkeyPatch,
    city: City,
    tmp_path: Path,
    data_dir: Path,
) -> Iterator[TestClient]:
    """The full app on a fresh PostgreSQL database."""
    monkeypatch.setenv("TWIN_STORE_DSN", pg_dsn)
    with live_client(city, tmp_path, data_dir, tick_s=3600) as c:
        yield c


def test_locked_table_is_503_then_recovers(
    pg_client: TestClient,
    pg_dsn: str,  # noqa: F811
    connected: list[str],
) -> None:
    cam = connected[0]
    assert pg_client.post("/events", json=event(1, cam)).status_code == 200
    other = psycopg.connect(pg_dsn)
    other.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
    try:
        r = pg_client.post("/events", json=event(2, cam))
        assert_error_shape(r, 503, "store")
        assert int(r.headers["retry-after"]) >= 1
    finally:
        other.rollback()
        other.close()
    assert pg_client.post("/events", json=event(2, cam)).status_code == 200
    assert len(pg_client.get("/events", params={"camera": cam}).json()["features"]) == 2


def test_dropped_connections_recover_without_restart(
    pg_client: TestClient,
    pg_dsn: str,  # noqa: F811
    connected: list[str],
) -> None:
    cam = connected[1]
    assert pg_client.post("/events", json=event(1, cam)).status_code == 200
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'langson-twin' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    # The dead connections are replaced transparently (a write that never reached COMMIT is re-run).
    assert pg_client.post("/events", json=event(2, cam)).status_code == 200
    assert len(pg_client.get("/events", params={"camera": cam}).json()["features"]) == 2


def test_full_tablespace_is_store_full_then_recovers(pg_server: str) -> None:  # noqa: F811
    """The database lives in a tablespace on a 40 MB tmpfs: filling it gives `StoreFull` (507) and
    nothing of the failed write; freeing space lets the same store write again."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root: the PostgreSQL disk-full test cannot run as this user")
    root = Path(tempfile.mkdtemp(prefix="twin-pgfull-"))
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40m,mode=0777", "tmpfs", str(root)],
        capture_output=True,
        check=False,
    )
    if r.returncode != 0:
        root.rmdir()
        pytest.skip(f"mount -t tmpfs is not permitted here: {r.stderr.decode().strip()}")
    space = root / "ts"
    space.mkdir()
    pw = pwd.getpwnam("postgres")
    os.chown(space, pw.pw_uid, pw.pw_gid)
    dsn = pg_server.rsplit("/", 1)[0] + "/twin_full"
    store = None
    try:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f"CREATE TABLESPACE twin_tiny LOCATION '{space}'")
            admin.execute("CREATE DATABASE twin_full TABLESPACE twin_tiny")
        store = PostgresStore(dsn)
        assert write(store, [make_event(0)]) == ["created"]
        filler = root / "filler.bin"
        with filler.open("wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        big = [make_event(i, attributes={"note": "x y " * 120, "i": i}) for i in range(1, 3000)]
        failures: list[BaseException] = []
        for k in range(0, len(big), 500):
            try:
                write(store, big[k : k + 500])
            except StoreFull as e:
                failures.append(e)
                break
        assert failures, "the 40 MB tablespace never filled"
        n = store.count_events()
        assert n < len(big) + 1  # the failed batch left nothing behind (whole batches only)
        assert (n - 1) % 500 == 0
        filler.unlink()
        assert write(store, [make_event(5000)]) == ["created"]
        assert store.count_events() == n + 1
        assert store.check_integrity() == "ok"
    finally:
        if store is not None:
            store.close()
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS twin_full WITH (FORCE)")
            admin.execute("DROP TABLESPACE IF EXISTS twin_tiny")
        subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            root.rmdir()

"""Faults over HTTP with the PostgreSQL store: a locked table is 503 + Retry-After, dropped database
connections are 503 at worst, and the service recovers from both without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, event, live_client
from tests.api.test_store_postgres import pg_dsn, pg_server  # noqa: F401  (fixtures)
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

"""The throwaway PostgreSQL server that the store tests use really starts and answers SQL."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.postgres import find_bindir, postgres_server


@pytest.mark.postgres
def test_server_starts_and_answers() -> None:
    if find_bindir() is None:
        pytest.fail("PostgreSQL server binaries missing: scripts/setup-system.sh should install them")
    with postgres_server() as dsn, psycopg.connect(dsn) as conn:
        assert conn.execute("select 1 + 1").fetchone() == (2,)
        assert conn.execute("show fsync").fetchone() == ("on",)

"""A PostgreSQL deployment keeps its scenario jobs in PostgreSQL: the job service on a real server."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from api.services.jobs import JobManager, JobSettings
from simulations.scenario import ScenarioSpec
from tests.api.test_scenarios import toy_work
from tests.api.test_store_postgres import pg_dsn, pg_server  # noqa: F401  (the server fixtures)

pytestmark = pytest.mark.postgres


def test_jobs_run_from_postgres_and_no_sqlite_file_appears(tmp_path: Path, pg_dsn: str) -> None:  # noqa: F811
    manager = JobManager(
        tmp_path / "state", dsn=pg_dsn, work=toy_work, settings=JobSettings(max_concurrent=1), poll_s=0.02
    )
    try:
        spec = ScenarioSpec.from_dict(
            {"name": "PostgreSQL", "kind": "traffic", "seeds": [1, 2], "horizon": "1h",
             "changes": [{"type": "set", "param": "traffic.demand.multiplier", "value": 2.0}]}
        )  # fmt: skip
        job = manager.submit(spec)
        deadline = time.monotonic() + 90
        while not (got := manager.get(job.id)).final:
            assert time.monotonic() < deadline, got
            time.sleep(0.05)
        assert got.status == "done", got.error
        assert manager.result(job.id).kpis["traffic.x"]["mean"] == pytest.approx(21.5)
    finally:
        manager.close()
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT status, kpis FROM scenario_jobs WHERE job_id = %s", (job.id,)).fetchone()
    assert row is not None
    assert row[0] == "done"
    assert "traffic.x" in row[1]
    assert not list((tmp_path / "state").rglob("*.sqlite3"))  # nothing kept in a local SQLite file

"""Scenario jobs in the store: the `JobRecord`, its table (a migration per dialect) and the job methods.

Both backends mix `JobStoreMethods` in, so a PostgreSQL deployment keeps its jobs in PostgreSQL and the
embedded service in its SQLite file, with the same semantics (``tests/api/store_contract.py``):

- Status changes are *conditional* updates (``… WHERE status IN (…)``): a cancelled job stays cancelled
  even if its worker finishes a moment later, and a finished job never moves again.
- `claim_job` moves the oldest queued job to running in one statement (``UPDATE … WHERE job_id =
  (SELECT … LIMIT 1) AND status = 'queued' RETURNING …``), so two dispatchers never start the same job.
  Several service instances on one PostgreSQL database claim with ``FOR UPDATE SKIP LOCKED`` on the
  inner SELECT (`_CLAIM_LOCK`): a row another dispatcher is claiming is skipped, never claimed twice.
- **Leases.** A claim records the claiming instance (``owner``) and a lease; the instance renews the
  leases of its running jobs (`renew_job_leases`) and any instance fails the running jobs whose lease
  ran out (`fail_expired_jobs`): a job whose instance died is failed (to be submitted again), never lost
  and never run a second time (a late finish of a failed job changes nothing: updates are conditional).
- Writes go through the backend's group-commit writer, so they are durable when their future completes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from api.store.base import now_utc, to_us
from api.store.common import Column, RecordReads, RowCodec, opt_time_column, placeholders, time_column

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
#: States a job never leaves.
FINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})
#: The first migration version of the jobs tables (issue 12's range; the core schema uses 1, 2, …).
JOBS_MIGRATION = 1201

#: The lease columns of the jobs table (issue 20's range).
JOBS_LEASE_MIGRATION = 2001


def job_migrations(big: str, real: str, text_id: str) -> tuple[tuple[int, str], ...]:
    """Return the jobs table's migrations in one dialect's types (integer, float, id text)."""
    return (
        (
            JOBS_MIGRATION,
            f"""
            CREATE TABLE scenario_jobs (
                job_id {text_id} PRIMARY KEY NOT NULL,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                progress {real} NOT NULL DEFAULT 0,
                message TEXT NOT NULL DEFAULT '',
                error TEXT,
                created_us {big} NOT NULL,
                started_us {big},
                finished_us {big},
                spec TEXT NOT NULL,
                kpis TEXT NOT NULL DEFAULT '{{}}',
                layers TEXT NOT NULL DEFAULT '[]',
                pid INTEGER
            );
            CREATE INDEX scenario_jobs_status_created ON scenario_jobs (status, created_us);
            CREATE INDEX scenario_jobs_created ON scenario_jobs (created_us)
            """,
        ),
    )


def job_lease_migrations(big: str) -> tuple[tuple[int, str], ...]:
    """Return the migration that adds the claiming instance and its lease to the jobs table."""
    return (
        (
            JOBS_LEASE_MIGRATION,
            f"""
            ALTER TABLE scenario_jobs ADD COLUMN owner TEXT;
            ALTER TABLE scenario_jobs ADD COLUMN lease_us {big}
            """,
        ),
    )


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One scenario job as stored: what it runs (`spec`), where it is, and its headline results."""

    id: str
    name: str
    kind: str
    status: str
    created_at: datetime
    spec: dict[str, Any]
    progress: float = 0.0
    message: str = ""
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    kpis: dict[str, Any] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)
    pid: int | None = None

    @property
    def final(self) -> bool:
        """Whether the job will not change any more."""
        return self.status in FINAL_STATES

    def summary(self) -> dict[str, Any]:
        """Return the fields of a listing row (JSON-serialisable)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "progress": round(100.0 * self.progress, 1),
            "message": self.message,
            "error": self.error,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "seeds": list(self.spec.get("seeds", [])) if isinstance(self.spec, dict) else [],
        }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t else None


def _json(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False)


#: A job as a row of the ``scenario_jobs`` table.
JOBS = RowCodec(
    JobRecord,
    "scenario_jobs",
    "job_id",
    (
        Column("id", "job_id"), "name", "kind", "status", Column("progress", to_db=float, from_db=float),
        "message", "error", time_column("created_at", "created_us"),
        opt_time_column("started_at", "started_us"), opt_time_column("finished_at", "finished_us"),
        Column("spec", to_db=_json, from_db=json.loads), Column("kpis", to_db=_json, from_db=json.loads),
        Column("layers", to_db=lambda names: json.dumps(list(names)), from_db=json.loads), "pid",
    ),
)  # fmt: skip
JOB_COLS = JOBS.cols


class JobStoreMethods(RecordReads):
    """The job methods of `api.store.base.Store`, over the backend's `_read`, `_submit` and `_sql`."""

    _GREATEST: ClassVar[str] = "MAX"
    #: Row lock of the claim's inner SELECT ("" on SQLite, whose writer is the only one; a multi-instance
    #: PostgreSQL dispatcher sets ``FOR UPDATE SKIP LOCKED``).
    _CLAIM_LOCK: ClassVar[str] = ""

    if TYPE_CHECKING:

        def _submit(self, op: Callable[[Any], Any]) -> Future[Any]: ...

    def _update_job(self, sql: str, params: Sequence[Any]) -> Future[bool]:
        stmt = self._sql(sql)
        return self._submit(lambda conn: conn.execute(stmt, params).rowcount > 0)

    def submit_job(self, job: JobRecord) -> Future[JobRecord]:
        """Insert a new job (its id must be new)."""
        sql = self._sql(f"INSERT INTO scenario_jobs ({JOB_COLS}) VALUES ({placeholders(14)})")
        row = JOBS.row(job)

        def op(conn: Any) -> JobRecord:
            conn.execute(sql, row)
            return job

        return self._submit(op)

    def get_job(self, job_id: str) -> JobRecord | None:
        """Return one job, or None."""
        return self._get_record(JOBS, job_id)

    def list_jobs(self, status: str | None = None, limit: int = 100) -> list[JobRecord]:
        """Return jobs newest first, optionally of one status."""
        return self._newest_records(JOBS, status, limit)

    def count_jobs(self, status: str) -> int:
        """Return how many jobs are in `status`."""
        rows = self._read(self._sql("SELECT count(*) FROM scenario_jobs WHERE status = ?"), (status,))
        return int(rows[0][0])

    def claim_job(
        self, pid: int | None = None, owner: str | None = None, lease_s: float = 0.0
    ) -> Future[JobRecord | None]:
        """Move the oldest queued job to running (recording `pid`, and `owner` holding a lease of
        `lease_s` seconds) and return it; None if none waits."""
        sql = self._sql(
            "UPDATE scenario_jobs SET status = 'running', started_us = ?, pid = ?, message = 'starting', "
            "owner = ?, lease_us = ? "
            "WHERE job_id = (SELECT job_id FROM scenario_jobs WHERE status = 'queued' "
            f"ORDER BY created_us, job_id LIMIT 1 {self._CLAIM_LOCK}) AND status = 'queued' "
            f"RETURNING {JOB_COLS}"
        )
        now = to_us(now_utc())
        params = (now, pid, owner, now + int(lease_s * 1e6) if owner else None)

        def op(conn: Any) -> JobRecord | None:
            rows = conn.execute(sql, params).fetchall()
            return JOBS.from_row(rows[0]) if rows else None

        return self._submit(op)

    def renew_job_leases(self, owner: str, lease_s: float) -> Future[bool]:
        """Extend the lease of every running job `owner` holds to `lease_s` seconds from now."""
        until = to_us(now_utc()) + int(lease_s * 1e6)
        return self._update_job(
            "UPDATE scenario_jobs SET lease_us = ? WHERE owner = ? AND status = 'running'", (until, owner)
        )

    def fail_expired_jobs(self) -> Future[list[str]]:
        """Fail the running jobs whose lease ran out (their instance stopped renewing); return their ids."""
        sql = self._sql(
            "UPDATE scenario_jobs SET status = 'failed', finished_us = ?, message = 'failed', error = "
            "'the service instance running this job stopped (its lease ran out); submit it again' "
            "WHERE status = 'running' AND lease_us IS NOT NULL AND lease_us < ? RETURNING job_id"
        )
        now = to_us(now_utc())

        def op(conn: Any) -> list[str]:
            return [r[0] for r in conn.execute(sql, (now, now)).fetchall()]

        return self._submit(op)

    def start_job(self, job_id: str, pid: int | None) -> Future[bool]:
        """Move one queued job to running (a foreground run); False if it is no longer queued."""
        return self._update_job(
            "UPDATE scenario_jobs SET status = 'running', started_us = ?, pid = ?, message = 'starting' "
            "WHERE job_id = ? AND status = 'queued'",
            (to_us(now_utc()), pid, job_id),
        )

    def set_job_pid(self, job_id: str, pid: int | None) -> Future[bool]:
        """Record the worker process of a job."""
        return self._update_job("UPDATE scenario_jobs SET pid = ? WHERE job_id = ?", (pid, job_id))

    def set_job_progress(self, job_id: str, fraction: float, message: str) -> Future[bool]:
        """Record the progress of a running job (never backwards; ignored once it has ended)."""
        frac = min(max(float(fraction), 0.0), 1.0)
        return self._update_job(
            f"UPDATE scenario_jobs SET progress = {self._GREATEST}(progress, ?), message = ? "
            "WHERE job_id = ? AND status = 'running'",
            (frac, message[:500], job_id),
        )

    def finish_job(self, job_id: str, kpis: dict[str, Any], layers: list[str]) -> Future[bool]:
        """Mark a running job done with its KPIs and layer names; False if it is not running."""
        return self._update_job(
            "UPDATE scenario_jobs SET status = 'done', progress = 1, message = 'done', finished_us = ?, "
            "kpis = ?, layers = ? WHERE job_id = ? AND status = 'running'",
            (to_us(now_utc()), json.dumps(kpis, ensure_ascii=False), json.dumps(layers), job_id),
        )

    def fail_job(self, job_id: str, error: str) -> Future[bool]:
        """Mark a queued or running job failed with `error`; False if it had already ended."""
        return self._update_job(
            "UPDATE scenario_jobs SET status = 'failed', error = ?, finished_us = ?, message = 'failed' "
            "WHERE job_id = ? AND status IN ('queued', 'running')",
            (error[:4000], to_us(now_utc()), job_id),
        )

    def cancel_job(self, job_id: str) -> Future[bool]:
        """Mark a queued or running job cancelled; False if it had already ended."""
        return self._update_job(
            "UPDATE scenario_jobs SET status = 'cancelled', finished_us = ?, message = 'cancelled' "
            "WHERE job_id = ? AND status IN ('queued', 'running')",
            (to_us(now_utc()), job_id),
        )

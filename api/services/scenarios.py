"""Scenario runs on the city model: the city a scenario runs on, and where its results live.

`simulations.runner.run_scenario` runs a spec on a `twin.city.City`; this module supplies the city
(`gis_data.city.build_city` from the data cache, at the service's H3 resolution ``TWIN_H3_RES``) for
the job workers (`api.services.jobs`), the CLI and Dask sweeps (`CitySimulation`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from api.errors import NotFound
from api.store import Store
from api.store.jobs import JobRecord
from gis_data.city import build_city
from simulations import registry, runner
from simulations.results import MissingResultError, Progress, RunResult, StoredResult
from simulations.scenario import ScenarioSpec, mode_split_notes
from twin.city import City
from twin.errors import InputError


def city_for(spec: ScenarioSpec, data_dir: Path | None, res: int) -> City:
    """Return the (memoised) city model a scenario runs on, at H3 resolution `res`."""
    return build_city(data_dir, road_source=spec.city.road_source, seed=spec.city.seed, res=res)


@dataclass(frozen=True)
class Checked:
    """A scenario checked as a run would check it: what each closure selects and the notes to show."""

    spec: ScenarioSpec
    closures: list[tuple[str, list[int]]]
    notes: list[str]

    def summary(self) -> str:
        """Return the one-line verdict `twin scenario validate` prints (and the page shows)."""
        return (
            f"valid {self.spec.name!r}: {', '.join(self.spec.kinds)}, seeds {list(self.spec.seeds)}, "
            f"{len(self.spec.changes)} change(s)"
        )


def check(spec: ScenarioSpec, data_dir: Path | None, res: int, *, offline: bool = False) -> Checked:
    """Check `spec` against the city network it would run on (unless `offline`), without running it.

    The one check of `twin scenario validate` and ``POST /scenarios/validate``: road names, link ids
    and areas resolved on the network (an `InputError` naming the field, with "did you mean"), the
    links each closure selects, and the mode-split notes.
    """
    closures: list[tuple[str, list[int]]] = []
    if not offline:
        city = city_for(spec, data_dir, res)
        spec.resolve(city.network, res=city.res)
        closures = [(label, [int(i) for i in ids]) for label, ids in spec.closures(city.network)]
    return Checked(spec, closures, mode_split_notes(spec))


def run_on_data(
    spec: ScenarioSpec, progress: Progress, data_dir: Path | None, res: int
) -> dict[str, list[RunResult]]:
    """Build the city from the data cache and run every simulation × seed of `spec` on it."""
    progress(0.0, "building the city model")
    return runner.run_scenario(spec, city_for(spec, data_dir, res), progress)


def result_dir(root: Path, job_id: str) -> Path:
    """Return the results folder of a job under `root` (``<state_dir>/scenarios``)."""
    if not job_id or "/" in job_id or "\\" in job_id or job_id.startswith("."):
        raise NotFound("scenario", job_id)
    return Path(root) / job_id


@dataclass(frozen=True)
class CitySimulation:
    """A picklable simulation that builds (once per process) the city it runs on: for Dask workers."""

    kind: str
    data_dir: Path | None = None
    road_source: Literal["synthetic", "osm"] = "synthetic"
    city_seed: int = 2025
    res: int = 9

    def __call__(self, params: Any, seed: int, progress: Progress | None = None) -> RunResult:
        """Run the simulation on the city model (built on first call in this process)."""
        city = build_city(self.data_dir, road_source=self.road_source, seed=self.city_seed, res=self.res)
        return registry.get(self.kind).bind(city)(params, seed, progress)


def stored_result(store: Store, state_dir: Path, job_id: str) -> StoredResult:
    """Return the stored results of a finished job; raise `NotFound` / `InputError` otherwise."""
    job = store.get_job(job_id)
    if job is None:
        raise NotFound("scenario", job_id)
    if job.status != "done":
        raise InputError(
            "scenario", f"job {job_id} is {job.status}, not done", hint="wait until its status is done"
        )
    try:
        return StoredResult.open(result_dir(Path(state_dir) / "scenarios", job_id))
    except MissingResultError as e:
        raise NotFound(e.kind, e.name) from None


def adopt_legacy_jobs(store: Store, state_dir: Path) -> int:
    """Move the jobs of the old per-service SQLite jobs file (``scenarios/jobs.sqlite3``) into `store`.

    Earlier versions kept scenario jobs in their own file beside the results; their results folders
    stay where they are. Jobs already in the store are skipped; the old file is renamed
    ``jobs.sqlite3.migrated``. Returns how many jobs were moved.
    """
    old = Path(state_dir) / "scenarios" / "jobs.sqlite3"
    if not old.is_file():
        return 0

    def t(v: str | None) -> datetime | None:
        return datetime.fromisoformat(v) if v else None

    conn = sqlite3.connect(old)
    try:
        rows = conn.execute(
            "SELECT id, name, kind, status, progress, message, error, created_at, started_at, "
            "finished_at, spec, kpis, layers, pid FROM jobs"
        ).fetchall()
    finally:
        conn.close()
    moved = 0
    for r in rows:
        if store.get_job(r[0]) is not None:
            continue
        created = t(r[7])
        assert created is not None
        status = "failed" if r[3] in ("queued", "running") else r[3]
        error = r[6] if status == r[3] else "the service was upgraded while this job waited or ran"
        job = JobRecord(
            id=r[0], name=r[1], kind=r[2], status=status, progress=float(r[4]), message=r[5],
            error=error, created_at=created, started_at=t(r[8]), finished_at=t(r[9]),
            spec=json.loads(r[10]), kpis=json.loads(r[11]), layers=json.loads(r[12]), pid=r[13],
        )  # fmt: skip
        store.submit_job(job).result(timeout=60)
        moved += 1
    old.rename(old.with_name("jobs.sqlite3.migrated"))
    for suffix in ("-wal", "-shm"):
        old.with_name(old.name + suffix).unlink(missing_ok=True)
    return moved

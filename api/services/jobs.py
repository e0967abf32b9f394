"""Scenario jobs: a SQLite jobs table, background worker processes, and results stored on disk.

A job runs one `simulations.scenario.ScenarioSpec` (every simulation it names × every seed) in its
own worker process (forked from a clean fork server), so the API stays responsive and a cancel stops
it at once. At most `JobSettings.max_concurrent` jobs run together; up to `max_queued` more wait in
line (beyond that a submit is refused with `QuotaExceededError`, a 429). The worker writes its
progress to the jobs table (SQLite, WAL) and its results to ``<state_dir>/scenarios/<job id>/``:

``spec.json``
    The validated spec.
``result.json``
    KPIs (mean, std, 95 % CI and n over the seeds, named ``<kind>.<kpi>``), per-seed KPIs, the layer
    and table index with provenance, and run metadata.
``layers/<kind>.<name>.parquet``, ``tables/<kind>.<name>.parquet``
    GeoParquet layers (numeric columns averaged over seeds when the seeds share the layer's index)
    and tidy tables (first seed).

The same functions serve the CLI (`run_in_foreground`) so CLI runs appear in the API listing too.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import multiprocessing as mp
import os
import shutil
import sqlite3
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from api.errors import NotFound
from api.settings import JobSettings
from gis_data.city import build_city
from simulations import runner
from simulations.results import Progress, RunResult, Simulation
from simulations.scenario import ScenarioSpec
from twin import provenance
from twin.city import City
from twin.errors import InputError, TwinError

_log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
FINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})
#: Layer and table names are ``<kind>.<name>`` of these characters only (they become file names).
SAFE_NAME = r"^[a-z][a-z0-9_]*\.[a-z0-9_]+$"

#: What a job runs: the spec, a progress callback and the data cache → results per simulation kind.
Work = Callable[[ScenarioSpec, Progress, Path | None], dict[str, list[RunResult]]]


class QuotaExceededError(TwinError):
    """Too many scenario jobs are running or waiting."""

    status_code = 429
    retry_after = 30


# -- jobs table ----------------------------------------------------------------------------------
@dataclass
class Job:
    """One scenario job as the jobs table holds it."""

    id: str
    name: str
    kind: str
    status: str
    progress: float
    message: str
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    spec: dict[str, Any]
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
        }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t else None


def _now() -> datetime:
    return datetime.now(UTC)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    spec TEXT NOT NULL,
    kpis TEXT NOT NULL DEFAULT '{}',
    layers TEXT NOT NULL DEFAULT '[]',
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at);
"""


class JobStore:
    """The jobs table in a SQLite file (WAL): safe to use from the API and from worker processes.

    Each call opens its own short connection, so the store can be shared across threads and
    processes; status changes are conditional updates, so a cancelled job stays cancelled even if
    its worker finishes a moment later.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=15.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=15000")
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        finally:
            conn.close()

    def _update(self, sql: str, params: Sequence[Any]) -> bool:
        with self._conn() as conn:
            return conn.execute(sql, params).rowcount > 0

    @staticmethod
    def _row(r: Sequence[Any]) -> Job:
        def t(v: str | None) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        return Job(
            id=r[0], name=r[1], kind=r[2], status=r[3], progress=float(r[4]), message=r[5], error=r[6],
            created_at=datetime.fromisoformat(r[7]), started_at=t(r[8]), finished_at=t(r[9]),
            spec=json.loads(r[10]), kpis=json.loads(r[11]), layers=json.loads(r[12]), pid=r[13],
        )  # fmt: skip

    _COLS = (
        "id, name, kind, status, progress, message, error, created_at, started_at, finished_at, "
        "spec, kpis, layers, pid"
    )

    def create(self, spec: ScenarioSpec) -> Job:
        """Insert a queued job for `spec` and return it."""
        job_id = f"{_now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO jobs (id, name, kind, status, created_at, spec) "
                "VALUES (?, ?, ?, 'queued', ?, ?)",
                (
                    job_id,
                    spec.name,
                    spec.kind,
                    _now().isoformat(),
                    json.dumps(spec.to_dict(), ensure_ascii=False),
                ),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        """Return one job, or None."""
        with self._conn() as conn:
            r = conn.execute(f"SELECT {self._COLS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._row(r) if r else None

    def list_jobs(self, limit: int = 100, status: str | None = None) -> list[Job]:
        """Return jobs, newest first."""
        sql = f"SELECT {self._COLS} FROM jobs"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        with self._conn() as conn:
            return [self._row(r) for r in conn.execute(sql, params).fetchall()]

    def count(self, status: str) -> int:
        """Return how many jobs are in `status`."""
        with self._conn() as conn:
            return int(conn.execute("SELECT count(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0])

    def oldest_queued(self) -> Job | None:
        """Return the job that has waited longest."""
        jobs = self.list_jobs(limit=1_000_000, status="queued")
        return jobs[-1] if jobs else None

    def mark_running(self, job_id: str, pid: int | None) -> bool:
        """Move a queued job to running; False if it is no longer queued."""
        return self._update(
            "UPDATE jobs SET status='running', started_at=?, pid=?, message='starting' "
            "WHERE id=? AND status='queued'",
            (_now().isoformat(), pid, job_id),
        )

    def set_pid(self, job_id: str, pid: int | None) -> None:
        """Record the worker process of a running job."""
        self._update("UPDATE jobs SET pid=? WHERE id=?", (pid, job_id))

    def set_progress(self, job_id: str, fraction: float, message: str) -> None:
        """Record the progress of a running job (ignored once it has ended)."""
        frac = min(max(float(fraction), 0.0), 1.0)
        self._update(
            "UPDATE jobs SET progress=max(progress, ?), message=? WHERE id=? AND status='running'",
            (frac, message[:500], job_id),
        )

    def finish(self, job_id: str, kpis: dict[str, Any], layers: list[str]) -> bool:
        """Mark a running job done with its KPIs and layer names."""
        return self._update(
            "UPDATE jobs SET status='done', progress=1, message='done', finished_at=?, kpis=?, layers=? "
            "WHERE id=? AND status='running'",
            (_now().isoformat(), json.dumps(kpis), json.dumps(layers), job_id),
        )

    def fail(self, job_id: str, error: str) -> bool:
        """Mark a queued or running job failed with `error`."""
        return self._update(
            "UPDATE jobs SET status='failed', error=?, finished_at=?, message='failed' "
            "WHERE id=? AND status IN ('queued', 'running')",
            (error[:4000], _now().isoformat(), job_id),
        )

    def cancel(self, job_id: str) -> bool:
        """Mark a queued or running job cancelled; False if it had already ended."""
        return self._update(
            "UPDATE jobs SET status='cancelled', finished_at=?, message='cancelled' "
            "WHERE id=? AND status IN ('queued', 'running')",
            (_now().isoformat(), job_id),
        )


# -- running a scenario --------------------------------------------------------------------------
def simulation_for(kind: str, city: City) -> Simulation:
    """Return the simulation of `kind` bound to the city model's network, cells and wards."""
    # The models (mesa, pyvrp) load with the first scenario, not with the service's start-up.
    from simulations.traffic import model as traffic_model  # noqa: PLC0415
    from simulations.waste import model as waste_model  # noqa: PLC0415

    cells = city.cells(city.res)
    if kind == "traffic":
        return partial(traffic_model.run, network=city.network, cells=cells, wards=city.wards)
    if kind == "waste":
        return partial(waste_model.run, network=city.network, cells=cells, wards=city.core_wards)
    raise InputError("kind", f"unknown simulation {kind!r}", hint="use traffic or waste")


def city_for(spec: ScenarioSpec, data_dir: Path | None) -> City:
    """Return the (memoised) city model a scenario runs on."""
    return build_city(data_dir, road_source=spec.city.road_source, seed=spec.city.seed, res=spec.city.res)


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
        return simulation_for(self.kind, city)(params, seed, progress)


def run_scenario(
    spec: ScenarioSpec, progress: Progress | None = None, data_dir: Path | None = None
) -> dict[str, list[RunResult]]:
    """Run every simulation of `spec` with every seed; return the results per kind.

    Progress is reported over the whole scenario (each run is an equal share).
    """
    report = progress or (lambda _f, _m: None)
    report(0.0, "building the city model")
    city = city_for(spec, data_dir)
    params = spec.resolve(city.network)
    plan = [(kind, seed) for kind in spec.kinds for seed in spec.seeds]
    out: dict[str, list[RunResult]] = {k: [] for k in spec.kinds}
    for i, (kind, seed) in enumerate(plan):
        sim = simulation_for(kind, city)

        def sub(f: float, msg: str, i: int = i, kind: str = kind, seed: int = seed) -> None:
            report((i + min(max(f, 0.0), 1.0)) / len(plan), f"{kind}, seed {seed}: {msg}")

        sub(0.0, "starting")
        out[kind].append(runner.run_one(sim, params[kind], seed, sub))
    report(1.0, "saving results")
    return out


# -- results on disk -----------------------------------------------------------------------------
def _mean_layer(layers: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Average the numeric columns that vary across seeds (ids and constants are kept as they are)."""
    first = layers[0]
    if len(layers) == 1 or any(
        not (g.index.equals(first.index) and list(g.columns) == list(first.columns)) for g in layers
    ):
        return first
    out = first.copy()
    for col in first.columns:
        if col == first.geometry.name or not pd.api.types.is_numeric_dtype(first[col]):
            continue
        if pd.api.types.is_bool_dtype(first[col]):
            continue
        stack = np.column_stack([g[col].to_numpy(dtype=np.float64) for g in layers])
        if not np.allclose(stack, stack[:, :1], equal_nan=True):
            out[col] = np.nanmean(stack, axis=1) if np.isfinite(stack).any() else stack[:, 0]
    out.attrs = dict(first.attrs)
    return out


def _layer_provenance(kind: str, name: str, gdf: pd.DataFrame, spec: ScenarioSpec) -> dict[str, Any]:
    prov = provenance.of(gdf)
    if not prov:
        prov = provenance.Provenance(
            name=f"{kind}.{name}",
            source="simulated",
            licence="MIT",
            description=f"{kind} simulation output of scenario {spec.name!r}",
        ).to_dict()
    prov["synthetic"] = (
        True if prov.get("source") in ("synthetic", "simulated") else prov.get("synthetic", True)
    )
    prov["scenario"] = spec.name
    prov["seeds"] = list(spec.seeds)
    return prov


def save_results(out_dir: Path, spec: ScenarioSpec, results: dict[str, list[RunResult]]) -> dict[str, Any]:
    """Write a scenario's results under `out_dir` (see the module docstring); return ``result.json``."""
    (out_dir / "layers").mkdir(parents=True, exist_ok=True)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    (out_dir / "spec.json").write_text(json.dumps(spec.to_dict(), ensure_ascii=False, indent=2))
    kpis: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    layers: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for kind, rs in results.items():
        if not rs:
            continue
        summary = runner.aggregate_results(rs)
        for row in summary.itertuples(index=False):
            if is_performance(str(row.kpi)):
                continue  # machine-dependent timings go to meta, not to the scenario's KPIs
            kpis[f"{kind}.{row.kpi}"] = {
                "mean": _num(row.mean), "std": _num(row.std), "ci_low": _num(row.ci_low),
                "ci_high": _num(row.ci_high), "n": int(row.n),  # type: ignore[arg-type]
            }  # fmt: skip
        runs.extend(
            {"kind": kind, "seed": r.seed, **{k: _num(v) for k, v in r.kpis.items() if not is_performance(k)}}
            for r in rs
        )
        for name in rs[0].layers:
            gdf = _mean_layer([r.layers[name] for r in rs if name in r.layers])
            key = f"{kind}.{name}"
            out = gpd.GeoDataFrame(gdf).copy()
            out.attrs = {}
            out.to_parquet(out_dir / "layers" / f"{key}.parquet")
            layers[key] = {
                "rows": len(gdf),
                "geometry": sorted(set(gdf.geom_type.dropna())),
                "provenance": _layer_provenance(kind, name, gdf, spec),
            }
        for name, df in rs[0].tables.items():
            key = f"{kind}.{name}"
            t = df.copy()
            t.attrs = {}
            t.to_parquet(out_dir / "tables" / f"{key}.parquet")
            tables[key] = {"rows": len(df), "seed": rs[0].seed}
        meta[kind] = {
            "params": rs[0].params,
            "wall_s": [float(r.meta.get("wall_s", float("nan"))) for r in rs],
            "performance": [{k: _num(v) for k, v in r.kpis.items() if is_performance(k)} for r in rs],
            "meta": _jsonable(rs[0].meta),
        }
    doc = {"name": spec.name, "kind": spec.kind, "seeds": list(spec.seeds), "kpis": kpis,
           "runs": runs, "layers": layers, "tables": tables, "meta": meta}  # fmt: skip
    (out_dir / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    return doc


def is_performance(kpi: str) -> bool:
    """Return whether a KPI measures the machine (wall time, speed of the code) rather than the city."""
    return "wall_s" in kpi or kpi.endswith("_per_wall_s")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


@dataclass
class StoredResult:
    """A finished scenario's results as stored on disk."""

    path: Path
    doc: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> StoredResult:
        """Read ``result.json`` under `path`."""
        f = path / "result.json"
        if not f.is_file():
            raise NotFound("scenario result", path.name)
        return cls(path, json.loads(f.read_text()))

    @property
    def kpis(self) -> dict[str, dict[str, Any]]:
        """KPI name → {mean, std, ci_low, ci_high, n}."""
        return dict(self.doc.get("kpis", {}))

    @property
    def layer_names(self) -> list[str]:
        """Names of the stored layers."""
        return sorted(self.doc.get("layers", {}))

    @property
    def table_names(self) -> list[str]:
        """Names of the stored tables."""
        return sorted(self.doc.get("tables", {}))

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """Return one stored layer with its provenance attached."""
        if name not in self.doc.get("layers", {}):
            raise NotFound("layer", name)
        gdf = gpd.read_parquet(self.path / "layers" / f"{name}.parquet")
        gdf.attrs["provenance"] = self.doc["layers"][name].get("provenance", {})
        return gdf

    def table(self, name: str) -> pd.DataFrame:
        """Return one stored table."""
        if name not in self.doc.get("tables", {}):
            raise NotFound("table", name)
        return pd.read_parquet(self.path / "tables" / f"{name}.parquet")

    def runs(self) -> pd.DataFrame:
        """Return the per-seed KPI table (one row per kind and seed)."""
        return pd.DataFrame(self.doc.get("runs", []))

    def seed_table(self) -> pd.DataFrame:
        """Return the per-seed KPIs as one row per seed, columns ``<kind>.<kpi>`` (for paired tests)."""
        runs = self.runs()
        if runs.empty:
            return pd.DataFrame()
        parts = []
        for kind, g in runs.groupby("kind"):
            part = g.drop(columns=["kind"]).set_index("seed")
            parts.append(part.add_prefix(f"{kind}."))
        return pd.concat(parts, axis=1)

    def compare(self, other: StoredResult) -> pd.DataFrame:
        """Return the KPI deltas other − self (paired over common seeds, see `runner.compare_kpis`)."""
        return runner.compare_kpis(self.kpis, other.kpis, runs_a=self.seed_table(), runs_b=other.seed_table())


# -- the worker process --------------------------------------------------------------------------
def execute(
    store: JobStore,
    job_id: str,
    out_dir: Path,
    work: Work,
    *,
    data_dir: Path | None = None,
    min_interval_s: float = 0.25,
) -> None:
    """Run one job in this process: progress to the jobs table, results to `out_dir`, then finish."""
    job = store.get(job_id)
    if job is None or job.status != "running":
        return
    last = 0.0

    def progress(fraction: float, message: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= min_interval_s or fraction >= 1.0:
            last = now
            store.set_progress(job_id, fraction, message)

    try:
        spec = ScenarioSpec.from_dict(job.spec)
        results = work(spec, progress, data_dir)
        doc = save_results(out_dir, spec, results)
    except Exception as e:  # noqa: BLE001  (any failure is reported on the job, with its cause)
        msg = str(e) if isinstance(e, TwinError) else f"{type(e).__name__}: {e}"
        store.fail(job_id, msg + ("" if isinstance(e, TwinError) else "\n" + traceback.format_exc(limit=8)))
        return
    store.finish(job_id, doc["kpis"], sorted(doc["layers"]))


def _worker_main(db_path: str, job_id: str, out_dir: str, work: Work, data_dir: str | None) -> None:
    store = JobStore(Path(db_path))
    store.set_pid(job_id, os.getpid())
    execute(store, job_id, Path(out_dir), work, data_dir=Path(data_dir) if data_dir else None)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the manager ---------------------------------------------------------------------------------
class JobManager:
    """Queue, start, watch and cancel scenario jobs in spawned worker processes.

    Parameters
    ----------
    state_dir
        Where the jobs table (``scenarios/jobs.sqlite3``) and results (``scenarios/<id>/``) live.
    data_dir
        The data cache the city model is built from.
    settings
        Concurrency and queue limits.
    work
        What a job runs (default `run_scenario`); must be importable by a spawned process.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        data_dir: Path | None = None,
        settings: JobSettings | None = None,
        work: Work = run_scenario,
        poll_s: float = 0.1,
    ) -> None:
        self.root = Path(state_dir) / "scenarios"
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(self.root / "jobs.sqlite3")
        self.data_dir = data_dir
        self.settings = settings or JobSettings()
        self.work = work
        self.poll_s = poll_s
        self._procs: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A fork server: one clean process (no threads) that imports the models once, then forks a
        # fresh worker per job in milliseconds. Plain fork from the threaded API is unsafe; spawn
        # would re-import numba, PyVRP and geopandas for every job.
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload([__name__])
        self._recover()

    def _recover(self) -> None:
        """Fail the jobs a previous service left running (their worker is gone)."""
        for job in self.store.list_jobs(limit=10_000, status="running"):
            if not _pid_alive(job.pid):
                self.store.fail(job.id, "the service stopped while this job ran; submit it again")

    def result_dir(self, job_id: str) -> Path:
        """Return the results folder of a job."""
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise NotFound("scenario", job_id)
        return self.root / job_id

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the dispatcher thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="scenario-jobs", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the dispatcher and the running workers (their jobs are marked failed)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            for job_id, proc in list(self._procs.items()):
                if proc.is_alive():
                    proc.terminate()
                proc.join(timeout)
                self.store.fail(job_id, "the service stopped while this job ran; submit it again")
            self._procs.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except (sqlite3.Error, OSError) as e:  # keep dispatching; the next tick retries
                _log.warning("scenario jobs: dispatcher error: %s", e)
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _tick(self) -> None:
        with self._lock:
            for job_id, proc in list(self._procs.items()):
                if proc.is_alive():
                    continue
                proc.join()
                del self._procs[job_id]
                job = self.store.get(job_id)
                if job is not None and job.status == "running":
                    self.store.fail(job_id, f"the worker process exited with code {proc.exitcode}")
                if job is not None and job.status == "cancelled":
                    shutil.rmtree(self.result_dir(job_id), ignore_errors=True)
            while len(self._procs) < self.settings.max_concurrent:
                job = self.store.oldest_queued()
                if job is None or not self.store.mark_running(job.id, None):
                    break
                proc = self._ctx.Process(
                    target=_worker_main,
                    args=(str(self.store.path), job.id, str(self.result_dir(job.id)), self.work,
                          str(self.data_dir) if self.data_dir else None),
                    name=f"scenario-{job.id}",
                    daemon=True,
                )  # fmt: skip
                try:
                    proc.start()
                except OSError as e:  # out of processes or memory: fail this job, keep serving
                    self.store.fail(job.id, f"could not start a worker process: {e}")
                    continue
                self.store.set_pid(job.id, proc.pid)
                self._procs[job.id] = proc

    # -- operations -------------------------------------------------------------------------------
    def submit(self, spec: ScenarioSpec) -> Job:
        """Queue a job for `spec`; raise `QuotaExceededError` when the queue is full."""
        running = self.store.count("running")
        queued = self.store.count("queued")
        if queued >= self.settings.max_queued and running >= self.settings.max_concurrent:
            raise QuotaExceededError(
                f"{running} scenario jobs are running and {queued} are waiting "
                f"(limit {self.settings.max_queued})",
                hint="wait for jobs to finish or cancel some, then submit again",
            )
        job = self.store.create(spec)
        self.start()
        self._wake.set()
        return job

    def get(self, job_id: str) -> Job:
        """Return a job; raise `NotFound`."""
        job = self.store.get(job_id)
        if job is None:
            raise NotFound("scenario", job_id)
        return job

    def jobs(self, limit: int = 100, status: str | None = None) -> list[Job]:
        """Return jobs, newest first."""
        return self.store.list_jobs(limit, status)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job (its worker is stopped at once); a finished job is unchanged."""
        self.get(job_id)  # NotFound for an unknown id
        if self.store.cancel(job_id):
            with self._lock:
                proc = self._procs.get(job_id)
                if proc is not None and proc.is_alive():
                    proc.terminate()
            self._wake.set()
        return self.get(job_id)

    def result(self, job_id: str) -> StoredResult:
        """Return the stored results of a finished job; raise `NotFound` / `InputError` otherwise."""
        job = self.get(job_id)
        if job.status != "done":
            raise InputError(
                "scenario", f"job {job_id} is {job.status}, not done", hint="wait until its status is done"
            )
        return StoredResult.open(self.result_dir(job_id))

    def run_in_foreground(self, spec: ScenarioSpec, progress: Progress | None = None) -> Job:
        """Run a job in this process (the CLI's way), recorded in the same table as API jobs."""
        job = self.store.create(spec)
        self.store.mark_running(job.id, os.getpid())

        def both(f: float, m: str) -> None:
            if progress is not None:
                progress(f, m)

        def work(s: ScenarioSpec, p: Progress, d: Path | None) -> dict[str, list[RunResult]]:
            def tee(f: float, m: str) -> None:
                p(f, m)
                both(f, m)

            return self.work(s, tee, d)

        execute(self.store, job.id, self.result_dir(job.id), work, data_dir=self.data_dir, min_interval_s=0.5)
        return self.get(job.id)


# -- exports -------------------------------------------------------------------------------------
MEDIA = {
    "geojson": ("application/geo+json", ".geojson"),
    "parquet": ("application/vnd.apache.parquet", ".parquet"),
    "csv": ("text/csv; charset=utf-8", ".csv"),
}


def export_frame(
    frame: pd.DataFrame, fmt: str, *, name: str = "", meta: dict[str, Any] | None = None
) -> tuple[bytes, str, str]:
    """Return (bytes, media type, file suffix) of a layer or table as GeoJSON, (Geo)Parquet or CSV.

    GeoJSON is a FeatureCollection in EPSG:4326 with ``name`` and `meta` (provenance) as foreign
    members; CSV writes geometry as WKT; Parquet keeps the geometry as GeoParquet.
    """
    if fmt not in MEDIA:
        raise InputError("format", f"must be one of {', '.join(MEDIA)}, got {fmt!r}")
    media, suffix = MEDIA[fmt]
    is_geo = isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns
    clean = frame.copy()
    clean.attrs = {}
    if fmt == "geojson":
        if not is_geo:
            raise InputError("format", "tables have no geometry: ask for csv or parquet")
        gdf = gpd.GeoDataFrame(clean).to_crs(4326)
        doc = json.loads(gdf.to_json(na="null", drop_id=False))
        doc["name"] = name
        doc.update(_jsonable(meta or {}))
        return json.dumps(doc, ensure_ascii=False, allow_nan=False).encode(), media, suffix
    if fmt == "parquet":
        buf = io.BytesIO()
        clean.to_parquet(buf)
        return buf.getvalue(), media, suffix
    if is_geo:
        geom = clean.geometry.name
        clean = pd.DataFrame(clean.drop(columns=geom).assign(wkt=clean.geometry.to_wkt()))
    return clean.to_csv(index=not isinstance(clean.index, pd.RangeIndex)).encode("utf-8"), media, suffix

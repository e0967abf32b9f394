"""Scenario jobs: the queue and the worker processes (jobs are stored behind `api.store.base.Store`).

A job runs one `simulations.scenario.ScenarioSpec` (every simulation it names × every seed), or one
traffic calibration (`api.services.calibration.CalibrationRequest`, job kind ``calibration``), in its
own worker process (forked from a clean fork server), so the API stays responsive and a cancel stops
it at once. At most `JobSettings.max_concurrent` jobs run together; up to `max_queued` more wait in
line (beyond that a submit is refused with `QuotaExceededError`, a 429). Jobs live in the service's
store (the ``scenario_jobs`` table of SQLite or PostgreSQL, `api.store.jobs`): the dispatcher claims
the oldest queued job there, and the worker, with its own connection to the same store, writes its
progress and outcome there and its results to ``<state_dir>/scenarios/<job id>/``
(`simulations.results.save_results`). What a job runs is `api.services.scenarios.run_on_data`.

Several instances on one PostgreSQL store (``TWIN_CLUSTER_ENABLED``) each run a dispatcher: a claim is
``FOR UPDATE SKIP LOCKED`` (one instance gets each job) and names the instance (`owner`) with a lease
that its dispatcher renews; every dispatcher fails the jobs whose lease ran out, so the job of an
instance that died is failed within ``TWIN_CLUSTER_JOB_LEASE_S`` (never run a second time). The
instances share the state folder (results are files under it).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import shutil
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from api.errors import NotFound, StoreError
from api.responses import dumps
from api.services import calibration, scenarios
from api.services.bus import Bus, Message
from api.settings import JobSettings
from api.store import Store, default_dsn, open_store
from api.store.base import now_utc
from api.store.jobs import FINAL_STATES, JobRecord
from gis_data.city import build_city
from simulations.results import Progress, RunResult, StoredResult, save_results
from simulations.scenario import ScenarioSpec
from twin.errors import TwinError

_log = logging.getLogger(__name__)

__all__ = ["FINAL_STATES", "Job", "JobManager", "JobSettings", "QuotaExceededError", "new_job"]

#: A job as the store holds it.
Job = JobRecord

#: What a job runs: the spec, a progress callback, the data cache and the H3 resolution → results per kind.
Work = Callable[[ScenarioSpec, Progress, Path | None, int], dict[str, list[RunResult]]]


class QuotaExceededError(TwinError):
    """Too many scenario jobs are running or waiting."""

    status_code = 429
    retry_after = 30


def new_job(
    spec: ScenarioSpec | calibration.CalibrationRequest, status: str = "queued", pid: int | None = None
) -> JobRecord:
    """Return a new job record for `spec` (a scenario or a calibration; id: UTC time + random suffix)."""
    now = now_utc()
    return JobRecord(
        id=f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}", name=spec.name, kind=spec.kind, status=status,
        created_at=now, spec=spec.to_dict(), started_at=now if status == "running" else None, pid=pid,
        message="starting" if status == "running" else "",
    )  # fmt: skip


# -- the worker process --------------------------------------------------------------------------
class _Reporter:
    """A job's progress callback: to the store at most every `min_interval_s`, and a stop when the job
    ended elsewhere (failed when this worker's instance died, cancelled)."""

    def __init__(self, store: Store, job_id: str, min_interval_s: float, progress: Progress | None) -> None:
        self.store, self.job_id, self.min_interval_s, self.progress = store, job_id, min_interval_s, progress
        self.last = 0.0
        self.recorded: Future[bool] | None = None

    def __call__(self, fraction: float, message: str) -> None:
        if self.progress is not None:
            self.progress(fraction, message)
        rec = self.recorded
        if rec is not None and rec.done() and rec.exception() is None and not rec.result():
            raise TwinError("the job is no longer running here")
        now = time.monotonic()
        if now - self.last >= self.min_interval_s or fraction >= 1.0:
            self.last = now
            self.recorded = self.store.set_job_progress(self.job_id, fraction, message)  # group commit


def _fail(store: Store, job: JobRecord, e: Exception) -> None:
    msg = str(e) if isinstance(e, TwinError) else f"{type(e).__name__}: {e}"
    tb = "" if isinstance(e, TwinError) else "\n" + traceback.format_exc(limit=8)
    store.fail_job(job.id, msg + tb).result(timeout=60)


def execute(
    store: Store,
    job: JobRecord,
    spec: ScenarioSpec,
    out_dir: Path,
    work: Work,
    *,
    data_dir: Path | None = None,
    res: int,
    min_interval_s: float = 0.25,
    progress: Progress | None = None,
) -> None:
    """Run one running job in this process: progress to the store, results to `out_dir`, then finish."""
    report = _Reporter(store, job.id, min_interval_s, progress)
    try:
        results = work(spec, report, data_dir, res)
        report(1.0, "saving results")
        doc = save_results(out_dir, spec, results, res=res)
    except Exception as e:  # noqa: BLE001  (any failure is reported on the job, with its cause)
        _fail(store, job, e)
        return
    store.finish_job(job.id, doc["kpis"], sorted(doc["layers"])).result(timeout=60)


def execute_calibration(
    store: Store, job: JobRecord, out_dir: Path, *, data_dir: Path | None = None, res: int,
    min_interval_s: float = 0.25, progress: Progress | None = None,
) -> None:  # fmt: skip
    """Run one running calibration job (`api.services.calibration`): its files to `out_dir`, its fit
    figures as the job's KPIs."""
    report = _Reporter(store, job.id, min_interval_s, progress)
    try:
        req = calibration.CalibrationRequest.model_validate(job.spec)
        report(0.0, "building the city model")
        city = build_city(data_dir, res=res)
        rep = calibration.run(store, req, city, out_dir, report)
        report(1.0, "done")
    except Exception as e:  # noqa: BLE001  (any failure is reported on the job, with its cause)
        _fail(store, job, e)
        return
    store.finish_job(job.id, calibration.kpis(rep), []).result(timeout=60)


def _worker_main(  # noqa: PLR0917  (multiprocessing passes the arguments positionally)
    dsn: str, res: int, job_id: str, out_dir: str, work: Work, data_dir: str | None
) -> None:
    store = open_store(dsn, res=res)
    try:
        store.set_job_pid(job_id, os.getpid())
        job = store.get_job(job_id)
        if job is None or job.status != "running":
            return
        if job.kind == calibration.KIND:
            here = Path(data_dir) if data_dir else None
            execute_calibration(store, job, Path(out_dir), data_dir=here, res=res)
            return
        execute(store, job, ScenarioSpec.from_dict(job.spec), Path(out_dir), work,
                data_dir=Path(data_dir) if data_dir else None, res=res)  # fmt: skip
    finally:
        store.close()


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
        Where results (``scenarios/<id>/``) live, and the embedded store if `dsn` is not given.
    dsn
        The store the jobs live in (``sqlite:///…`` or ``postgresql://…``; the service's store).
    data_dir
        The data cache the city model is built from.
    res
        The H3 resolution scenarios run at (the service's ``TWIN_H3_RES``).
    settings
        Concurrency and queue limits.
    work
        What a job runs (default `api.services.scenarios.run_on_data`); must be importable by a
        forked worker.
    owner
        This instance's name when several share the store: its claims hold leases of `lease_s`
        seconds, renewed while their worker runs; without it jobs are checked by worker pid.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        dsn: str | None = None,
        data_dir: Path | None = None,
        res: int = 9,
        settings: JobSettings | None = None,
        work: Work = scenarios.run_on_data,
        poll_s: float = 0.1,
        owner: str | None = None,
        lease_s: float = 15.0,
    ) -> None:
        self.root = Path(state_dir) / "scenarios"
        self.root.mkdir(parents=True, exist_ok=True)
        self.dsn = dsn or default_dsn(Path(state_dir))
        self.res = res
        self._state_dir = Path(state_dir)
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self.data_dir = data_dir
        self.settings = settings or JobSettings()
        self.work = work
        self.poll_s = poll_s
        self.owner = owner
        self.lease_s = lease_s
        self._leaser: threading.Thread | None = None
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

    @property
    def store(self) -> Store:
        """The store the jobs live in, opened on first use (in the process that serves, never before a
        fork: an SQLite connection must not cross one), with old jobs adopted and dead ones failed."""
        with self._store_lock:
            if self._store is None:
                store = open_store(self.dsn, res=self.res)
                scenarios.adopt_legacy_jobs(store, self._state_dir)
                self._store = store
                self._recover()
            return self._store

    def _recover(self) -> None:
        """Fail the jobs a previous service left running (their worker is gone)."""
        assert self._store is not None
        if self.owner is not None:  # other instances' jobs run elsewhere: their leases tell
            self._store.fail_expired_jobs().result(timeout=60)
            return
        for job in self._store.list_jobs(status="running", limit=10_000):
            if not _pid_alive(job.pid):
                self._store.fail_job(job.id, "the service stopped while this job ran; submit it again")

    def result_dir(self, job_id: str) -> Path:
        """Return the results folder of a job."""
        return scenarios.result_dir(self.root, job_id)

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the dispatcher thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="scenario-jobs", daemon=True)
            self._thread.start()
            if self.owner is not None:
                self._leaser = threading.Thread(target=self._lease_loop, name="scenario-leases", daemon=True)
                self._leaser.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the dispatcher and the running workers (their jobs are marked failed)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._leaser is not None:
            self._leaser.join(timeout)
            self._leaser = None
        with self._lock:
            for job_id, proc in list(self._procs.items()):
                if proc.is_alive():
                    proc.terminate()
                proc.join(timeout)
                self.store.fail_job(job_id, "the service stopped while this job ran; submit it again")
            self._procs.clear()
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except (StoreError, OSError) as e:  # keep dispatching; the next tick retries
                _log.warning("scenario jobs: dispatcher error: %s", e)
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _lease_loop(self) -> None:
        """Renew this instance's leases every third of a lease and fail the jobs of instances that
        stopped renewing theirs (a thread of its own: starting a worker may hold the dispatcher)."""
        assert self.owner is not None
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.store.renew_job_leases(self.owner, self.lease_s).result(timeout=60)
                for job_id in self.store.fail_expired_jobs().result(timeout=60):
                    _log.warning("scenario job %s failed: the instance running it stopped", job_id)
            except (StoreError, OSError) as e:  # the next round retries
                _log.warning("scenario jobs: lease renewal failed: %s", e)

    def _tick(self) -> None:
        with self._lock:
            for job_id, proc in list(self._procs.items()):
                if proc.is_alive():
                    continue
                proc.join()
                del self._procs[job_id]
                job = self.store.get_job(job_id)
                if job is not None and job.status == "running":
                    self.store.fail_job(job_id, f"the worker process exited with code {proc.exitcode}")
                if job is not None and job.status == "cancelled":
                    shutil.rmtree(self.result_dir(job_id), ignore_errors=True)
            while len(self._procs) < self.settings.max_concurrent:
                job = self.store.claim_job(None, self.owner, self.lease_s).result(timeout=60)
                if job is None:
                    break
                proc = self._ctx.Process(
                    target=_worker_main,
                    args=(self.dsn, self.res, job.id, str(self.result_dir(job.id)), self.work,
                          str(self.data_dir) if self.data_dir else None),
                    name=f"scenario-{job.id}",
                    daemon=True,
                )  # fmt: skip
                try:
                    proc.start()
                except OSError as e:  # out of processes or memory: fail this job, keep serving
                    self.store.fail_job(job.id, f"could not start a worker process: {e}")
                    continue
                self.store.set_job_pid(job.id, proc.pid)
                self._procs[job.id] = proc

    # -- operations -------------------------------------------------------------------------------
    def submit(self, spec: ScenarioSpec | calibration.CalibrationRequest) -> Job:
        """Queue a job for `spec` (a scenario or a calibration); raise `QuotaExceededError` when full."""
        running = self.store.count_jobs("running")
        queued = self.store.count_jobs("queued")
        if queued >= self.settings.max_queued and running >= self.settings.max_concurrent:
            raise QuotaExceededError(
                f"{running} scenario jobs are running and {queued} are waiting "
                f"(limit {self.settings.max_queued})",
                hint="wait for jobs to finish or cancel some, then submit again",
            )
        job = self.store.submit_job(new_job(spec)).result(timeout=60)
        self.start()
        self._wake.set()
        return job

    def get(self, job_id: str) -> Job:
        """Return a job; raise `NotFound`."""
        job = self.store.get_job(job_id)
        if job is None:
            raise NotFound("scenario", job_id)
        return job

    def jobs(self, limit: int = 100, status: str | None = None) -> list[Job]:
        """Return jobs, newest first."""
        return self.store.list_jobs(status, limit)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job (its worker is stopped at once); a finished job is unchanged."""
        self.get(job_id)  # NotFound for an unknown id
        if self.store.cancel_job(job_id).result(timeout=60):
            with self._lock:
                proc = self._procs.get(job_id)
                if proc is not None and proc.is_alive():
                    proc.terminate()
            self._wake.set()
        return self.get(job_id)

    def result(self, job_id: str) -> StoredResult:
        """Return the stored results of a finished job; raise `NotFound` / `InputError` otherwise."""
        return scenarios.stored_result(self.store, self.root.parent, job_id)


def run_here(
    store: Store,
    state_dir: Path,
    spec: ScenarioSpec,
    *,
    data_dir: Path | None,
    res: int,
    progress: Progress | None = None,
    work: Work = scenarios.run_on_data,
) -> JobRecord:
    """Run `spec` in this process (the CLI's way), recorded in the store like the API's jobs.

    The validated spec runs as it is (no round trip through the job row); the job row only makes the
    run visible in ``GET /scenarios`` and comparable with the API's runs.
    """
    job = new_job(spec, status="running", pid=os.getpid())
    store.submit_job(job).result(timeout=60)
    out_dir = scenarios.result_dir(Path(state_dir) / "scenarios", job.id)
    execute(store, job, spec, out_dir, work, data_dir=data_dir, res=res, min_interval_s=0.5,
            progress=progress)  # fmt: skip
    done = store.get_job(job.id)
    assert done is not None
    return done


# -- job progress on the stream --------------------------------------------------------------------
#: How often the service looks for job changes to put on the stream (s).
WATCH_S = 1.0


def job_message(job: JobRecord) -> Message:
    """Return the ``job`` stream message of `job`: its listing row and where to read it."""
    base = "/calibrations" if job.kind == calibration.KIND else "/scenarios"
    return Message("job", dumps({**job.summary(), "url": f"{base}/{job.id}"}).decode())


async def watch(store: Store, bus: Bus, every_s: float = WATCH_S) -> None:
    """Publish a ``job`` message on the stream whenever a job's status, progress or message changes
    (the workers write them to the store from their own processes; jobs already finished when the
    service starts are not announced)."""
    import asyncio  # noqa: PLC0415

    seen: dict[str, tuple[str, float, str]] = {}
    while True:
        await asyncio.sleep(every_s)
        try:
            jobs = await asyncio.to_thread(store.list_jobs, None, 50)
        except (StoreError, OSError) as e:  # the next round retries
            _log.warning("job watch: %s", e)
            continue
        for job in reversed(jobs):  # oldest first
            key = (job.status, round(job.progress, 3), job.message)
            if seen.get(job.id) == key:
                continue
            if job.id in seen or job.status not in FINAL_STATES:
                bus.publish(job_message(job))
            seen[job.id] = key


def manager_of(app: Any) -> JobManager:
    """Return the app's job manager (``app.state.scenario_jobs``), made from its settings on first use."""
    from api.services.cluster import instance_name  # noqa: PLC0415
    from api.settings import Settings  # noqa: PLC0415

    state = app.state
    manager: JobManager | None = getattr(state, "scenario_jobs", None)
    if manager is None:
        settings: Settings = getattr(state, "settings", None) or Settings()
        manager = JobManager(
            settings.state_dir,
            dsn=settings.store_dsn,
            data_dir=settings.data.dir,
            res=settings.h3_res,
            settings=settings.jobs,
            owner=instance_name(settings.cluster) if settings.cluster.enabled else None,
            lease_s=settings.cluster.job_lease_s,
        )
        state.scenario_jobs = manager
    manager.start()
    return manager

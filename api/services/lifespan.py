"""Open the live service with the app and close it at shutdown (store, state, ticker, replayer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from fastapi import FastAPI

from api.auth.bootstrap import replayer_keys, start_auth
from api.deps import city_of
from api.services.city import CityLike
from api.services.cluster import joined
from api.services.live import LiveService, running
from api.settings import Settings
from api.store import default_dsn, open_store
from twin import h3grid
from twin.errors import TwinError

log = logging.getLogger("twin.live")


class _HasStats(Protocol):
    def stats_dict(self) -> dict[str, Any]: ...


def status_line(now: dict[str, Any], before: dict[str, Any] | None, seconds: float) -> str:
    """Return the one-line live status: events in since `before` (and the rate), totals, stream health."""
    ingest, stream = now.get("ingest", {}), now.get("stream", {})
    total = int(ingest.get("events", 0))
    new = total - int((before or {}).get("ingest", {}).get("events", 0))
    rate = new / seconds if seconds > 0 else 0.0
    return (
        f"live: {new:,} events in the last {seconds:.0f} s ({rate:.1f}/s), {total:,} since start; "
        f"{int(ingest.get('reports', 0)):,} reports, {int(ingest.get('alerts', 0)):,} alerts; "
        f"stream: {int(stream.get('subscribers', 0))} clients, {int(stream.get('dropped', 0)):,} dropped"
    )


async def log_status(live: _HasStats, every_s: float) -> None:
    """Log `status_line` every `every_s` seconds until cancelled (what `make run` shows coming in)."""
    before: dict[str, Any] | None = None
    last = time.monotonic()
    while True:
        await asyncio.sleep(every_s)
        now, at = live.stats_dict(), time.monotonic()
        log.info("%s", status_line(now, before, at - last))
        before, last = now, at


@contextlib.asynccontextmanager
async def live_lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[LiveService | None]:
    """Open the store (``settings.store_dsn`` or SQLite under ``settings.state_dir``), start the live
    state on ``app.state.live``, start the in-process replayer if ``settings.replay``, and undo it all.

    The city model is ``app.state.city`` if a caller put one there, else it is built (`api.deps`);
    tuning is ``app.state.live_settings`` if set, else ``settings.live`` (``TWIN_LIVE_*``). If the
    city or the store cannot be opened (e.g. the data cache was never fetched), the rest of the app
    still serves and the live routes answer 503 with the reason (``app.state.live_error``).
    """
    app.state.live = None
    app.state.live_error = None
    # Another lifespan of the same app (a test harness running its own) gets its authenticator back.
    outer_auth = getattr(app.state, "auth", None)
    app.state.auth = None
    dsn = settings.store_dsn or default_dsn(settings.state_dir)
    try:
        store = await asyncio.to_thread(open_store, dsn, res=settings.h3_res)
    except TwinError as e:
        log.error("live service not started: %s", e)
        app.state.live_error = str(e)
        yield None
        return
    try:
        # Credentials live in the same store; keys are checked even when the city cannot be built.
        app.state.auth = await asyncio.to_thread(start_auth, store, settings)
        given = getattr(app.state, "city", None)
        try:
            city: CityLike = given if given is not None else await asyncio.to_thread(city_of, app)
        except TwinError as e:
            log.error("live service not started: %s", e)
            app.state.live_error = str(e)
            yield None
            return
        tuning = getattr(app.state, "live_settings", None) or settings.live
        live = await asyncio.to_thread(LiveService, store, city, tuning)
        app.state.live = live
        # One of several instances on one PostgreSQL (TWIN_CLUSTER_ENABLED): stream bus, alert leader.
        async with joined(live, dsn, settings.cluster), running(live):
            replay_task = None
            if settings.replay and settings.replay_rate > 0:
                # httpx (~0.2 s to import) only when the in-process replayer runs
                from api.replayer import run_in_app  # noqa: PLC0415

                keys = await asyncio.to_thread(replayer_keys, store, settings) if settings.auth else {}
                replay_task = asyncio.create_task(
                    run_in_app(app, settings.replay_rate, seed=settings.seed, keys=keys), name="replayer"
                )
            # Load the numba H3 kernel (for batches over `h3grid.SMALL_BATCH` points) once serving:
            # ~1 s that a restart need not wait for; small inputs use h3 itself meanwhile.
            warm_task = asyncio.create_task(asyncio.to_thread(h3grid.warm_kernel), name="h3-kernel")
            # Job status and progress (scenario and calibration workers write them to the store).
            from api.services import jobs  # noqa: PLC0415

            jobs_task = asyncio.create_task(jobs.watch(store, live.bus), name="job-watch")
            forecast_task = None
            if settings.forecast_every_s > 0:
                from api.services import forecast  # noqa: PLC0415

                forecaster = forecast.forecaster_of(app, live)
                window_h = settings.recalibrate_window_h  # rolling re-calibration (0: off)
                submit = jobs.manager_of(app).submit if window_h > 0 else None
                forecast_task = asyncio.create_task(
                    forecast.worker(forecaster, settings.forecast_every_s, submit, window_h), name="forecast"
                )
            status_task = (
                asyncio.create_task(log_status(live, settings.status_log_s), name="status-log")
                if settings.status_log_s > 0
                else None
            )
            try:
                yield live
            finally:
                for task in (replay_task, status_task, warm_task, forecast_task, jobs_task):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
    finally:
        app.state.live = None
        app.state.auth = outer_auth
        await asyncio.to_thread(store.close)

"""Open the live service with the app and close it at shutdown (store, state, ticker, replayer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.auth.bootstrap import replayer_keys, start_auth
from api.deps import city_of
from api.replayer import run_in_app
from api.services.city import CityLike
from api.services.live import LiveService, LiveSettings, running
from api.settings import Settings
from api.store import default_dsn, open_store
from twin.errors import TwinError

log = logging.getLogger("twin.live")


@contextlib.asynccontextmanager
async def live_lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[LiveService | None]:
    """Open the store (``settings.store_dsn`` or SQLite under ``settings.state_dir``), start the live
    state on ``app.state.live``, start the in-process replayer if ``settings.replay``, and undo it all.

    The city model is ``app.state.city`` if a caller put one there, else it is built (`api.deps`);
    tuning is ``app.state.live_settings`` if set, else `LiveSettings` from ``TWIN_LIVE_*``. If the
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
        tuning = getattr(app.state, "live_settings", None) or LiveSettings()
        live = await asyncio.to_thread(LiveService, store, city, tuning)
        app.state.live = live
        async with running(live):
            replay_task = None
            if settings.replay and settings.replay_rate > 0:
                keys = await asyncio.to_thread(replayer_keys, store, settings) if settings.auth else {}
                replay_task = asyncio.create_task(
                    run_in_app(app, settings.replay_rate, seed=settings.seed, keys=keys), name="replayer"
                )
            try:
                yield live
            finally:
                if replay_task is not None:
                    replay_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await replay_task
    finally:
        app.state.live = None
        app.state.auth = outer_auth
        await asyncio.to_thread(store.close)

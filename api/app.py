"""The FastAPI app factory: `create_app(settings)`. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from api.auth.deps import install_auth
from api.errors import BodySizeLimit, install_error_handlers
from api.middleware import install_limits
from api.openapi import install_openapi
from api.routes import (
    alerts,
    cameras,
    cells,
    events,
    forecast,
    health,
    hotspots,
    incidents,
    ngsi,
    open311,
    stats,
    stream,
    traffic_counts,
    viewer,
)
from api.routes import auth as auth_routes
from api.routes import calibration as calibration_routes
from api.routes import layers as layers_routes
from api.routes import scenarios as scenarios_routes
from api.services.lifespan import live_lifespan
from api.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; heavy state (city model, store) is created in the lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        async with live_lifespan(app, settings):
            yield

    app = FastAPI(
        title="Lạng Sơn Digital Twin API",
        version="0.1.0",
        description="City model layers on H3, live IOC events, simulations and exports.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(layers_routes.router)
    # The live IOC service (events, H3 counts, hotspots, stream, cameras, alerts, Open311, NGSI-LD).
    install_error_handlers(app)
    for live_router in (events, cells, hotspots, stream, stats, cameras, alerts, incidents, open311, ngsi,
                        traffic_counts, forecast):  # fmt: skip
        app.include_router(live_router.router)
    app.include_router(scenarios_routes.router)
    app.include_router(calibration_routes.router)
    # Identities: /login (viewer session), /auth/whoami, /auth/keys (admin), /admin/purge.
    app.include_router(auth_routes.router)
    # The viewer's "/", /assets and /config: kept last so it never shadows an API route.
    app.include_router(viewer.router)
    # 401/403 answers, documented on every route that declares scopes (api.auth.policy).
    install_auth(app)
    # /openapi.json as tools read it: no dangling $ref, the real error bodies, every status sent.
    install_openapi(app)
    # GeoJSON layers shrink 5-10x; SSE (text/event-stream) is excluded by Starlette.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodySizeLimit)
    # Outermost: CORS allow-list, security headers, per-client rate limits (429 + Retry-After).
    install_limits(app, settings)
    return app

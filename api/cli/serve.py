"""`twin serve`: run the API (and the viewer it serves) with uvicorn."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
import uvicorn

from api.cli.base import app, console, friendly
from api.settings import LimitSettings, Settings


class _UvicornLike(logging.Formatter):
    """``INFO:     message``, as uvicorn prints its own lines."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname + ':':<10}{super().format(record)}"


def uvicorn_options(settings: Settings, limits: LimitSettings) -> dict[str, Any]:
    """Return the keyword arguments `twin serve` gives ``uvicorn.run``.

    uvicorn believes ``X-Forwarded-For`` / ``X-Forwarded-Proto`` from 127.0.0.1 unless told otherwise,
    which would let any local process (or a request relayed through one) pick the address the rate
    limiter and the access log see. Proxy headers are read only from the peers listed in
    ``TWIN_LIMIT_TRUSTED_PROXIES``; with none listed they are ignored and the peer address is the client.
    """
    trusted = [p.strip() for p in limits.trusted_proxies if p.strip()]
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or [],
        "server_header": False,
    }


@app.command("serve")
@friendly
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default $TWIN_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default $TWIN_PORT or 8000).")] = None,
    replay: Annotated[
        bool | None,
        typer.Option(
            "--replay/--no-replay", help="Run the synthetic event replayer (default $TWIN_REPLAY or on)."
        ),
    ] = None,
    warm: Annotated[
        bool, typer.Option("--warm/--no-warm", help="Build the city model before accepting requests.")
    ] = True,
) -> None:
    """Serve the twin: layers, live events, scenarios and the viewer at http://HOST:PORT."""
    from api.app import create_app
    from gis_data.city import build_city

    settings = Settings()
    given = {"host": host, "port": port, "replay": replay}
    settings = settings.model_copy(update={k: v for k, v in given.items() if v is not None})
    api = create_app(settings)
    if warm:
        with console.status("building the city model…"):
            api.state.city = build_city(
                settings.data.dir,
                road_source=settings.road_source,
                osm_file=settings.osm_file,
                seed=settings.seed,
                res=settings.h3_res,
            )
    # the service's own log lines (live status, sign-in link) next to uvicorn's, in its format
    twin_log = logging.getLogger("twin")
    if not twin_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_UvicornLike())
        twin_log.addHandler(handler)
        twin_log.setLevel(logging.INFO)
    console.print(f"serving the Lạng Sơn twin at http://{settings.host}:{settings.port}")
    uvicorn.run(api, **uvicorn_options(settings, settings.limits))

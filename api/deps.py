"""FastAPI dependencies shared by the routers: settings and the city model.

The city model is heavy (seconds to build), so the app builds it lazily: the first request that
needs it (or `city_of` called from a background task) builds it once with `gis_data.city.build_city`
and stores it on ``app.state.city``; a test may put its own `City` there first. Routes declare
``city: CityDep`` and never build anything themselves.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from api.settings import Settings
from gis_data.city import build_city
from twin.city import City

_BUILD_LOCK = threading.Lock()


def settings_of(app: FastAPI) -> Settings:
    """Return the app's settings (set in the lifespan; defaults from the environment otherwise)."""
    settings = getattr(app.state, "settings", None)
    if not isinstance(settings, Settings):
        settings = Settings()
        app.state.settings = settings
    return settings


def city_of(app: FastAPI) -> City:
    """Return the app's city model, building it on first use from the app's settings."""
    city = getattr(app.state, "city", None)
    if isinstance(city, City):
        return city
    with _BUILD_LOCK:
        city = getattr(app.state, "city", None)
        if not isinstance(city, City):
            s = settings_of(app)
            city = build_city(
                s.data.dir, road_source=s.road_source, osm_file=s.osm_file, seed=s.seed, res=s.h3_res
            )
            app.state.city = city
    return city


def get_settings(request: Request) -> Settings:
    """Dependency: the service settings."""
    return settings_of(request.app)


def get_city(request: Request) -> City:
    """Dependency: the city model (built on first use, then shared)."""
    return city_of(request.app)


SettingsDep = Annotated[Settings, Depends(get_settings)]
CityDep = Annotated[City, Depends(get_city)]

"""Build the `twin.city.City` from the data cache: load, generate what is synthetic, memoise.

`build_city` is the one entry point the API, the CLI and the notebooks use. It reads the real
reference data (wards, pre-2025 units, the old → new mapping) from the data cache, builds the road
network (`gis_data.roads.build_network`, synthetic by default or from an OSM extract), the Kỳ Cùng
centreline and the synthetic camera registry, and returns a `City`. Results are memoised per
arguments, so every caller in a process shares one model.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gis_data import load, roads
from gis_data.cameras_synthetic import synthetic_cameras
from gis_data.fetch import default_cache_dir
from twin import cameras as cam
from twin import h3grid
from twin.city import City
from twin.errors import InputError

RoadSource = Literal["synthetic", "osm"]

_CACHE: dict[tuple[str, str, str, int, int], City] = {}
#: The built inputs (wards, network, cameras, …) per data cache, road source and seed: a city at a
#: second H3 resolution reuses them (no second network build); each city caches its cells per res.
_PARTS: dict[tuple[str, str, str, int], dict[str, Any]] = {}
_LOCK = threading.Lock()


def build_city(
    cache_dir: Path | None = None,
    *,
    road_source: RoadSource = "synthetic",
    osm_file: Path | None = None,
    seed: int = 2025,
    res: int = h3grid.DEFAULT_RES,
) -> City:
    """Return the city model built from the data cache (memoised per arguments).

    Parameters
    ----------
    cache_dir
        The data cache (default ``$TWIN_DATA_DIR`` or ``~/.cache/langson-twin/data``); fill it with
        ``twin data fetch``.
    road_source
        ``"synthetic"`` (the grounded generator, default) or ``"osm"`` (import `osm_file`).
    osm_file
        An ``.osm.pbf`` extract covering the city, for ``road_source="osm"``.
    seed
        Seed of the synthetic network and camera registry.
    res
        Default H3 resolution of the cells (7–11).

    Raises
    ------
    DataError
        A dataset is missing from the cache (the hint says to run ``twin data fetch``) or broken.
    InputError
        An invalid argument (unknown road source, resolution out of range).
    """
    res = h3grid.check_resolution(res)
    if road_source not in ("synthetic", "osm"):
        raise InputError("road_source", f"must be 'synthetic' or 'osm', got {road_source!r}")
    if road_source == "osm" and osm_file is None:
        raise InputError("osm_file", "is required when road_source is 'osm'", hint="pass --osm-file PATH")
    cache = Path(cache_dir or default_cache_dir()).expanduser().resolve()
    parts_key = (str(cache), road_source, str(Path(osm_file).resolve()) if osm_file else "", int(seed))
    key = (*parts_key, res)
    with _LOCK:
        city = _CACHE.get(key)
        if city is None:
            parts = _PARTS.get(parts_key)
            if parts is None:
                parts = _build_parts(cache, road_source, osm_file, int(seed))
                _PARTS[parts_key] = parts
            city = City(**parts, res=res)
            _CACHE[key] = city
    return city


def clear_cache() -> None:
    """Forget every memoised city (e.g. after the data cache changed)."""
    with _LOCK:
        _CACHE.clear()
        _PARTS.clear()


def _build_parts(cache: Path, road_source: RoadSource, osm_file: Path | None, seed: int) -> dict[str, Any]:
    wards = load.wards_2025(cache)
    units = load.units_pre2025(cache)
    mapping = load.ward_mapping(cache)
    network = roads.build_network(
        wards,
        units,
        source=road_source,
        seed=seed,
        osm_file=osm_file,
        cache_dir=cache,
    )
    river = roads.river(wards)
    cameras = synthetic_cameras(
        wards,
        network,
        units=units,
        seed=seed,
        as_of=datetime.now(UTC).replace(second=0, microsecond=0),
    )
    # the links and directions of travel each camera counts (traffic counts, issue 14)
    cameras = cam.with_watched_links(cameras, network)
    return {
        "wards": wards,
        "units": units,
        "mapping": mapping,
        "network": network,
        "cameras": cameras,
        "river": river,
    }

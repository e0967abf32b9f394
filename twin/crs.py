"""Geography once: the coordinate reference systems, the local metric projection and distances.

Two ways to measure in metres, each with one home here:

* **UTM zone 48N** (`METRIC`) for areas, buffers and geometry built in metres: `to_metric` /
  `to_wgs84` for frames, `to_metric_xy` / `to_wgs84_xy` for coordinate arrays (pyproj).
* **The local equirectangular plane** (`local_metres`) for fast vectorised distances between many
  points: lon/lat scaled on a sphere of radius `EARTH_RADIUS_M` around latitude `LAT0` (Lạng Sơn
  city), good to < 0.1 % inside the city; `metres_per_degree` and `distance_m` are the same plane
  at another latitude, `haversine_m` the great-circle length on the same sphere.

And time, once: the twin's one time-zone rule. Times are stored and computed in UTC (a time without
an offset is read as UTC) and shown to people in Lạng Sơn time, the IANA zone `LOCAL_TZ`. Vietnam has
kept UTC+7 without daylight saving since 1975, so local time is the fixed offset `LOCAL_OFFSET`
(`LOCAL_ZONE` as a ``tzinfo``); every module that shows, bins or cuts days by local time uses these.
"""

from __future__ import annotations

import math
from datetime import timedelta, timezone
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

if TYPE_CHECKING:
    import geopandas as gpd

#: Storage and exchange CRS (lon/lat order in GeoJSON, RFC 7946).
WGS84 = "EPSG:4326"
#: Metric CRS for lengths, areas and buffers: UTM zone 48N covers Lạng Sơn.
METRIC = "EPSG:32648"
#: IANA time zone in which people read times (storage and computation are UTC).
LOCAL_TZ = "Asia/Ho_Chi_Minh"
#: Lạng Sơn time minus UTC: +7 h, no daylight saving (`tests/twin/test_crs.py` checks it against tzdata).
LOCAL_OFFSET = timedelta(hours=7)
#: Lạng Sơn time as a ``tzinfo`` (``datetime.astimezone(LOCAL_ZONE)``, ``datetime.combine(..., tzinfo=)``).
LOCAL_ZONE = timezone(LOCAL_OFFSET, "UTC+7")

#: Reference latitude (degrees) of the local metric plane: Lạng Sơn city.
LAT0 = 21.85
#: A point in the city (lon, lat), e.g. to warm up code paths without real data.
CITY_POINT = (106.76, LAT0)
#: Mean Earth radius (IUGG), metres: the sphere of `local_metres` and `haversine_m`.
EARTH_RADIUS_M = 6_371_008.8
#: Metres per degree of latitude on that sphere (and of longitude on the equator).
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
#: Metres per degree of the H3 cells layer (111.32 km, the WGS84 equatorial degree rounded): its street
#: lengths and centre distances, which spread population and attractiveness over the cells, use it.
#: Moving them to `M_PER_DEG` (−0.11 %) moves the population of about 4 % of the cells by one person
#: and so the pinned KPIs (tests/simulations/test_scenario_pin.py): a deliberate change for later.
CELLS_M_PER_DEG = 111_320.0

F8 = npt.NDArray[np.float64]


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` in the metric CRS (UTM 48N)."""
    return gdf.to_crs(METRIC)


def to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` in WGS84."""
    return gdf.to_crs(WGS84)


@cache
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric_xy(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[F8, F8]:
    """Return UTM 48N (x, y) metres of lon/lat degrees (arrays or scalars)."""
    x, y = _transformer(WGS84, METRIC).transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def to_wgs84_xy(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[F8, F8]:
    """Return (lon, lat) degrees of UTM 48N x/y metres (arrays or scalars)."""
    lon, lat = _transformer(METRIC, WGS84).transform(x, y)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def local_metres(lon: npt.ArrayLike, lat: npt.ArrayLike, lat0: float = LAT0) -> F8:
    """Project lon/lat degrees to the local equirectangular plane: an (n, 2) array of metres.

    x = lon · R · cos(lat0), y = lat · R (radians, R = `EARTH_RADIUS_M`); differences of rows are
    distances in metres, to < 0.1 % within a few km of `lat0`.
    """
    lo = np.deg2rad(np.atleast_1d(np.asarray(lon, dtype=np.float64)))
    la = np.deg2rad(np.atleast_1d(np.asarray(lat, dtype=np.float64)))
    return np.column_stack((lo * EARTH_RADIUS_M * np.cos(np.deg2rad(lat0)), la * EARTH_RADIUS_M))


def metres_per_degree(lat: npt.ArrayLike, m_per_deg: float = M_PER_DEG) -> tuple[F8, float]:
    """Return (metres per degree of longitude at `lat`, metres per degree of latitude)."""
    return m_per_deg * np.cos(np.deg2rad(np.asarray(lat, dtype=np.float64))), m_per_deg


def distance_m(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon0: npt.ArrayLike,
    lat0: npt.ArrayLike,
    m_per_deg: float = M_PER_DEG,
) -> F8:
    """Return the distance in metres from (lon0, lat0) to each (lon, lat), on the plane at `lat0`."""
    kx, ky = metres_per_degree(lat0, m_per_deg)
    dx = (np.asarray(lon, dtype=np.float64) - np.asarray(lon0, dtype=np.float64)) * kx
    dy = (np.asarray(lat, dtype=np.float64) - np.asarray(lat0, dtype=np.float64)) * ky
    return np.asarray(np.hypot(dx, dy), dtype=np.float64)


def plot_aspect(lat: float = LAT0) -> float:
    """Return the axes aspect (y/x) that makes a lon/lat plot near `lat` look metric: 1 / cos(lat)."""
    return 1.0 / math.cos(math.radians(lat))


def haversine_m(lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike) -> F8:
    """Return the great-circle distance in metres between points (degrees; arrays broadcast)."""
    p1 = np.deg2rad(np.asarray(lat1, dtype=np.float64))
    p2 = np.deg2rad(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.deg2rad(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)), dtype=np.float64)

"""Build square grid networks: the peers' reference workload and a small network for tests."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.crs import WGS84
from twin.network import RoadNetwork
from twin.provenance import Provenance

_M_PER_DEG_LAT = 111_320.0


def grid_network(
    rows: int,
    cols: int,
    *,
    spacing_m: float = 300.0,
    speed_kmh: float = 50.0,
    lanes: int = 1,
    capacity_pcu_h_per_lane: float = 1800.0,
    origin: tuple[float, float] = (106.70, 21.80),
    road_class: str = "secondary",
) -> RoadNetwork:
    """Return a rows×cols grid with two directed links between 4-neighbours.

    The grid is laid out in lon/lat around `origin` with `spacing_m` between neighbours (the
    40×40, 300 m, 50 km/h, 1-lane grid is the peers' reference workload in BENCHMARKS.md).
    Node ``r * cols + c`` sits at row r, column c.
    """
    lon0, lat0 = origin
    dlat = spacing_m / _M_PER_DEG_LAT
    dlon = spacing_m / (_M_PER_DEG_LAT * np.cos(np.deg2rad(lat0)))
    r, c = np.divmod(np.arange(rows * cols), cols)
    x = lon0 + c * dlon
    y = lat0 + r * dlat
    nodes = gpd.GeoDataFrame(
        {"x": x, "y": y, "signal": np.zeros(rows * cols, dtype=bool)},
        geometry=gpd.points_from_xy(x, y),
        crs=WGS84,
        index=pd.RangeIndex(rows * cols, name="node_id"),
    )
    ids = np.arange(rows * cols).reshape(rows, cols)
    h = np.column_stack((ids[:, :-1].ravel(), ids[:, 1:].ravel()))
    v = np.column_stack((ids[:-1, :].ravel(), ids[1:, :].ravel()))
    pairs = np.vstack((h, v))
    uv = np.vstack((pairs, pairs[:, ::-1]))
    m = len(uv)
    geoms = shapely.linestrings(
        np.stack(
            (np.column_stack((x[uv[:, 0]], y[uv[:, 0]])), np.column_stack((x[uv[:, 1]], y[uv[:, 1]]))), axis=1
        )
    )
    links = gpd.GeoDataFrame(
        {
            "u": uv[:, 0],
            "v": uv[:, 1],
            "length_m": np.full(m, float(spacing_m)),
            "lanes": np.full(m, lanes, dtype=np.int64),
            "speed_kmh": np.full(m, float(speed_kmh)),
            "capacity_pcu_h": np.full(m, capacity_pcu_h_per_lane * lanes),
            "road_class": road_class,
            "oneway": False,
            "bridge": False,
            "name": "",
        },
        geometry=geoms,
        crs=WGS84,
        index=pd.RangeIndex(m, name="link_id"),
    )
    prov = Provenance(
        name=f"grid_{rows}x{cols}",
        source="synthetic",
        licence="CC0-1.0",
        description=f"{rows}×{cols} grid, {spacing_m:g} m links, {speed_kmh:g} km/h, {lanes} lane(s)",
    )
    return RoadNetwork.from_frames(nodes, links, prov, {"rows": rows, "cols": cols})

"""Small networks and demand for the traffic tests (built here, no data files needed)."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from simulations.traffic.params import TrafficParams, VehicleClass
from twin import h3grid
from twin.crs import WGS84
from twin.network import RoadNetwork
from twin.provenance import Provenance

M_PER_DEG = 111_320.0


def chain(
    lengths: Sequence[float],
    *,
    speed_kmh: float | Sequence[float] = 36.0,
    capacity: float | Sequence[float] = 1800.0,
    lanes: int = 1,
    signal_at: Sequence[int] = (),
) -> RoadNetwork:
    """Return a one-way straight road of len(lengths) links, nodes 0..n, west to east."""
    n = len(lengths)
    x = 106.75 + np.concatenate([[0.0], np.cumsum(lengths)]) / (M_PER_DEG * np.cos(np.deg2rad(21.85)))
    y = np.full(n + 1, 21.85)
    sig = np.zeros(n + 1, dtype=bool)
    sig[list(signal_at)] = True
    nodes = gpd.GeoDataFrame(
        {"x": x, "y": y, "signal": sig},
        geometry=gpd.points_from_xy(x, y),
        crs=WGS84,
        index=pd.RangeIndex(n + 1, name="node_id"),
    )
    links = gpd.GeoDataFrame(
        {
            "u": np.arange(n),
            "v": np.arange(1, n + 1),
            "length_m": np.asarray(lengths, dtype=float),
            "lanes": lanes,
            "speed_kmh": np.broadcast_to(np.asarray(speed_kmh, dtype=float), (n,)).copy(),
            "capacity_pcu_h": np.broadcast_to(np.asarray(capacity, dtype=float), (n,)).copy(),
            "road_class": "secondary",
            "oneway": True,
            "bridge": False,
            "name": [f"link {i}" for i in range(n)],
        },
        geometry=[shapely.LineString([(x[i], y[i]), (x[i + 1], y[i + 1])]) for i in range(n)],
        crs=WGS84,
        index=pd.RangeIndex(n, name="link_id"),
    )
    return RoadNetwork.from_frames(
        nodes, links, Provenance(name="chain", source="synthetic", licence="CC0-1.0")
    )


def ring(side_m: float = 300.0, *, speed_kmh: float = 36.0) -> RoadNetwork:
    """Return a one-way square loop: nodes 0–3 at the corners, link k from node k to node k + 1 (mod 4)."""
    k_lon = M_PER_DEG * np.cos(np.deg2rad(21.85))
    ex = np.array([0.0, 1.0, 1.0, 0.0]) * side_m
    ny = np.array([0.0, 0.0, 1.0, 1.0]) * side_m
    x, y = 106.75 + ex / k_lon, 21.85 + ny / M_PER_DEG
    nodes = gpd.GeoDataFrame(
        {"x": x, "y": y, "signal": np.zeros(4, dtype=bool)},
        geometry=gpd.points_from_xy(x, y),
        crs=WGS84,
        index=pd.RangeIndex(4, name="node_id"),
    )
    u, v = np.arange(4), (np.arange(4) + 1) % 4
    links = gpd.GeoDataFrame(
        {
            "u": u, "v": v, "length_m": side_m, "lanes": 1, "speed_kmh": speed_kmh,
            "capacity_pcu_h": 1800.0, "road_class": "secondary", "oneway": True, "bridge": False,
            "name": [f"link {i}" for i in range(4)],
        },
        geometry=[shapely.LineString([(x[a], y[a]), (x[b], y[b])]) for a, b in zip(u, v, strict=True)],
        crs=WGS84,
        index=pd.RangeIndex(4, name="link_id"),
    )  # fmt: skip
    return RoadNetwork.from_frames(
        nodes, links, Provenance(name="ring", source="synthetic", licence="CC0-1.0")
    )


def cars_only(**kw: object) -> TrafficParams:
    """Return parameters with one vehicle class: cars of 1 PCU at 130 km/h (the link limits them)."""
    data: dict[str, object] = {"vehicles": {"car": VehicleClass(share=1.0, pcu=1.0, speed_kmh=130.0)}}
    data.update(kw)
    return TrafficParams.model_validate(data)


def trips(
    origin: Sequence[int], dest: Sequence[int], depart: Sequence[float], mode: str = "car"
) -> pd.DataFrame:
    """Return an explicit trip table."""
    return pd.DataFrame({"origin": origin, "dest": dest, "depart_s": depart, "mode": mode})


def random_trips(n_nodes: int, n: int, window_s: float, seed: int) -> pd.DataFrame:
    """Return `n` uniform random OD trips between distinct nodes, departing uniformly over the window."""
    rng = np.random.default_rng(seed)
    o = rng.integers(0, n_nodes, n * 2)
    d = rng.integers(0, n_nodes, n * 2)
    keep = o != d
    o, d = o[keep][:n], d[keep][:n]
    return trips(o, d, np.sort(rng.random(len(o)) * window_s))


def cells_for(net: RoadNetwork, res: int = 9, seed: int = 0) -> gpd.GeoDataFrame:
    """Return H3 cells covering the network's nodes with random population and attractiveness."""
    cells = sorted(set(h3grid.to_str(h3grid.latlng_to_cells(net.nodes["y"], net.nodes["x"], res))))
    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame(
        {
            "population": rng.integers(50, 2000, len(cells)).astype(float),
            "attractiveness": rng.random(len(cells)) * 3 + 0.1,
        },
        geometry=h3grid.cells_to_polygons(cells),
        crs=WGS84,
        index=pd.Index(cells, name="cell"),
    )


#: Arms of `cross`: node id and (east, north) unit offset from the centre node 0.
ARMS = {"W": (1, (-1.0, 0.0)), "E": (2, (1.0, 0.0)), "S": (3, (0.0, -1.0)), "N": (4, (0.0, 1.0))}


def cross(arm_m: float = 300.0, *, speed_kmh: float = 50.0, capacity: float = 1800.0) -> RoadNetwork:
    """Return a four-leg unsignalised junction: centre node 0, arms W/E/S/N (nodes 1–4), two-way links.

    Link ``2 * k`` runs from arm k (in `ARMS` order) into the centre, link ``2 * k + 1`` back out.
    """
    lat0 = 21.85
    k_lon = M_PER_DEG * np.cos(np.deg2rad(lat0))
    ex = np.array([0.0] + [off[0] for _, off in ARMS.values()]) * arm_m
    ny = np.array([0.0] + [off[1] for _, off in ARMS.values()]) * arm_m
    x, y = 106.75 + ex / k_lon, lat0 + ny / M_PER_DEG
    nodes = gpd.GeoDataFrame(
        {"x": x, "y": y, "signal": np.zeros(5, dtype=bool)},
        geometry=gpd.points_from_xy(x, y),
        crs=WGS84,
        index=pd.RangeIndex(5, name="node_id"),
    )
    uv = [(a, 0) if d == 0 else (0, a) for a, _ in ARMS.values() for d in (0, 1)]
    m = len(uv)
    links = gpd.GeoDataFrame(
        {
            "u": [u for u, _ in uv],
            "v": [v for _, v in uv],
            "length_m": arm_m,
            "lanes": 1,
            "speed_kmh": speed_kmh,
            "capacity_pcu_h": capacity,
            "road_class": "secondary",
            "oneway": False,
            "bridge": False,
            "name": [f"link {i}" for i in range(m)],
        },
        geometry=[shapely.LineString([(x[u], y[u]), (x[v], y[v])]) for u, v in uv],
        crs=WGS84,
        index=pd.RangeIndex(m, name="link_id"),
    )
    return RoadNetwork.from_frames(
        nodes, links, Provenance(name="cross", source="synthetic", licence="CC0-1.0")
    )

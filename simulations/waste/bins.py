"""Collection points: placed from per-cell population on the road network, filled stochastically.

A collection point is a roadside spot with one or more containers of one size (240 L or 660 L).
Every populated H3 cell gets at least one point; its containers are sized so that the waste expected
between two scheduled visits fills `BinParams.design_fill` of them, and a cell that needs more than
`BinParams.max_containers` gets several points at distinct nearby road nodes. The most attractive
cells (markets, jobs, schools) hold market points with the large containers and a market-day surge.
People in cells too sparse for a point of their own bring their waste to the nearest point.

Daily generation of a point: ``population × rate × weekday factor × market factor × noise``, the
noise lognormal with mean 1 and the given coefficient of variation; it arrives over the day with the
`DIURNAL` profile (evening peak when households put waste out).
"""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from simulations.waste.fleet import snap
from simulations.waste.params import BinParams, WasteParams
from twin import h3grid
from twin.crs import WGS84, local_metres
from twin.errors import DataError, InputError
from twin.network import RoadNetwork
from twin.provenance import Provenance, attach

#: Share of the day's waste put out in each local hour (sums to 1): morning and evening peaks.
DIURNAL: npt.NDArray[np.float64] = np.array(
    [1, 0.5, 0.5, 0.5, 1, 2, 5, 7, 6, 4, 3, 3, 4, 4, 3, 3, 4, 7, 10, 11, 8, 5, 3, 2], dtype=np.float64
)
DIURNAL = DIURNAL / DIURNAL.sum()

POINT_COLUMNS = (
    "node",
    "cell",
    "ward_code",
    "population",
    "containers",
    "size_l",
    "capacity_kg",
    "base_kg_day",
    "market",
    "added",
    "snap_m",
    "name",
)


def place_points(
    cells: pd.DataFrame,
    network: RoadNetwork,
    params: WasteParams,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> gpd.GeoDataFrame:
    """Return the collection points for `cells` on `network`.

    Parameters
    ----------
    cells
        Index: H3 cell id (hex str); columns ``population`` and ``attractiveness``, optional
        ``ward_code``.
    network
        The road network the points are placed on (their ``node``).
    params
        Run parameters (bins, policy interval, population growth, market days).
    allowed
        Mask of nodes points may use (the main strongly connected component); default all.

    Returns
    -------
    GeoDataFrame
        Index ``point_id`` (0..P-1), the columns in `POINT_COLUMNS`, Point geometry at the node.

    Raises
    ------
    DataError
        If `cells` lacks the population column or holds nobody.
    InputError
        If an added bin lies farther than `BinParams.max_snap_m` from the network.
    """
    bp = params.bins
    missing = [c for c in ("population", "attractiveness") if c not in cells.columns]
    if missing:
        raise DataError(f"cells lack columns {missing}", "pass City.cells(res) or build the cells table")
    pop = cells["population"].to_numpy(dtype=np.float64) * (1.0 + params.population_growth)
    if not np.isfinite(pop).all() or (pop < 0).any():
        raise DataError("cells have negative or missing population")
    if pop.sum() <= 0 and not bp.added:
        raise DataError("cells hold no population: nothing would generate waste")
    ids = [str(c) for c in cells.index]
    ward = (
        cells["ward_code"].astype(str).to_numpy()
        if "ward_code" in cells.columns
        else np.full(len(ids), "", dtype=object)
    )
    attract = cells["attractiveness"].to_numpy(dtype=np.float64)
    latlng = np.array([h3grid.cell_to_latlng(c) for c in ids]).reshape(-1, 2)

    # move sparse cells' people to the nearest cell that gets a point
    served = pop >= bp.min_cell_population
    if not served.any() and pop.sum() > 0:
        served[np.argmax(pop)] = True
    pop = _fold_sparse(pop, served, latlng)

    own = np.flatnonzero(served)
    market = np.zeros(len(ids), dtype=bool)
    n_market = round(bp.market_share * own.size)
    if n_market and own.size:
        top = own[np.argsort(-attract[own], kind="stable")[:n_market]]
        market[top[attract[top] > 0]] = True

    mean_market = 1.0 + (bp.market_factor - 1.0) * len(params.market_days) / 7.0
    rate = bp.generation_kg_per_person_day * float(np.mean(bp.weekday_factors))
    rows: list[dict[str, object]] = []
    interval = params.policy.interval_days
    for i in own:
        kg_day = pop[i] * rate * (mean_market if market[i] else 1.0)
        need_l = kg_day * interval / bp.density_kg_m3 * 1000.0 / bp.design_fill
        small, large = bp.sizes_l[0], bp.sizes_l[-1]
        size = large if market[i] or need_l > 2 * small else small
        containers = max(1, int(np.ceil(need_l / size)))
        n_points = int(np.ceil(containers / bp.max_containers))
        nodes, dist = _nearest_nodes(network, latlng[i, 1], latlng[i, 0], n_points, allowed)
        split = np.full(n_points, containers // n_points)
        split[: containers % n_points] += 1
        for k in range(n_points):
            rows.append(
                {
                    "node": int(nodes[k % nodes.size]),
                    "cell": ids[i],
                    "ward_code": ward[i],
                    "population": float(pop[i] * split[k] / containers),
                    "containers": int(split[k]),
                    "size_l": int(size),
                    "market": bool(market[i]),
                    "added": False,
                    "snap_m": float(dist[k % dist.size]),
                    "name": "",
                }
            )
    for j, b in enumerate(bp.added):
        node, dist = snap(network, b.lon, b.lat, allowed)
        if dist[0] > bp.max_snap_m:
            raise InputError(
                f"bins.added.{j}",
                f"({b.lon}, {b.lat}) is {dist[0]:.0f} m from the nearest road of the network "
                f"(limit {bp.max_snap_m:g} m): the bin is off the network",
                "move it next to a road or raise bins.max_snap_m",
            )
        cell = (
            h3grid.to_str(h3grid.latlng_to_cells([b.lat], [b.lon], h3grid.resolution(ids[0])))[0]
            if ids
            else ""
        )
        code = ward[ids.index(cell)] if cell in ids else ""
        rows.append(
            {
                "node": int(node[0]),
                "cell": cell,
                "ward_code": code,
                "population": float(b.population),
                "containers": int(b.containers),
                "size_l": int(b.size_l),
                "market": bool(b.market),
                "added": True,
                "snap_m": float(dist[0]),
                "name": b.name,
            }
        )
    points = pd.DataFrame(rows)
    points["capacity_kg"] = points["containers"] * points["size_l"] / 1000.0 * bp.density_kg_m3
    points["base_kg_day"] = points["population"] * bp.generation_kg_per_person_day
    # an added market point with nobody assigned still draws market waste: a share of its capacity
    no_pop = points["added"] & (points["population"] <= 0)
    points.loc[no_pop, "base_kg_day"] = points.loc[no_pop, "capacity_kg"] * 0.3
    x = network.nodes["x"].to_numpy()[points["node"].to_numpy()]
    y = network.nodes["y"].to_numpy()[points["node"].to_numpy()]
    gdf = gpd.GeoDataFrame(
        points[list(POINT_COLUMNS)],
        geometry=gpd.points_from_xy(x, y),
        crs=WGS84,
        index=pd.RangeIndex(len(points), name="point_id"),
    )
    attach(
        gdf,
        Provenance(
            name="waste_points",
            source="simulated",
            licence="CC-BY-4.0",
            description="collection points generated from cell population (not surveyed sites)",
            inputs=(network.provenance.name,),
        ),
    )
    return gdf


def _fold_sparse(
    pop: npt.NDArray[np.float64], served: npt.NDArray[np.bool_], latlng: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return populations with each unserved cell's people added to its nearest served cell."""
    from scipy.spatial import cKDTree  # noqa: PLC0415  (scipy.spatial is slow to import)

    out = np.where(served, pop, 0.0)
    lost = np.flatnonzero(~served & (pop > 0))
    if lost.size and served.any():
        own = np.flatnonzero(served)
        xy = local_metres(latlng[:, 1], latlng[:, 0])
        _, idx = cKDTree(xy[own]).query(xy[lost])
        np.add.at(out, own[np.asarray(idx)], pop[lost])
    return out


def _nearest_nodes(
    network: RoadNetwork, lon: float, lat: float, k: int, allowed: npt.NDArray[np.bool_] | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Return the k nearest allowed nodes to (lon, lat) and their distances (m)."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    ids = np.arange(network.n_nodes) if allowed is None else np.flatnonzero(allowed)
    xy = local_metres(network.nodes["x"].to_numpy()[ids], network.nodes["y"].to_numpy()[ids])
    k = min(k, ids.size)
    dist, idx = cKDTree(xy).query(local_metres(lon, lat), k=k)
    return ids[np.atleast_1d(np.asarray(idx)).ravel()], np.atleast_1d(np.asarray(dist)).ravel()


def expected_kg(points: pd.DataFrame, day: date, params: WasteParams) -> npt.NDArray[np.float64]:
    """Return the expected waste (kg) each point receives on `day` (no noise)."""
    bp: BinParams = params.bins
    factor = bp.weekday_factors[day.weekday()]
    market_today = day.weekday() in params.market_days
    m = np.where(points["market"].to_numpy(dtype=bool) & market_today, bp.market_factor, 1.0)
    return points["base_kg_day"].to_numpy(dtype=np.float64) * factor * m


def daily_kg(
    points: pd.DataFrame, day: date, params: WasteParams, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Return a random draw of the waste (kg) each point receives on `day`."""
    cv = params.bins.noise_cv
    mean = expected_kg(points, day, params)
    if cv == 0:
        return mean
    sigma2 = np.log1p(cv * cv)
    noise = rng.lognormal(-sigma2 / 2.0, np.sqrt(sigma2), size=mean.size)
    return np.asarray(mean * noise, dtype=np.float64)

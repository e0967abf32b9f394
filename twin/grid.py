"""The H3 model of the city: one row per cell of the 4 wards, with people, streets and cameras.

`build_cells` covers the 4 city wards with H3 cells at a resolution (default 9, ~0.1 km² a cell;
7–11 allowed). A cell belongs to the ward that contains its centre. Each cell carries:

``ward_code``
    The 2025 ward containing the cell centre.
``unit_code``
    The GSO code of the pre-2025 unit (phường, xã, thị trấn) the cell lies in, within its ward.
``population``
    People living in the cell (integers), spread from the official 2025 ward totals in two
    dasymetric stages: first to the pre-2025 units of the ward in proportion to their 2009 census
    population (the best-resolved population data: it locates the dense old urban core), then to the
    unit's cells in proportion to street length plus a floor of `FLOOR_KM_PER_KM2` km of street per
    km² (people live along streets; the floor keeps a few people in rural cells). Per-ward sums equal
    the official totals exactly (largest-remainder rounding), and each unit keeps its 2009 share of
    its ward.
``road_km``
    Street centreline length in the cell (a two-way street counts once), computed by cutting the
    links into pieces of at most a quarter of the cell edge and assigning each piece to the cell of
    its midpoint; ``major_road_km`` counts trunk, primary and secondary streets only.
``cameras``, ``cameras_connected``
    Camera sites standing in the cell, and how many of them are connected to the IOC.
``covered``
    Whether a connected camera's field of view reaches the cell (`twin.cameras.coverage_cells`).
``attractiveness``
    A documented proxy for where trips go (jobs, markets, schools), scaled so that its mean over
    the cells is 1: ``0.35·centre + 0.25·major_roads + 0.20·places + 0.20·population + 0.01``, each
    term normalised to [0, 1]: centre = exp(−distance to the city centre / 2 km); major_roads = major
    road km; places = market, school and square camera sites in the cell and its 6 neighbours;
    population = cell population.

Also ``area_km2``, ``lat``, ``lon`` (cell centre) and ``density_per_km2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from twin import h3grid, provenance
from twin.cameras import coverage_cells
from twin.crs import CELLS_M_PER_DEG, WGS84, distance_m, metres_per_degree
from twin.errors import DataError
from twin.network import RoadNetwork
from twin.wards import CITY_WARD_CODES, WardIndex, core_wards

#: Minimum street density (km per km²) assumed in every cell for the population weight.
FLOOR_KM_PER_KM2 = 1.0
#: Road classes counted as major roads.
MAJOR_CLASSES = ("trunk", "primary", "secondary")
#: Average H3 hexagon edge length in metres per resolution (H3 documentation table).
EDGE_M: dict[int, float] = {7: 1406.5, 8: 531.4, 9: 200.8, 10: 75.9, 11: 28.7}
#: City centre (lon, lat), the Wikipedia infobox point.
CITY_CENTRE = (106.75778, 21.84778)
#: Weights of the attractiveness proxy: centre, major roads, places, population (+ a floor).
ATTRACTIVENESS_WEIGHTS = {"centre": 0.35, "major_roads": 0.25, "places": 0.20, "population": 0.20}
ATTRACTIVENESS_FLOOR = 0.01
#: Camera kinds that stand for places that draw trips.
PLACE_KINDS = ("market", "school", "public_square")

CELL_COLUMNS = (
    "ward_code",
    "unit_code",
    "population",
    "road_km",
    "major_road_km",
    "cameras",
    "cameras_connected",
    "covered",
    "attractiveness",
    "area_km2",
    "density_per_km2",
    "lat",
    "lon",
)



def ward_cells(wards: gpd.GeoDataFrame, res: int = h3grid.DEFAULT_RES) -> pd.Series:
    """Return the cells of the 4 city wards: a Series indexed by cell (hex str), value ward code.

    A cell belongs to the ward that contains its centre (the first ward in code order on a border).
    """
    res = h3grid.check_resolution(res)
    core = core_wards(wards)
    parts: list[pd.Series] = []
    for code, geom in zip(core.index, core.geometry, strict=True):
        cells = h3grid.polygon_to_cells(geom, res)
        parts.append(pd.Series(str(code), index=pd.Index(cells, name="cell"), dtype=object))
    out = pd.concat(parts)
    out = out[~out.index.duplicated(keep="first")]
    return pd.Series(out.sort_index())


def street_length_by_cell(network: RoadNetwork, res: int, classes: Sequence[str] | None = None) -> pd.Series:
    """Return street centreline km per cell (uint64 index), counting a two-way street once.

    Every link is cut into pieces no longer than a quarter of the cell edge; each piece adds its
    length to the cell of its midpoint. Fully vectorised.
    """
    res = h3grid.check_resolution(res)
    links = network.links
    u = links["u"].to_numpy()
    v = links["v"].to_numpy()
    # a street with links both ways: keep the u < v link; one-way links count as they are
    pair = pd.MultiIndex.from_arrays([u, v])
    rev = pd.MultiIndex.from_arrays([v, u])
    keep = ~rev.isin(pair) | (u < v)
    if classes is not None:
        keep &= links["road_class"].isin(list(classes)).to_numpy()
    geoms = links.geometry.to_numpy()[keep]
    if len(geoms) == 0:
        return pd.Series(dtype=float)
    coords, line = shapely.get_coordinates(geoms, return_index=True)
    same = line[1:] == line[:-1]
    x0, y0 = coords[:-1][same, 0], coords[:-1][same, 1]
    x1, y1 = coords[1:][same, 0], coords[1:][same, 1]
    kx, ky = metres_per_degree((y0 + y1) / 2, CELLS_M_PER_DEG)
    seg_m = np.hypot((x1 - x0) * kx, (y1 - y0) * ky)
    step = EDGE_M[res] / 4.0
    n = np.maximum(1, np.ceil(seg_m / step).astype(np.int64))
    seg = np.repeat(np.arange(len(seg_m)), n)
    k = np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
    t = (k + 0.5) / n[seg]
    lon = x0[seg] + t * (x1[seg] - x0[seg])
    lat = y0[seg] + t * (y1[seg] - y0[seg])
    km = (seg_m / n)[seg] / 1000.0
    cells = h3grid.latlng_to_cells(lat, lon, res)
    return pd.Series(km).groupby(cells).sum()


def _largest_remainder(
    values: npt.NDArray[np.float64], group: npt.NDArray[np.int64], target: pd.Series | None = None
) -> npt.NDArray[np.int64]:
    """Round non-negative `values` to integers whose sum per group is `target` (default: the rounded sum).

    Each group's shortfall after flooring goes, one each, to its members with the largest remainders.
    `target` (indexed by group) must lie between the floored and the ceiled group sums.
    """
    base = np.floor(values).astype(np.int64)
    frac = values - base
    groups = np.unique(group)
    if target is None:
        target = pd.Series(values).groupby(group).sum().round().astype(np.int64)
    short = (target.reindex(groups) - pd.Series(base).groupby(group).sum().reindex(groups)).to_numpy()
    order = np.lexsort((-frac, group))
    rank = np.empty(len(values), dtype=np.int64)
    g_sorted = group[order]
    rank[order] = np.arange(len(values)) - np.searchsorted(g_sorted, g_sorted, side="left")
    need = short[np.searchsorted(groups, group)]
    return base + (rank < need).astype(np.int64)


def build_cells(
    wards: gpd.GeoDataFrame,
    network: RoadNetwork,
    *,
    res: int = h3grid.DEFAULT_RES,
    cameras: gpd.GeoDataFrame | None = None,
    units: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Return the H3 cells of the 4 city wards with the columns described in the module docstring.

    Parameters
    ----------
    wards
        The 2025 ward table indexed by code, with official ``population``.
    network
        The road network (its links give street length and major roads).
    res
        H3 resolution, 7–11.
    cameras
        The camera registry (`twin.cameras` schema); without it the camera columns are 0/False and
        the places term of attractiveness is 0.
    units
        Pre-2025 units with ``population_2009`` and ``new_code``; without them the population
        weight is street length alone.

    Returns
    -------
    GeoDataFrame
        Indexed by cell (lowercase hex str), hexagon polygons in EPSG:4326, provenance derived.
    """
    res = h3grid.check_resolution(res)
    core = core_wards(wards)
    if "population" not in core.columns:
        raise DataError(
            "ward table lacks the population column", hint="load it with gis_data.load.wards_2025"
        )
    owner = ward_cells(wards, res)
    if owner.empty:
        raise DataError(f"no H3 cell centre falls inside the city wards at res {res}")
    cells = owner.index.to_list()
    cell_int = h3grid.to_int(cells)
    centres = np.array([h3grid.cell_to_latlng(c) for c in cells])
    lat, lon = centres[:, 0], centres[:, 1]
    area = np.array([h3grid.cell_area_km2(c) for c in cells])
    ward_code = owner.to_numpy().astype(str)

    road_km = street_length_by_cell(network, res).reindex(cell_int, fill_value=0.0).to_numpy()
    major_km = street_length_by_cell(network, res, MAJOR_CLASSES).reindex(cell_int, fill_value=0.0).to_numpy()

    # population, two-stage dasymetric: ward total → pre-2025 units by their 2009 census shares →
    # cells by street length (+ a floor)
    unit_row, unit_share = _units_of_cells(units, lon, lat, ward_code)
    ward_pop = core["population"].astype(float)
    group = pd.Index(CITY_WARD_CODES).get_indexer(pd.Index(ward_code)).astype(np.int64)
    street_weight = road_km + FLOOR_KM_PER_KM2 * area
    # cells of a ward without units form one pseudo-unit per ward (negative keys)
    key = np.where(unit_row >= 0, unit_row, -1 - group)
    within = street_weight / pd.Series(street_weight).groupby(key).transform("sum").to_numpy()
    people = ward_pop.reindex(ward_code).to_numpy() * unit_share * within
    # round twice so both levels stay exact: unit totals within each ward, then cells within each unit
    unit_people = pd.Series(people).groupby(key).sum()
    unit_ward = pd.Series(group).groupby(key).first()
    unit_int = pd.Series(
        _largest_remainder(unit_people.to_numpy(), unit_ward.to_numpy()), index=unit_people.index
    )
    population = _largest_remainder(people, key, unit_int)

    n_cam = np.zeros(len(cells), dtype=np.int64)
    n_conn = np.zeros(len(cells), dtype=np.int64)
    covered = np.zeros(len(cells), dtype=bool)
    places = np.zeros(len(cells), dtype=float)
    position = pd.Series(np.arange(len(cells)), index=pd.Index(cells))
    if cameras is not None and len(cameras):
        cam_cells = h3grid.to_str(
            h3grid.latlng_to_cells(cameras.geometry.y.to_numpy(), cameras.geometry.x.to_numpy(), res)
        )
        pos = position.reindex(cam_cells).to_numpy()
        hit = ~np.isnan(pos)
        idx = pos[hit].astype(np.int64)
        conn = cameras["connected"].astype(bool).to_numpy()[hit]
        np.add.at(n_cam, idx, 1)
        np.add.at(n_conn, idx, conn.astype(np.int64))
        connected = cameras[cameras["connected"].astype(bool)]
        seen = coverage_cells(connected, res)["cell"]
        covered = position.index.isin(seen.to_numpy())
        is_place = cameras["kind"].isin(PLACE_KINDS).to_numpy()
        for cell in np.asarray(cam_cells)[is_place]:
            near = position.reindex(h3grid.grid_disk(cell, 1)).dropna().to_numpy().astype(np.int64)
            places[near] += 1.0

    centre_m = distance_m(lon, lat, *CITY_CENTRE, m_per_deg=CELLS_M_PER_DEG)
    terms = {
        "centre": np.exp(-centre_m / 2000.0),
        "major_roads": _unit(major_km),
        "places": _unit(places),
        "population": _unit(population.astype(float)),
    }
    attract = np.full(len(cells), ATTRACTIVENESS_FLOOR)
    for term, value in terms.items():
        attract += ATTRACTIVENESS_WEIGHTS[term] * value
    attract /= attract.mean()

    out = gpd.GeoDataFrame(
        {
            "ward_code": ward_code,
            "unit_code": _unit_codes(units, unit_row),
            "population": population,
            "road_km": np.round(road_km, 4),
            "major_road_km": np.round(major_km, 4),
            "cameras": n_cam,
            "cameras_connected": n_conn,
            "covered": covered,
            "attractiveness": np.round(attract, 6),
            "area_km2": np.round(area, 5),
            "density_per_km2": np.round(population / area, 1),
            "lat": lat,
            "lon": lon,
        },
        geometry=h3grid.cells_to_polygons(cells),
        crs=WGS84,
        index=pd.Index(cells, name="cell"),
    )
    net_prov = network.provenance
    inputs = ["wards_2025", net_prov.name] + (["cameras"] if cameras is not None else [])
    inputs += ["units_pre2025"] if units is not None else []
    synthetic = net_prov.synthetic or bool(cameras is not None and provenance.of(cameras).get("synthetic"))
    provenance.attach(
        out,
        provenance.Provenance(
            name="cells",
            source="derived",
            licence="MIT; derived from the inputs' licences",
            description=(
                f"H3 res {res} cells of the 4 city wards: population spread from official 2025 ward "
                "totals by 2009 unit density × street length; road km; cameras; coverage; "
                "attractiveness proxy"
                + (" (built on a synthetic road network)" if net_prov.synthetic else "")
            ),
            synthetic=synthetic,
            inputs=tuple(inputs),
            params={"res": res, "floor_km_per_km2": FLOOR_KM_PER_KM2},
        ),
    )
    return out


def _unit(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    top = float(np.max(a)) if a.size else 0.0
    return a / top if top > 0 else np.zeros_like(a, dtype=float)


def _city_units(units: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Return the pre-2025 units merged into the 4 city wards (None if not usable)."""
    if units is None or not {"population_2009", "new_code"} <= set(units.columns):
        return None
    city = units[units["new_code"].isin(CITY_WARD_CODES)]
    return None if city.empty else city


def _unit_codes(units: gpd.GeoDataFrame | None, unit_row: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """Return the pre-2025 GSO code of each cell's unit (``""`` when unknown)."""
    city = _city_units(units)
    if city is None or "old_code" not in city.columns:
        return np.full(len(unit_row), "", dtype=object).astype(str)
    codes = np.append(city["old_code"].astype(object).where(city["old_code"].notna(), "").astype(str), "")
    return codes[unit_row].astype(str)  # -1 picks the trailing ""


def _units_of_cells(
    units: gpd.GeoDataFrame | None,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    ward_code: npt.NDArray[np.str_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Return each cell's pre-2025 unit (row of the city units, -1 if none) and that unit's share.

    A cell belongs to the unit of its own 2025 ward that contains its centre or, where the
    generalised 2009 polygons leave a gap or overlap a neighbour, the nearest unit of its ward. A
    unit's share is its 2009 population over that of the units of the same ward that hold at least
    one cell (so a unit too small for any cell at a coarse resolution passes its people on). Without
    units every cell gets -1 and share 1.
    """
    n = len(lon)
    city = _city_units(units)
    if city is None:
        return np.full(n, -1, dtype=np.int64), np.ones(n)
    new_code = city["new_code"].astype(str).to_numpy()
    pos = WardIndex(city).positions(lon, lat)
    ok = pos >= 0
    ok[ok] = new_code[pos[ok]] == ward_code[ok]
    row = np.where(ok, pos, -1)
    geoms = city.geometry.to_numpy()
    for w in np.unique(ward_code[~ok]):
        cand = np.flatnonzero(new_code == w)
        todo = np.flatnonzero(~ok & (ward_code == w))
        if cand.size == 0 or todo.size == 0:
            continue
        pts: npt.NDArray[np.object_] = np.asarray(shapely.points(lon[todo], lat[todo]), dtype=object)
        dist = shapely.distance(geoms[cand][:, None], pts[None, :])
        row[todo] = cand[np.argmin(dist, axis=0)]
    pop = city["population_2009"].to_numpy(dtype=float)
    held = pd.DataFrame({"row": row, "ward": ward_code})[row >= 0].drop_duplicates("row")
    ward_total = pd.Series(pop[held["row"].to_numpy()]).groupby(held["ward"].to_numpy()).sum()
    share = np.ones(n)
    has = row >= 0
    share[has] = pop[row[has]] / ward_total.reindex(ward_code[has]).to_numpy()
    return row.astype(np.int64), share

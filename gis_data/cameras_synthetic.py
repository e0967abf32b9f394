"""Generate the synthetic camera registry: 238 sites, 50 connected (the IOC's 2021 pilot).

No camera positions of Lạng Sơn are public. What is known: the city has 238 security cameras and the
IOC connected 50 of them in its 2021 pilot. This generator places 238 plausible sites on the road
network inside the 4 city wards, deterministically by seed:

* **intersection**: junctions of degree ≥ 3, weighted by the class of the roads meeting there;
* **corridor**: along the national roads (trunk links, named QL1A, QL4A, …);
* **bridge**: on bridges (one per bridge, up to `QUOTAS`);
* **market**, **school**, **public_square**: at junctions in dense neighbourhoods (squares near the
  centre), standing for the places where such cameras are usually mounted.

Every candidate is also weighted by population density, taken from the pre-2025 units (2009 census,
the best-resolved population data) or else from the 2025 ward totals, so cameras crowd where people
live. Sites keep at least `MIN_SPACING_M` apart. The 50 connected cameras are drawn with a preference
for major junctions, bridges, markets and squares in dense areas, as a pilot would be. The registry is
labelled synthetic (provenance ``source="synthetic"``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from twin import cameras as cam
from twin import provenance
from twin.crs import METRIC, WGS84, local_metres
from twin.errors import DataError, InputError
from twin.network import ROAD_CLASSES, RoadNetwork
from twin.wards import CITY_WARD_CODES, WardIndex, core_wards

N_SITES = 238
N_CONNECTED = 50
MIN_SPACING_M = 60.0
#: Target number of sites per kind (intersections take what the other kinds cannot fill).
QUOTAS: dict[str, int] = {"bridge": 12, "corridor": 36, "market": 24, "school": 34, "public_square": 14}
#: Field of view (degrees) and range (metres) per kind; a public square gets a 360° dome camera.
OPTICS: dict[str, tuple[float, float]] = {
    "intersection": (90.0, 80.0),
    "corridor": (60.0, 150.0),
    "bridge": (70.0, 120.0),
    "market": (100.0, 60.0),
    "school": (90.0, 60.0),
    "public_square": (360.0, 70.0),
}
#: Relative priority of each kind for the 2021 pilot (which 50 got connected first).
PILOT_PRIORITY: dict[str, float] = {
    "intersection": 1.0,
    "bridge": 2.0,
    "market": 1.5,
    "public_square": 1.5,
    "corridor": 0.8,
    "school": 0.6,
}
#: City centre (Wikipedia infobox point), used to place squares and order ids.
CENTRE_LON, CENTRE_LAT = 106.75778, 21.84778
_CLASS_WEIGHT = dict(zip(ROAD_CLASSES, (6.0, 5.0, 3.5, 2.5, 1.0, 0.5), strict=True))
_DIRECTIONS = ("Bắc", "Đông Bắc", "Đông", "Đông Nam", "Nam", "Tây Nam", "Tây", "Tây Bắc")


def _bearing(
    x0: npt.ArrayLike, y0: npt.ArrayLike, x1: npt.ArrayLike, y1: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Return the bearing (degrees clockwise from north, [0, 360)) from lon/lat 0 to lon/lat 1."""
    a = local_metres(x0, y0)
    b = local_metres(x1, y1)
    d = b - a
    return np.mod(np.rad2deg(np.arctan2(d[:, 0], d[:, 1])), 360.0)


def _density(
    wards: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame | None,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Return people per km² at each point: pre-2025 unit density where known, else ward density."""
    core = core_wards(wards)
    area = core.to_crs(METRIC).area.to_numpy() / 1e6
    ward_density = dict(zip(core.index, core["population"].to_numpy() / area, strict=True))
    codes = WardIndex(core).lookup(lon, lat)
    dens = np.array([ward_density.get(c, 0.0) for c in codes], dtype=np.float64)
    if units is not None and "population_2009" in units.columns:
        city_units = units[units.get("new_code", pd.Series(None, index=units.index)).isin(CITY_WARD_CODES)]
        if len(city_units):
            u_area = city_units.to_crs(METRIC).area.to_numpy() / 1e6
            u_dens = city_units["population_2009"].to_numpy(dtype=float) / u_area
            pos = WardIndex(city_units).positions(lon, lat)
            hit = pos >= 0
            dens[hit] = u_dens[pos[hit]]
    return np.maximum(dens, 1.0)


def _pick(
    keys: npt.NDArray[np.float64],
    xy: npt.NDArray[np.float64],
    taken: list[npt.NDArray[np.float64]],
    count: int,
    spacing: float,
) -> list[int]:
    """Return up to `count` candidate rows in order of `keys` (high first), kept `spacing` apart."""
    chosen: list[int] = []
    if count <= 0:
        return chosen
    placed = np.vstack(taken) if taken else np.empty((0, 2))
    for i in np.argsort(-keys, kind="stable"):
        if not np.isfinite(keys[i]):
            break
        if placed.size and np.min(np.hypot(*(placed - xy[i]).T)) < spacing:
            continue
        chosen.append(int(i))
        placed = np.vstack((placed, xy[i]))
        if len(chosen) == count:
            break
    return chosen


def _gumbel_keys(weights: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Return keys whose descending order is a weighted sample without replacement (Gumbel top-k)."""
    with np.errstate(divide="ignore"):
        logw = np.log(np.asarray(weights, dtype=np.float64))
    return logw + rng.gumbel(size=len(logw))


def _direction_vi(heading: float) -> str:
    return _DIRECTIONS[int(((heading % 360) + 22.5) // 45) % 8]


def synthetic_cameras(
    wards: gpd.GeoDataFrame,
    network: RoadNetwork,
    *,
    units: gpd.GeoDataFrame | None = None,
    seed: int = 2025,
    n_sites: int = N_SITES,
    n_connected: int = N_CONNECTED,
    as_of: datetime | None = None,
) -> gpd.GeoDataFrame:
    """Return a synthetic registry of `n_sites` cameras, `n_connected` of them linked to the IOC.

    Parameters
    ----------
    wards
        The 2025 ward table indexed by code (the 4 city wards must be present).
    network
        The road network the cameras are placed on (synthetic or OSM).
    units
        The pre-2025 units with 2009 census population (finer population weights); optional.
    seed
        Seed of the generator; the same inputs and seed give the same registry.
    n_sites, n_connected
        Registry size and how many cameras the IOC connected.
    as_of
        The moment ``last_seen`` is relative to (UTC; default now, to the minute).

    Returns
    -------
    GeoDataFrame
        One row per camera with the columns of `twin.cameras.CAMERA_COLUMNS`, plus ``node_id``
        (the nearest network node), indexed 0..n-1 in ``camera_id`` order, provenance synthetic.
    """
    if n_sites < 1:
        raise InputError("n_sites", f"must be at least 1, got {n_sites}")
    if not 0 <= n_connected <= n_sites:
        raise InputError("n_connected", f"must be within 0..n_sites ({n_sites}), got {n_connected}")
    rng = np.random.default_rng(seed)
    as_of = (as_of or datetime.now(UTC).replace(second=0, microsecond=0)).astimezone(UTC)
    core = core_wards(wards)
    index = WardIndex(core)

    nodes = network.nodes
    links = network.links
    nx = nodes["x"].to_numpy(dtype=float)
    ny = nodes["y"].to_numpy(dtype=float)
    node_ward = index.lookup(nx, ny)
    inside = node_ward != ""
    if inside.sum() < n_sites:
        raise DataError(
            f"the road network has {int(inside.sum())} nodes inside the city, fewer than {n_sites} cameras",
            hint="build the network over the city wards (gis_data.roads.build_network)",
        )
    # undirected view of the links: one row per street (u < v), for degree, class and names
    u = links["u"].to_numpy()
    v = links["v"].to_numpy()
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    street = pd.DataFrame(
        {
            "a": lo,
            "b": hi,
            "w": links["road_class"].map(_CLASS_WEIGHT).to_numpy(dtype=float),
            "cls": links["road_class"].to_numpy(),
            "name": links["name"].fillna("").astype(str).to_numpy(),
            "bridge": links["bridge"].astype(bool).to_numpy(),
            "u": u,
            "v": v,
        }
    ).drop_duplicates(["a", "b"])
    ends = pd.concat(
        [
            street[["a", "b", "w", "name"]].rename(columns={"a": "node", "b": "other"}),
            street[["b", "a", "w", "name"]].rename(columns={"b": "node", "a": "other"}),
        ],
        ignore_index=True,
    ).sort_values(["node", "w"], ascending=[True, False], kind="stable")
    degree = np.bincount(ends["node"].to_numpy(), minlength=len(nodes))
    top2 = ends[ends.groupby("node").cumcount() < 2].groupby("node")["w"].sum()
    junction_score = np.zeros(len(nodes))
    junction_score[top2.index.to_numpy()] = top2.to_numpy()
    best = ends.drop_duplicates("node").set_index("node")
    street_names = (
        ends[ends["name"] != ""].drop_duplicates(["node", "name"]).groupby("node")["name"].agg(list)
    )
    dens_nodes = _density(wards, units, nx, ny)
    node_xy = local_metres(nx, ny)
    dist_centre = np.hypot(*(node_xy - local_metres([CENTRE_LON], [CENTRE_LAT])[0]).T)

    # candidate tables per kind: (lon, lat, weight, heading or NaN, node, street name)
    cand: dict[str, pd.DataFrame] = {}
    junction = inside & (degree >= 3)
    # street nodes of degree < 3 stay candidates with a negligible weight, so that a coarse network
    # still yields all sites (Gumbel keys order them after every true junction)
    cand["intersection"] = pd.DataFrame(
        {
            "node": np.flatnonzero(inside),
            "w": np.where(junction, junction_score**2 * dens_nodes**0.7, 1e-9 * dens_nodes)[inside],
        }
    )
    plain = inside & (degree >= 2)
    cand["market"] = pd.DataFrame({"node": np.flatnonzero(plain), "w": dens_nodes[plain] ** 1.5})
    cand["school"] = pd.DataFrame({"node": np.flatnonzero(plain), "w": dens_nodes[plain]})
    cand["public_square"] = pd.DataFrame(
        {"node": np.flatnonzero(plain), "w": (dens_nodes * np.exp(-dist_centre / 1500.0))[plain]}
    )
    # links: corridor points at trunk link midpoints, bridge points at bridge midpoints
    geom_mid = gpd.GeoSeries(
        shapely.line_interpolate_point(links.geometry.to_numpy(), 0.5, normalized=True), crs=WGS84
    )
    street_mid = geom_mid.iloc[street.index.to_numpy()] if len(street) else geom_mid.iloc[:0]
    mx = street_mid.x.to_numpy()
    my = street_mid.y.to_numpy()
    mid_ward = index.lookup(mx, my)
    heading_link = _bearing(nx[street["u"]], ny[street["u"]], nx[street["v"]], ny[street["v"]])
    dens_mid = _density(wards, units, mx, my)
    street_name = street["name"].to_numpy()

    def at_street_middles(keep: npt.NDArray[np.bool_], power: float) -> pd.DataFrame:
        """Candidates at the middles of the `keep` streets, facing along them, weighted density**power."""
        return pd.DataFrame(
            {
                "x": mx[keep],
                "y": my[keep],
                "w": dens_mid[keep] ** power,
                "heading": heading_link[keep],
                "name": street_name[keep],
            }
        )

    in_city = mid_ward != ""
    cand["corridor"] = at_street_middles((street["cls"].to_numpy() == "trunk") & in_city, 0.3)
    cand["bridge"] = at_street_middles(street["bridge"].to_numpy() & in_city, 0.5)
    for kind in ("intersection", "market", "school", "public_square"):
        c = cand[kind]
        c["x"] = nx[c["node"]]
        c["y"] = ny[c["node"]]
        c["heading"] = np.nan
        c["name"] = ""

    quotas = dict(QUOTAS)
    scale = n_sites / N_SITES
    quotas = {k: round(q * scale) for k, q in quotas.items()}
    picked: list[pd.DataFrame] = []
    taken: list[npt.NDArray[np.float64]] = []
    remaining = n_sites
    for kind in ("bridge", "corridor", "market", "school", "public_square", "intersection"):
        want = remaining if kind == "intersection" else min(quotas[kind], remaining)
        c = cand[kind]
        xy = local_metres(c["x"].to_numpy(), c["y"].to_numpy())
        keys = _gumbel_keys(c["w"].to_numpy(dtype=float), rng)
        spacing = MIN_SPACING_M * (3.0 if kind == "bridge" else 1.0)
        rows = _pick(keys, xy, taken, want, spacing)
        sel = c.iloc[rows].copy()
        sel["kind"] = kind
        picked.append(sel)
        taken.append(local_metres(sel["x"].to_numpy(), sel["y"].to_numpy()))
        remaining -= len(sel)
    sites = pd.concat(picked, ignore_index=True)
    if len(sites) < n_sites:
        raise DataError(
            f"only {len(sites)} camera sites fit {MIN_SPACING_M:g} m apart on this network",
            hint="use a denser road network or fewer cameras",
        )
    x = sites["x"].to_numpy(dtype=float)
    y = sites["y"].to_numpy(dtype=float)
    node_of = network.nearest_node(x, y)
    sites["node"] = node_of
    ward = index.lookup(x, y)
    dens = _density(wards, units, x, y)

    # heading: along the road for corridor/bridge; down the main road for junction cameras
    heading = sites["heading"].to_numpy(dtype=float, copy=True)
    is_junction = sites["kind"].to_numpy() == "intersection"
    other = best["other"].reindex(node_of).to_numpy()
    has_other = is_junction & ~pd.isna(other)
    if has_other.any():
        oth = other[has_other].astype(np.int64)
        heading[has_other] = _bearing(x[has_other], y[has_other], nx[oth], ny[oth])
    free = np.isnan(heading)
    heading[free] = rng.integers(0, 72, size=int(free.sum())) * 5.0
    heading = np.round(np.mod(heading, 360.0), 1)
    kinds = sites["kind"].to_numpy()
    fov = np.array([OPTICS[k][0] for k in kinds])
    rng_m = np.array([OPTICS[k][1] for k in kinds]) * rng.uniform(0.85, 1.15, size=len(kinds))
    fov = np.where(fov < 360, np.round(fov * rng.uniform(0.9, 1.1, size=len(kinds)) / 5) * 5, 360.0)

    # the 2021 pilot: which cameras got connected
    prio = np.array([PILOT_PRIORITY[k] for k in kinds]) * np.sqrt(dens)
    prio = prio * np.where(is_junction, 1.0 + junction_score[node_of] / 12.0, 1.0)
    connected = np.zeros(len(sites), dtype=bool)
    connected[np.argsort(-_gumbel_keys(prio, rng), kind="stable")[:n_connected]] = True
    online = connected & (rng.random(len(sites)) < 0.92)
    status = np.where(connected, np.where(online, "online", "offline"), "not_connected")
    lag_s = np.where(online, rng.uniform(5, 120, len(sites)), rng.uniform(3600, 72 * 3600, len(sites)))
    base = pd.Timestamp(as_of)
    last_seen = pd.Series(
        [base - timedelta(seconds=float(s)) if c else pd.NaT for s, c in zip(lag_s, connected, strict=True)],
        dtype="datetime64[ns, UTC]",
    ).dt.floor("s")

    names = _names(
        sites, _locality(wards, units, x, y), degree, street_names, np.where(fov < 360, heading, np.nan)
    )
    frame = pd.DataFrame(
        {
            "name": names,
            "ward_code": ward,
            "kind": kinds,
            "heading_deg": heading,
            "fov_deg": fov,
            "range_m": np.round(rng_m, 0),
            "connected": connected,
            "status": status,
            "last_seen": last_seen,
            "node_id": node_of.astype(np.int64),
            "_d": np.hypot(*(local_metres(x, y) - local_metres([CENTRE_LON], [CENTRE_LAT])[0]).T),
            "x": x,
            "y": y,
        }
    )
    # ids run ward by ward, outward from the centre, as a registry would be numbered
    frame = frame.sort_values(["ward_code", "_d"], kind="stable", ignore_index=True)
    frame.insert(0, "camera_id", [f"LS-CAM-{i + 1:03d}" for i in range(len(frame))])
    out = gpd.GeoDataFrame(
        frame.drop(columns=["_d", "x", "y"]),
        geometry=gpd.points_from_xy(frame["x"], frame["y"]),
        crs=WGS84,
    )
    provenance.attach(
        out,
        provenance.Provenance(
            name="cameras",
            source="synthetic",
            licence="CC0-1.0",
            description=(
                f"Synthetic registry: {n_sites} camera sites, {n_connected} connected (the 2021 IOC "
                "pilot); positions generated on the road network, weighted by population; not real"
            ),
            inputs=("wards_2025", network.provenance.name),
            params={"seed": seed, "n_sites": n_sites, "n_connected": n_connected, "as_of": base.isoformat()},
        ),
    )
    return cam.validate(out)


def _locality(
    wards: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame | None,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
) -> list[str]:
    """Return the name people use for each place: the pre-2025 unit (e.g. Vĩnh Trại), else the ward."""
    core = core_wards(wards)
    ward_names = dict(zip(core.index, core["name"].astype(str), strict=True))
    out = [ward_names.get(c, "") for c in WardIndex(core).lookup(lon, lat)]
    if units is not None and {"name_vi", "new_code"} <= set(units.columns):
        city = units[units["new_code"].isin(CITY_WARD_CODES)]
        if len(city):
            short = city["name_vi"].astype(str).str.replace(r"^(Phường|Xã|Thị trấn) ", "", regex=True)
            pos = WardIndex(city).positions(lon, lat)
            names = short.to_numpy()
            out = [str(names[p]) if p >= 0 else o for p, o in zip(pos, out, strict=True)]
    return out


def _names(
    sites: pd.DataFrame,
    locality: list[str],
    degree: npt.NDArray[np.int64],
    street_names: pd.Series,
    heading: npt.NDArray[np.float64],
) -> list[str]:
    """Return a unique Vietnamese name per site: the place, then the direction it looks (NaN: a dome)."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for kind, node, link_name, loc, head in zip(
        sites["kind"], sites["node"], sites["name"], locality, heading, strict=True
    ):
        streets = street_names.get(int(node), []) if int(node) in street_names.index else []
        if kind == "intersection":
            prefix = "Ngã tư" if degree[int(node)] >= 4 else "Ngã ba"
            if len(streets) >= 2:
                place = f"{prefix} {streets[0]} – {streets[1]}"
            elif streets:
                place = f"{prefix} {streets[0]}, {loc}"
            else:
                place = f"{prefix} khu vực {loc}"
        elif kind == "corridor":
            place = f"{link_name} đoạn {loc}" if link_name else f"Quốc lộ đoạn {loc}"
        elif kind == "bridge":
            place = str(link_name) if str(link_name).startswith("Cầu") else f"Cầu {loc}"
        elif kind == "market":
            place = f"Khu chợ {loc}"
        elif kind == "school":
            place = f"Cổng trường học {loc}"
        else:
            place = f"Quảng trường – công viên {loc}"
        label = place if np.isnan(head) else f"{place} (hướng {_direction_vi(float(head))})"
        n = seen.get(label, 0) + 1
        seen[label] = n
        out.append(label if n == 1 else f"{label} – số {n}")
    return out

"""Generate the synthetic, grounded road network of Lạng Sơn inside the real 2025 ward polygons.

No OpenStreetMap extract of Lạng Sơn is reachable from this project's machines, so the default network
is generated, deterministically by seed, from what the real data tells us:

* the study area is the union of the 4 city wards of 2025 (about 176 km²);
* the dense old urban core is the 5 pre-2025 phường (about 12 km²) plus the old Cao Lộc town: a
  jittered, rotated street mesh with ~130 m blocks; a suburban ring of ~300 m blocks around it; sparse
  village roads (~600 m) in the rural rest, denser along the national roads (ribbon development);
* the national corridors QL1A (south-west to Hà Nội; north through Cao Lộc to Đồng Đăng and the
  border), QL4A (north-west to Cao Bằng), QL1B (west to Thái Nguyên) and QL4B (south-east to Lộc Bình
  and Quảng Ninh) run from the old centre to the edge of the city, where their end nodes are marked
  as gateways;
* the Kỳ Cùng river (an approximate centreline, see `river_line`) passes just north of the old centre
  and is crossed only at a few bridges (links flagged ``bridge``): Cầu Kỳ Cùng carries QL1A towards
  Kỳ Lừa market.

The street mesh is the relative-neighbourhood graph of the jittered points (planar, connected, close to
a grid) plus a share of Gabriel-graph diagonals, with a few random street segments removed (never the
minimum spanning tree) so blocks are irregular. Road classes come from a sampled edge betweenness on
free-flow times, so arterials are the streets that carry through traffic. The urban core gets one-way
couplets; junctions of main roads get signals. The largest strongly connected component is kept.

The corridor numbers are the real national roads, and Cầu Kỳ Cùng, Cầu Đông Kinh and Cầu 17-10 are
real bridge names, but every position is approximate; the two outer bridges have descriptive names
only. Everything here is synthetic and labelled so.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from twin.crs import METRIC, WGS84, to_metric_xy, to_wgs84_xy
from twin.errors import DataError
from twin.network import ROAD_CLASSES, RoadNetwork
from twin.provenance import Provenance

#: Bump when the generator's output changes for the same inputs and seed (it keys the cache).
GENERATOR_VERSION = "1.4"

RIVER_NAME = "Sông Kỳ Cùng"
RIVER_WIDTH_M = 90.0

#: Approximate Kỳ Cùng centreline (lon, lat), west to east. It runs between the pre-2025 phường north
#: of the river (Tam Thanh, Hoàng Văn Thụ, Vĩnh Trại) and those south of it (Chi Lăng, Đông Kinh),
#: ~350 m north of the city reference point, then south-east through Mai Pha.
_RIVER_LONLAT: tuple[tuple[float, float], ...] = (
    (106.680, 21.874),
    (106.698, 21.868),
    (106.715, 21.861),
    (106.732, 21.853),
    (106.745, 21.8497),
    (106.7575, 21.8512),
    (106.770, 21.8522),
    (106.781, 21.8495),
    (106.792, 21.842),
    (106.805, 21.833),
    (106.822, 21.826),
    (106.845, 21.822),
    (106.885, 21.815),
)

#: City reference point (places.csv, Wikipedia): the old centre, south of the river.
CENTRE_LONLAT = (106.75778, 21.84778)

_ZONES = ("urban", "suburban", "rural")
_CLASS_RANK = {c: i for i, c in enumerate(ROAD_CLASSES)}

#: Speed limits (km/h) by zone and class: Vietnamese urban limits are 50-60 km/h on main roads.
_SPEED_KMH: dict[str, dict[str, float]] = {
    "urban": {"trunk": 50, "primary": 50, "secondary": 40, "tertiary": 35, "residential": 25, "service": 20},
    "suburban": {
        "trunk": 60,
        "primary": 50,
        "secondary": 45,
        "tertiary": 40,
        "residential": 30,
        "service": 20,
    },
    "rural": {"trunk": 60, "primary": 55, "secondary": 50, "tertiary": 40, "residential": 30, "service": 20},
}
#: Lanes per direction by zone and class (national roads are dual two-lane inside the city).
_LANES: dict[str, dict[str, int]] = {
    "urban": {"trunk": 2, "primary": 2},
    "suburban": {"trunk": 2, "primary": 1},
    "rural": {"trunk": 1},
}


@dataclass(frozen=True)
class Corridor:
    """A national road: anchors inside the city, then straight on `bearing_deg` to the city edge.

    If `branch_of` is set, the first anchor snaps to the nearest node of that (earlier) corridor.
    """

    ref: str
    toward: str
    anchors: tuple[tuple[float, float], ...]
    bearing_deg: float
    branch_of: str = ""


CORRIDORS: tuple[Corridor, ...] = (
    Corridor("QL1A", "Hà Nội", (CENTRE_LONLAT, (106.748, 21.832)), 212.0),
    Corridor(
        "QL1A",
        "Đồng Đăng – cửa khẩu Hữu Nghị",
        (CENTRE_LONLAT, (106.7585, 21.8585), (106.7700, 21.8678)),
        352.0,
    ),
    Corridor("QL4A", "Cao Bằng", ((106.7595, 21.8600), (106.7500, 21.8720)), 322.0, branch_of="QL1A"),
    Corridor("QL1B", "Thái Nguyên", ((106.7500, 21.8720), (106.7350, 21.8740)), 275.0, branch_of="QL4A"),
    Corridor("QL4B", "Lộc Bình – Quảng Ninh", (CENTRE_LONLAT, (106.7720, 21.8380)), 140.0),
)

#: Bridge names for corridors crossing the river, and street bridges at approximate sites (lon, lat).
CORRIDOR_BRIDGES = {"QL1A": "Cầu Kỳ Cùng"}
STREET_BRIDGES: tuple[tuple[str, float, float], ...] = (
    ("Cầu Đông Kinh", 106.7690, 21.8520),
    ("Cầu 17-10", 106.7430, 21.8500),
    ("Cầu phía Tây", 106.7200, 21.8590),  # descriptive names: no sourced bridge here
    ("Cầu phía Đông", 106.8220, 21.8260),
)


#: Real bridge names (positions approximate); the other bridge names are descriptive.
REAL_BRIDGE_NAMES = frozenset({"Cầu Kỳ Cùng", "Cầu Đông Kinh", "Cầu 17-10"})
#: Plausible street names for the generated main streets (common Vietnamese street names, in the order
#: given to the longest streets first). Synthetic: no street of that name is claimed to lie there;
#: every link named from this list has ``name_source = "synthetic"``.
SYNTHETIC_STREET_NAMES: tuple[str, ...] = (
    "Trần Đăng Ninh", "Bà Triệu", "Lê Lợi", "Hùng Vương", "Lý Thường Kiệt", "Trần Hưng Đạo",
    "Nguyễn Du", "Quang Trung", "Lê Lai", "Phai Vệ", "Tô Thị", "Ngô Quyền", "Nguyễn Thái Học",
    "Hoàng Hoa Thám", "Minh Khai", "Lê Hồng Phong", "Bắc Sơn", "Văn Vỉ", "Chu Văn An", "Đinh Tiên Hoàng",
    "Yết Kiêu", "Phan Bội Châu", "Tông Đản", "Nguyễn Trãi", "Mỹ Sơn", "Lương Thế Vinh", "Hoàng Diệu",
    "Ngô Gia Tự", "Lý Tự Trọng", "Trần Quang Khải", "Thân Cảnh Phúc", "Nguyễn Đình Chiểu",
)  # fmt: skip
#: Classes of the generated streets that get a synthetic name (local streets stay unnamed).
_NAMED_CLASSES = ("primary", "secondary", "tertiary")
#: A street continues through a junction when it turns by less than this (degrees).
_STRAIGHT_DEG = 35.0
#: Streets shorter than this (m) get no name.
_MIN_STREET_M = 400.0


@dataclass(frozen=True)
class SyntheticParams:
    """Knobs of the generator (the defaults are the city network; all lengths in metres)."""

    urban_spacing_m: float = 130.0
    suburban_spacing_m: float = 300.0
    rural_spacing_m: float = 600.0
    suburban_ring_m: float = 1500.0
    jitter: float = 0.18
    rural_keep: float = 0.5
    ribbon_m: float = 700.0
    diagonal_share: tuple[float, float, float] = (0.10, 0.15, 0.25)
    drop_share: tuple[float, float, float] = (0.06, 0.12, 0.20)
    class_shares: tuple[float, float, float] = (0.04, 0.08, 0.16)
    oneway_every: int = 4
    river_width_m: float = RIVER_WIDTH_M
    bank_margin_m: float = 20.0
    betweenness_sources: int = 200
    betweenness_targets: int = 400

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-able dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# -- geography --------------------------------------------------------------------------------------
def _to_metric_xy(lonlat: npt.ArrayLike) -> npt.NDArray[np.float64]:
    a = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    return np.column_stack(to_metric_xy(a[:, 0], a[:, 1]))


def _chaikin(xy: npt.NDArray[np.float64], iterations: int = 2) -> npt.NDArray[np.float64]:
    """Smooth a polyline by corner cutting, keeping both end points."""
    for _ in range(iterations):
        if len(xy) < 3:
            return xy
        p, q = xy[:-1], xy[1:]
        cut = np.empty((2 * len(p), 2))
        cut[0::2] = 0.75 * p + 0.25 * q
        cut[1::2] = 0.25 * p + 0.75 * q
        xy = np.vstack((xy[:1], cut[1:-1], xy[-1:]))
    return xy


def river_line() -> shapely.LineString:
    """Return the approximate Kỳ Cùng centreline in the metric CRS (UTM 48N), smoothed."""
    return shapely.LineString(_chaikin(_to_metric_xy(_RIVER_LONLAT), 3))


def core_wards(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the 4 city wards of 2025 (rows flagged ``core_city_ward``), or raise `DataError`."""
    if "core_city_ward" not in wards.columns or wards.crs is None:
        raise DataError(
            "wards table lacks the core_city_ward column or a CRS",
            hint="pass gis_data.load.wards_2025(); run `twin data fetch` first",
        )
    core = wards[wards["core_city_ward"].astype(bool)]
    if core.empty:
        raise DataError("wards table has no core city wards", hint="pass gis_data.load.wards_2025()")
    return core


@dataclass(frozen=True)
class _Geography:
    study: BaseGeometry  # metric
    urban: BaseGeometry
    suburban: BaseGeometry
    river: shapely.LineString
    river_zone: BaseGeometry  # no street nodes inside
    river_water: BaseGeometry  # no non-bridge link may touch it


def _geography(wards: gpd.GeoDataFrame, units: gpd.GeoDataFrame, p: SyntheticParams) -> _Geography:
    core = core_wards(wards).to_crs(METRIC)
    study = shapely.union_all(core.geometry.to_numpy()).buffer(0)
    if "name_vi" not in units.columns or units.crs is None:
        raise DataError(
            "pre-2025 units table lacks name_vi or a CRS", hint="pass gis_data.load.units_pre2025()"
        )
    u = units.to_crs(METRIC)
    names = u["name_vi"].astype(str)
    in_city = u["in_city_pre2025"].astype(bool) if "in_city_pre2025" in u.columns else names.ne("")
    phuong = u[in_city & names.str.startswith("Phường")]
    towns = u[names.str.startswith("Thị trấn") & u.geometry.representative_point().within(study)]
    if phuong.empty:
        raise DataError("no pre-2025 phường found to place the urban core", hint="check units_pre2025")
    urban_parts = [*phuong.geometry.to_numpy(), *towns.geometry.to_numpy()]
    urban = shapely.union_all(urban_parts).buffer(100.0).intersection(study)
    suburban = urban.buffer(p.suburban_ring_m).intersection(study).difference(urban)
    river = river_line()
    half = p.river_width_m / 2.0
    return _Geography(
        study=study,
        urban=urban,
        suburban=suburban,
        river=river,
        river_zone=river.buffer(half + p.bank_margin_m),
        river_water=river.buffer(half),
    )


def _zone_of(geo: _Geography, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Return 0 (urban), 1 (suburban) or 2 (rural) per point."""
    zone = np.full(len(xy), 2, dtype=np.int64)
    zone[shapely.contains_xy(geo.suburban, xy[:, 0], xy[:, 1])] = 1
    zone[shapely.contains_xy(geo.urban, xy[:, 0], xy[:, 1])] = 0
    return zone


def _spacing(p: SyntheticParams) -> npt.NDArray[np.float64]:
    return np.array([p.urban_spacing_m, p.suburban_spacing_m, p.rural_spacing_m])


# -- forced segments: corridors and bridges -------------------------------------------------------------
@dataclass
class _Forced:
    """Nodes and segments the mesh must contain (corridors, bridges), in metric coordinates."""

    xy: list[tuple[float, float]]
    index: dict[tuple[float, float], int]
    seg_a: list[int]
    seg_b: list[int]
    seg_ref: list[str]  # corridor ref ("" for street bridges)
    seg_bridge: list[bool]
    seg_name: list[str]
    gateways: dict[int, str]
    bridges: list[dict[str, Any]]

    def node(self, x: float, y: float) -> int:
        key = (round(x, 3), round(y, 3))
        if key not in self.index:
            self.index[key] = len(self.xy)
            self.xy.append(key)
        return self.index[key]


def _first_exit(study: BaseGeometry, start: npt.NDArray[np.float64], bearing_deg: float) -> np.ndarray:
    """Return the point 30 m before the ray from `start` on `bearing_deg` first leaves `study`."""
    b = np.deg2rad(bearing_deg)
    direction = np.array([np.sin(b), np.cos(b)])
    ray = shapely.LineString([start, start + 60_000.0 * direction])
    hit = ray.intersection(study.boundary)
    pts = shapely.get_coordinates(hit)
    if len(pts) == 0:
        raise DataError(f"corridor ray from {start} on {bearing_deg}° never leaves the city")
    t = (pts - start) @ direction
    first = float(t[t > 1.0].min())
    return np.asarray(start + (first - 30.0) * direction)


def _stations(
    line: shapely.LineString, geo: _Geography, p: SyntheticParams
) -> tuple[list[float], list[bool]]:
    """Return distances along `line` for its nodes and, per segment, whether it is a bridge.

    Steps follow the zone spacing; where the line crosses the river zone, nodes sit on both banks and
    the segment between them is the bridge.
    """
    spacing = _spacing(p)
    crossings: list[tuple[float, float]] = []
    wet = line.intersection(geo.river_zone)
    for part in getattr(wet, "geoms", [wet]):
        if part.is_empty or part.length < 1.0:
            continue
        c = shapely.get_coordinates(part)
        a, b = sorted((line.project(shapely.Point(c[0])), line.project(shapely.Point(c[-1]))))
        crossings.append((a, b))
    crossings.sort()
    stations = [0.0]
    bridge: list[bool] = []
    t = 0.0
    ci = 0
    while True:
        pt = line.interpolate(t)
        step = float(spacing[_zone_of(geo, np.array([[pt.x, pt.y]]))[0]])
        nxt = t + step
        if ci < len(crossings) and nxt >= crossings[ci][0]:
            a, b = crossings[ci]
            if a - t > 0.3 * step:
                stations.append(a)
                bridge.append(False)
            elif bridge:
                stations[-1] = a  # pull the last node onto the bank
            stations.append(b)
            bridge.append(True)
            t = b
            ci += 1
            continue
        if nxt >= line.length - 0.3 * step:
            if line.length - t < 0.3 * step and bridge and bridge[-1]:
                break  # the line ends on a river bank
            stations.append(line.length)
            bridge.append(False)
            break
        stations.append(nxt)
        bridge.append(False)
        t = nxt
    return stations, bridge


def _add_line(
    forced: _Forced,
    line: shapely.LineString,
    geo: _Geography,
    p: SyntheticParams,
    *,
    ref: str,
    name: str,
    bridge_name: str,
) -> list[int]:
    stations, is_bridge = _stations(line, geo, p)
    ids = []
    for s in stations:
        pt = line.interpolate(s)
        ids.append(forced.node(pt.x, pt.y))
    for a, b, br in zip(ids[:-1], ids[1:], is_bridge, strict=True):
        if a == b:
            continue
        forced.seg_a.append(a)
        forced.seg_b.append(b)
        forced.seg_ref.append(ref)
        forced.seg_bridge.append(br)
        forced.seg_name.append(name if (ref or not br) else bridge_name)
        if br:
            mid = (np.asarray(forced.xy[a]) + np.asarray(forced.xy[b])) / 2
            forced.bridges.append({"name": bridge_name, "ref": ref, "xy": mid})
    return ids


def _forced_segments(geo: _Geography, p: SyntheticParams) -> _Forced:
    forced = _Forced([], {}, [], [], [], [], [], {}, [])
    nodes_of: dict[str, list[int]] = {}
    for cor in CORRIDORS:
        anchors = _to_metric_xy(cor.anchors)
        if cor.branch_of:
            ids = nodes_of[cor.branch_of]
            xy = np.asarray([forced.xy[i] for i in ids])
            anchors[0] = xy[np.argmin(((xy - anchors[0]) ** 2).sum(axis=1))]
        exit_xy = _first_exit(geo.study, anchors[-1], cor.bearing_deg)
        poly = _chaikin(np.vstack((anchors, exit_xy)), 2)
        ids = _add_line(
            forced,
            shapely.LineString(poly),
            geo,
            p,
            ref=cor.ref,
            name=cor.ref,
            bridge_name=CORRIDOR_BRIDGES.get(cor.ref, f"Cầu {cor.ref}"),
        )
        forced.gateways[ids[-1]] = cor.toward
        nodes_of[cor.ref] = nodes_of.get(cor.ref, []) + ids
    half = p.river_width_m / 2 + p.bank_margin_m
    for name, lon, lat in STREET_BRIDGES:
        site = shapely.Point(_to_metric_xy((lon, lat))[0])
        if not geo.study.contains(site):
            continue
        t = geo.river.project(site)
        c = np.asarray(geo.river.interpolate(t).coords[0])
        tangent = np.asarray(geo.river.interpolate(t + 25.0).coords[0]) - np.asarray(
            geo.river.interpolate(t - 25.0).coords[0]
        )
        normal = np.array([-tangent[1], tangent[0]]) / np.hypot(*tangent)
        a = forced.node(*(c - normal * half))
        b = forced.node(*(c + normal * half))
        forced.seg_a.append(a)
        forced.seg_b.append(b)
        forced.seg_ref.append("")
        forced.seg_bridge.append(True)
        forced.seg_name.append(name)
        forced.bridges.append({"name": name, "ref": "", "xy": c})
    return forced


# -- the street mesh ----------------------------------------------------------------------------------
def _jittered_grid(
    zone: BaseGeometry, spacing: float, angle_deg: float, rng: np.random.Generator, jitter: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Return points of a rotated, jittered grid inside `zone`, with their (i, j) grid indices (>= 0)."""
    if zone.is_empty:
        return np.empty((0, 2)), np.empty((0, 2), dtype=np.int64)
    minx, miny, maxx, maxy = zone.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half = np.hypot(maxx - minx, maxy - miny) / 2
    m = int(half / spacing) + 1
    k = np.arange(-m, m + 1)
    gi, gj = np.meshgrid(k, k, indexing="ij")
    ij = np.column_stack((gi.ravel(), gj.ravel()))
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    noise = np.clip(rng.normal(0.0, jitter, size=ij.shape), -0.35, 0.35)
    xy = ((ij + noise) * spacing) @ rot.T + (cx, cy)
    inside = shapely.contains_xy(zone, xy[:, 0], xy[:, 1])
    return xy[inside], ij[inside] + m  # indices >= 0: -1 marks points off the urban grid


def _mesh_points(
    geo: _Geography, forced_xy: npt.NDArray[np.float64], rng: np.random.Generator, p: SyntheticParams
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Return mesh points (metric) and their urban grid indices (-1 outside the urban grid)."""
    from scipy.spatial import cKDTree  # noqa: PLC0415  (scipy: ~0.6 s; a cached network needs none)

    spacing = _spacing(p)
    rural = geo.study.difference(geo.urban).difference(geo.suburban)
    zones = (geo.urban, geo.suburban, rural)
    angles = (12.0, 20.0, 0.0)
    pts_all: list[npt.NDArray[np.float64]] = []
    ij_all: list[npt.NDArray[np.int64]] = []
    taken = forced_xy.copy()
    for z, (zone, angle) in enumerate(zip(zones, angles, strict=True)):
        xy, ij = _jittered_grid(zone, float(spacing[z]), angle, rng, p.jitter)
        keep_p = np.ones(len(xy))
        if z == 2 and len(xy):
            # villages cluster along the national roads
            d, _ = cKDTree(forced_xy).query(xy)
            keep_p = p.rural_keep + (1.0 - p.rural_keep) * np.exp(-d / p.ribbon_m)
        keep = rng.random(len(xy)) < keep_p
        # clear the river, and the surroundings of corridor/bridge nodes and denser zones' points
        keep &= ~shapely.contains_xy(geo.river_zone.buffer(0.3 * spacing[z]), xy[:, 0], xy[:, 1])
        if len(taken):
            d, _ = cKDTree(taken).query(xy)
            keep &= d > 0.5 * spacing[z]
        xy, ij = xy[keep], ij[keep]
        if z != 0:
            ij = np.full_like(ij, -1)
        pts_all.append(xy)
        ij_all.append(ij)
        taken = np.vstack((taken, xy))
    return np.vstack(pts_all), np.vstack(ij_all)


def _proximity_edges(
    xy: npt.NDArray[np.float64], diag_p: npt.NDArray[np.float64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Return undirected edges (i < j): the relative-neighbourhood graph plus some Gabriel diagonals.

    `diag_p` is, per point, the probability of keeping a Gabriel-only edge that starts there.
    """
    from scipy.spatial import Delaunay, cKDTree  # noqa: PLC0415  (scipy is slow to import)

    tri = Delaunay(xy)
    s = tri.simplices
    e = np.vstack((s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]))
    e = np.unique(np.sort(e, axis=1), axis=0)
    a, b = e[:, 0], e[:, 1]
    d = np.hypot(*(xy[a] - xy[b]).T)
    tree = cKDTree(xy)
    # Gabriel: no point strictly inside the circle on the edge as diameter.
    dmid, _ = tree.query((xy[a] + xy[b]) / 2, k=1)
    gabriel = dmid >= d / 2 * (1 - 1e-9)
    # Relative neighbourhood: no point r with max(|ar|, |br|) < |ab|.
    cand = tree.query_ball_point(xy[a], d * (1 - 1e-9))
    counts = np.fromiter((len(c) for c in cand), dtype=np.int64, count=len(cand))
    flat = np.fromiter(itertools.chain.from_iterable(cand), dtype=np.int64, count=int(counts.sum()))
    eidx = np.repeat(np.arange(len(e)), counts)
    blocker = (
        (flat != a[eidx]) & (flat != b[eidx]) & (np.hypot(*(xy[flat] - xy[b[eidx]]).T) < d[eidx] * (1 - 1e-9))
    )
    rng_edge = np.ones(len(e), dtype=bool)
    rng_edge[eidx[blocker]] = False
    diag = gabriel & ~rng_edge & (rng.random(len(e)) < diag_p[a])
    return np.asarray(e[rng_edge | diag], dtype=np.int64)


def _lines(xy: npt.NDArray[np.float64], edges: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """Return straight LineStrings for the (i, j) rows of `edges`."""
    return np.asarray(shapely.linestrings(np.stack((xy[edges[:, 0]], xy[edges[:, 1]]), axis=1)), dtype=object)


def _drop_crossing(
    edges: npt.NDArray[np.int64],
    xy: npt.NDArray[np.float64],
    blockers: npt.NDArray[Any],
    how: Literal["crosses", "intersects"],
) -> npt.NDArray[np.bool_]:
    """Return a mask of the edges that `how` (crosses / intersects) any of `blockers`."""
    lines = _lines(xy, edges)
    hit = np.zeros(len(edges), dtype=bool)
    if len(blockers):
        idx = shapely.STRtree(lines).query(blockers, predicate=how)
        hit[np.unique(idx[1])] = True
    return hit


def _street_graph(
    geo: _Geography,
    forced: _Forced,
    mesh: npt.NDArray[np.float64],
    rng: np.random.Generator,
    p: SyntheticParams,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return all node coordinates, undirected edges and the forced-segment index of each (-1 if none)."""
    from scipy import sparse  # noqa: PLC0415  (scipy is slow to import)
    from scipy.sparse import csgraph  # noqa: PLC0415

    fxy = np.asarray(forced.xy, dtype=np.float64)
    nf = len(fxy)
    xy = np.vstack((fxy, mesh))
    zone = _zone_of(geo, xy)
    diag_p = np.asarray(p.diagonal_share)[zone]
    edges = _proximity_edges(xy, diag_p, rng)
    # corridor/bridge nodes connect to each other only through their own segments
    edges = edges[~((edges[:, 0] < nf) & (edges[:, 1] < nf))]
    seg = np.column_stack((forced.seg_a, forced.seg_b)).astype(np.int64)
    seg_lines = _lines(fxy, seg)
    bad = _drop_crossing(edges, xy, seg_lines, "crosses")
    bad |= _drop_crossing(edges, xy, np.array([geo.river_water], dtype=object), "intersects")
    lines = _lines(xy, edges)
    area = geo.study.buffer(25.0)
    shapely.prepare(area)
    bad |= ~shapely.covers(area, lines)
    length = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T)
    spacing = _spacing(p)
    bad |= length > 2.5 * spacing[np.maximum(zone[edges[:, 0]], zone[edges[:, 1]])]
    edges = edges[~bad]
    all_edges = np.vstack((seg, edges))
    seg_id = np.concatenate((np.arange(len(seg)), np.full(len(edges), -1)))
    # irregular blocks: remove a share of street segments, never one of a minimum spanning tree
    n = len(xy)
    w = np.hypot(*(xy[all_edges[:, 0]] - xy[all_edges[:, 1]]).T)
    g = sparse.csr_matrix((w, (all_edges[:, 0], all_edges[:, 1])), shape=(n, n))
    mst = csgraph.minimum_spanning_tree(g).tocoo()
    in_mst = set(
        zip(np.minimum(mst.row, mst.col).tolist(), np.maximum(mst.row, mst.col).tolist(), strict=True)
    )
    lo = np.minimum(all_edges[:, 0], all_edges[:, 1])
    hi = np.maximum(all_edges[:, 0], all_edges[:, 1])
    protected = np.fromiter(
        ((i, j) in in_mst for i, j in zip(lo.tolist(), hi.tolist(), strict=True)), dtype=bool, count=len(lo)
    )
    ezone = np.maximum(zone[all_edges[:, 0]], zone[all_edges[:, 1]])
    drop = (seg_id < 0) & ~protected & (rng.random(len(all_edges)) < np.asarray(p.drop_share)[ezone])
    return xy, all_edges[~drop], seg_id[~drop]


def _edge_flows(
    xy: npt.NDArray[np.float64],
    edges: npt.NDArray[np.int64],
    speed: npt.NDArray[np.float64],
    rng: np.random.Generator,
    p: SyntheticParams,
) -> npt.NDArray[np.float64]:
    """Return a sampled edge betweenness: shortest-time paths between random node pairs per edge."""
    from scipy import sparse  # noqa: PLC0415  (scipy is slow to import)
    from scipy.sparse import csgraph  # noqa: PLC0415

    n = len(xy)
    t = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T) / speed
    g = sparse.csr_matrix((t, (edges[:, 0], edges[:, 1])), shape=(n, n))
    src = rng.choice(n, size=min(n, p.betweenness_sources), replace=False)
    dst = rng.choice(n, size=min(n, p.betweenness_targets), replace=False)
    _, pred = csgraph.dijkstra(g, directed=False, indices=src, return_predecessors=True)
    rows = np.repeat(np.arange(len(src)), len(dst))
    cur = np.tile(dst, len(src))
    keys = []
    while len(cur):
        prev = pred[rows, cur]
        ok = prev >= 0
        rows, cur, prev = rows[ok], cur[ok], prev[ok]
        keys.append(np.minimum(prev, cur) * n + np.maximum(prev, cur))
        cur = prev
    flow = np.zeros(len(edges), dtype=np.float64)
    if not keys:
        return flow
    ukeys, counts = np.unique(np.concatenate(keys), return_counts=True)
    ekey = np.minimum(edges[:, 0], edges[:, 1]) * n + np.maximum(edges[:, 0], edges[:, 1])
    pos = np.searchsorted(ukeys, ekey).clip(max=len(ukeys) - 1)
    hit = ukeys[pos] == ekey
    flow[hit] = counts[pos[hit]]
    return flow


def _classify(
    edges: npt.NDArray[np.int64],
    *,
    flow: npt.NDArray[np.float64],
    seg_id: npt.NDArray[np.int64],
    forced: _Forced,
    n: int,
    p: SyntheticParams,
) -> npt.NDArray[np.str_]:
    """Assign road classes: corridors are trunk, the rest by betweenness rank; low-flow leaves are service."""
    cls = np.full(len(edges), "residential", dtype=object)
    is_cor = np.array([s >= 0 and forced.seg_ref[s] != "" for s in seg_id], dtype=bool)
    street = np.flatnonzero(~is_cor)
    order = street[np.argsort(-flow[street], kind="stable")]
    cuts = np.cumsum(np.asarray(p.class_shares)) * len(order)
    for name, lo, hi in zip(("primary", "secondary", "tertiary"), (0.0, cuts[0], cuts[1]), cuts, strict=True):
        cls[order[int(lo) : int(hi)]] = name
    deg = np.bincount(edges.ravel(), minlength=n)
    leaf = (deg[edges[:, 0]] == 1) | (deg[edges[:, 1]] == 1)
    low = flow <= np.median(flow[street]) if len(street) else np.zeros(len(edges), bool)
    cls[leaf & low & ~is_cor] = "service"
    is_bridge = np.array([s >= 0 and forced.seg_bridge[s] for s in seg_id], dtype=bool)
    minor = np.isin(cls, ["residential", "service"])
    cls[is_bridge & minor & ~is_cor] = "tertiary"  # street bridges are at least collector roads
    cls[is_cor] = "trunk"
    return cls.astype(str)


def _oneway_direction(
    edges: npt.NDArray[np.int64],
    ij: npt.NDArray[np.int64],
    cls: npt.NDArray[np.str_],
    zone: npt.NDArray[np.int64],
    every: int,
) -> npt.NDArray[np.int64]:
    """Return +1 (u→v only), -1 (v→u only) or 0 (two-way) per edge: one-way couplets in the urban grid.

    Along every `every`-th grid line of the urban mesh, minor streets run one way, alternating
    direction from one such line to the next.
    """
    out = np.zeros(len(edges), dtype=np.int64)
    if every <= 0:
        return out
    a, b = edges[:, 0], edges[:, 1]
    ia, ib = ij[a], ij[b]
    on_grid = (ia[:, 0] >= 0) & (ib[:, 0] >= 0) & (zone[a] == 0) & (zone[b] == 0)
    minor = np.isin(cls, ["residential", "tertiary"])
    diff = ib - ia
    for axis in (0, 1):  # axis 0: street along i (constant j); axis 1: along j (constant i)
        other = 1 - axis
        along = on_grid & minor & (np.abs(diff[:, axis]) == 1) & (diff[:, other] == 0)
        line = ia[:, other]
        chosen = along & (line % every == every // 2)
        sign = np.where((line // every) % 2 == 0, 1, -1)
        out[chosen] = (np.sign(diff[chosen, axis]) * sign[chosen]).astype(np.int64)
    return out


def _directed(
    edges: npt.NDArray[np.int64], oneway: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return (u, v, undirected edge index) of the directed links."""
    fwd = oneway >= 0
    bwd = oneway <= 0
    u = np.concatenate((edges[fwd, 0], edges[bwd, 1]))
    v = np.concatenate((edges[fwd, 1], edges[bwd, 0]))
    e = np.concatenate((np.flatnonzero(fwd), np.flatnonzero(bwd)))
    return u, v, e


def _repair_oneways(
    edges: npt.NDArray[np.int64], oneway: npt.NDArray[np.int64], n: int
) -> npt.NDArray[np.int64]:
    """Make one-way streets two-way around nodes that would fall out of the largest SCC."""
    from scipy import sparse  # noqa: PLC0415  (scipy is slow to import)
    from scipy.sparse import csgraph  # noqa: PLC0415

    oneway = oneway.copy()
    for _ in range(10):
        u, v, _e = _directed(edges, oneway)
        g = sparse.csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
        _, lab = csgraph.connected_components(g, directed=True, connection="strong")
        big = np.bincount(lab).argmax()
        out = lab != big
        touch = (out[edges[:, 0]] | out[edges[:, 1]]) & (oneway != 0)
        if not touch.any():
            break
        oneway[touch] = 0
    return oneway


def generate(
    wards: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    seed: int = 2025,
    params: SyntheticParams | None = None,
) -> RoadNetwork:
    """Generate the synthetic road network of Lạng Sơn city (see the module docstring).

    Parameters
    ----------
    wards
        The 2025 wards (`gis_data.load.wards_2025`); the rows flagged ``core_city_ward`` bound it.
    units
        The pre-2025 units (`gis_data.load.units_pre2025`); their phường and towns place the urban core.
    seed
        Seed of every random choice: the same seed and inputs give identical tables.
    params
        Generator knobs; the defaults are the city network.

    Returns
    -------
    RoadNetwork
        Directed links with class, lanes, speed, capacity, one-way, bridge and name; nodes with
        ``signal``, ``zone`` (urban/suburban/rural) and ``gateway`` (destination of a corridor end,
        else ""). Links also carry ``zone`` and ``ref`` (national road number or "").
    """
    p = params or SyntheticParams()
    rng = np.random.default_rng(seed)
    geo = _geography(wards, units, p)
    forced = _forced_segments(geo, p)
    fxy = np.asarray(forced.xy, dtype=np.float64)
    mesh, mesh_ij = _mesh_points(geo, fxy, rng, p)
    xy, edges, seg_id = _street_graph(geo, forced, mesh, rng, p)
    n = len(xy)
    ij = np.vstack((np.full((len(fxy), 2), -1, dtype=np.int64), mesh_ij))
    zone = _zone_of(geo, xy)
    is_cor = np.array([s >= 0 and forced.seg_ref[s] != "" for s in seg_id], dtype=bool)
    flows = _edge_flows(xy, edges, np.where(is_cor, 60.0, 30.0) / 3.6, rng, p)
    cls = _classify(edges, flow=flows, seg_id=seg_id, forced=forced, n=n, p=p)
    oneway = _repair_oneways(edges, _oneway_direction(edges, ij, cls, zone, p.oneway_every), n)
    ezone = np.maximum(zone[edges[:, 0]], zone[edges[:, 1]])
    net = _assemble(
        xy,
        edges=edges,
        seg_id=seg_id,
        cls=cls,
        oneway=oneway,
        ezone=ezone,
        zone=zone,
        forced=forced,
        seed=seed,
        p=p,
    )
    scc = net.largest_scc()
    nodes = scc.nodes.drop(columns="orig_id")
    links = scc.links.drop(columns="orig_id")
    meta = dict(net.meta)
    meta["dropped_nodes"] = net.n_nodes - scc.n_nodes
    meta["gateways"] = {str(k): v for k, v in nodes.loc[nodes["gateway"] != "", "gateway"].items()}
    return RoadNetwork.from_frames(nodes, links, net.provenance, meta)


def _street_names(
    xy: npt.NDArray[np.float64],
    edges: npt.NDArray[np.int64],
    cls: npt.NDArray[np.str_],
    seg_id: npt.NDArray[np.int64],
    forced: _Forced,
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Return the name and its source of each undirected edge: corridors and bridges keep theirs (real,
    or descriptive for the bridges with no sourced name); unnamed main streets are traced through
    junctions where they run on nearly straight (stroke building) and the longest get a plausible
    synthetic name (``name_source = "synthetic"``); the rest stay unnamed (source "")."""
    m = len(edges)
    name = np.array([forced.seg_name[s] if s >= 0 else "" for s in seg_id], dtype=object)
    source = np.array(
        ["" if not n else "descriptive" if forced.seg_bridge[s] and n not in REAL_BRIDGE_NAMES and
         not forced.seg_ref[s] else "real" for n, s in zip(name, seg_id, strict=True)],
        dtype=object,
    )  # fmt: skip
    cand = (name == "") & np.isin(cls, _NAMED_CLASSES)
    parent = np.arange(m)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    incident: dict[int, list[int]] = {}
    for e in np.flatnonzero(cand):
        for node in edges[e]:
            incident.setdefault(int(node), []).append(int(e))
    for node, es in incident.items():
        # Pair the edges at this junction by the straightest continuation, straightest pairs first.
        away = {e: xy[edges[e][1] if edges[e][0] == node else edges[e][0]] - xy[node] for e in es}
        pairs = []
        for i, a in enumerate(es):
            for b in es[i + 1 :]:
                va, vb = away[a], away[b]
                cos = float(va @ vb) / max(1e-9, float(np.hypot(*va) * np.hypot(*vb)))
                turn = 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
                if turn < _STRAIGHT_DEG:
                    pairs.append((turn, a, b))
        used: set[int] = set()
        for _, a, b in sorted(pairs):
            if a in used or b in used:
                continue
            used.update((a, b))
            parent[find(a)] = find(b)
    length = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T)
    streets: dict[int, list[int]] = {}
    for e in np.flatnonzero(cand):
        streets.setdefault(find(int(e)), []).append(int(e))
    ranked = sorted(streets.values(), key=lambda es: (-float(length[es].sum()), min(es)))
    names = iter(SYNTHETIC_STREET_NAMES)
    for es in ranked:
        if float(length[es].sum()) < _MIN_STREET_M:
            break
        street = next(names, None)
        if street is None:
            break
        name[es] = street
        source[es] = "synthetic"
    return name, source


def _assemble(
    xy: npt.NDArray[np.float64],
    *,
    edges: npt.NDArray[np.int64],
    seg_id: npt.NDArray[np.int64],
    cls: npt.NDArray[np.str_],
    oneway: npt.NDArray[np.int64],
    ezone: npt.NDArray[np.int64],
    zone: npt.NDArray[np.int64],
    forced: _Forced,
    seed: int,
    p: SyntheticParams,
) -> RoadNetwork:
    n = len(xy)
    lon, lat = to_wgs84_xy(xy[:, 0], xy[:, 1])
    u, v, e = _directed(edges, oneway)
    zname = np.asarray(_ZONES)[ezone[e]]
    lcls = cls[e]
    speed = np.array([_SPEED_KMH[z][c] for z, c in zip(zname, lcls, strict=True)], dtype=np.float64)
    lanes = np.array([_LANES.get(z, {}).get(c, 1) for z, c in zip(zname, lcls, strict=True)], dtype=np.int64)
    per_lane = np.array([ROAD_CLASSES[c][2] for c in lcls])
    ref = np.array([forced.seg_ref[s] if s >= 0 else "" for s in seg_id], dtype=object)[e]
    edge_name, edge_source = _street_names(xy, edges, cls, seg_id, forced)
    name, name_source = edge_name[e], edge_source[e]
    bridge = np.array([s >= 0 and forced.seg_bridge[s] for s in seg_id], dtype=bool)[e]
    coords = np.stack((np.column_stack((lon[u], lat[u])), np.column_stack((lon[v], lat[v]))), axis=1)
    links = gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "length_m": np.round(np.hypot(*(xy[u] - xy[v]).T), 2),
            "lanes": lanes,
            "speed_kmh": speed,
            "capacity_pcu_h": per_lane * lanes,
            "road_class": lcls,
            "oneway": oneway[e] != 0,
            "bridge": bridge,
            "name": name.astype(str),
            "name_source": name_source.astype(str),
            "ref": ref.astype(str),
            "zone": zname,
        },
        geometry=shapely.linestrings(coords),
        crs=WGS84,
    )
    links = links.sort_values(["u", "v"], kind="stable").reset_index(drop=True)
    links.index.name = "link_id"
    signal = _signals(n, edges, cls, zone)
    gateway = np.full(n, "", dtype=object)
    for node, toward in forced.gateways.items():
        gateway[node] = toward
    nodes = gpd.GeoDataFrame(
        {
            "x": lon,
            "y": lat,
            "signal": signal,
            "zone": np.asarray(_ZONES)[zone],
            "gateway": gateway.astype(str),
        },
        geometry=shapely.points(np.column_stack((lon, lat))),
        crs=WGS84,
        index=pd.RangeIndex(n, name="node_id"),
    )
    bridges = []
    for b in forced.bridges:
        blon, blat = (round(float(v), 6) for v in to_wgs84_xy(b["xy"][0], b["xy"][1]))
        bridges.append({"name": b["name"], "ref": b["ref"], "lon": blon, "lat": blat})
    prov = Provenance(
        name="roads_synthetic",
        source="synthetic",
        licence="CC0-1.0",
        description=(
            "Synthetic road network of Lạng Sơn city generated inside the real 2025 ward polygons "
            "(dense mesh in the old urban core, national corridors, Kỳ Cùng bridges); not surveyed"
        ),
        inputs=("wards_2025", "units_pre2025"),
        params={"seed": seed, "generator_version": GENERATOR_VERSION, **p.to_dict()},
    )
    meta = {
        "generator": "gis_data.roads_synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "params": p.to_dict(),
        "bridges": bridges,
        "river": RIVER_NAME,
    }
    return RoadNetwork.from_frames(nodes, links, prov, meta)


def _signals(
    n: int, edges: npt.NDArray[np.int64], cls: npt.NDArray[np.str_], zone: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Return whether each node is a signalised junction.

    Urban and suburban junctions where three or more main-road arms (secondary or above) meet, and
    urban crossroads of a main road with collector roads.
    """
    rank = np.array([_CLASS_RANK[c] for c in cls])
    ends = edges.ravel()
    deg = np.bincount(ends, minlength=n)
    main = np.bincount(ends, weights=np.repeat(rank <= _CLASS_RANK["secondary"], 2), minlength=n)
    collector = np.bincount(ends, weights=np.repeat(rank <= _CLASS_RANK["tertiary"], 2), minlength=n)
    sig = (zone <= 1) & (main >= 3)
    sig |= (zone == 0) & (deg >= 4) & (main >= 2) & (collector >= 3)
    return np.asarray(sig, dtype=bool)

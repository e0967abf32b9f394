"""Import OpenStreetMap roads into a `RoadNetwork`: ``.osm.pbf`` through pyrosm, or a download via osmnx.

The PBF path reads the drivable ways (pyrosm ``network_type="driving"``) as node-to-node segments,
clips them to a boundary polygon or bbox (a segment is kept when both its nodes are inside), splits
ways at intersections (nodes shared by two or more ways, way ends, and nodes with three or more
neighbours) and merges the segments in between into one link geometry. Link attributes come from the
OSM tags:

* ``highway`` → ``road_class`` (`HIGHWAY_CLASS`; other highway values are dropped);
* ``oneway`` (yes/true/1, -1/reverse, no) and ``junction=roundabout|circular`` (implied one-way) →
  one directed link, reversed for -1; everything else → two links;
* ``lanes`` (both directions; ``lanes:forward``/``lanes:backward`` when tagged) → lanes per direction,
  class default when missing; ``maxspeed`` (km/h, mph, ``XX:urban``-style zones) → ``speed_kmh``;
* capacity = lanes × the class's capacity per lane (`twin.network.ROAD_CLASSES`);
* ``bridge`` (any value but "no") → ``bridge``; ``name`` (else ``ref``) → ``name``;
* nodes tagged ``highway=traffic_signals`` → ``signal``; a signal inside a merged link moves to the
  nearer link end.

Lengths are geodesic (haversine on the WGS84 mean radius) along the full way geometry. Self-loops
(closed ways with no junction) are dropped. By default the largest strongly connected component is
kept, so every node can reach every other. Provenance: real, ODbL.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyrosm
import shapely
from pyrosm.exceptions import PBFException
from shapely.geometry.base import BaseGeometry

from twin.crs import WGS84, haversine_m
from twin.errors import DataError, InputError
from twin.network import ROAD_CLASSES, RoadNetwork
from twin.provenance import Provenance

#: Bump when the importer's output changes for the same file (it keys the cache).
IMPORTER_VERSION = "1.0"
ODBL = "ODbL-1.0"
OSM_URL = "https://www.openstreetmap.org/copyright"

#: OSM ``highway`` values kept for driving, and the twin's class for each.
HIGHWAY_CLASS: dict[str, str] = {
    "motorway": "trunk",
    "motorway_link": "trunk",
    "trunk": "trunk",
    "trunk_link": "trunk",
    "primary": "primary",
    "primary_link": "primary",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "tertiary": "tertiary",
    "tertiary_link": "tertiary",
    "unclassified": "residential",
    "residential": "residential",
    "living_street": "residential",
    "road": "residential",
    "service": "service",
}
#: Speeds (km/h) for the zone values of ``maxspeed`` (e.g. ``VN:urban``, ``FI:rural``).
ZONE_SPEED_KMH = {"urban": 50.0, "rural": 80.0, "motorway": 120.0, "trunk": 100.0, "living_street": 20.0}

_ONEWAY_YES = {"yes", "true", "1"}
_ONEWAY_REV = {"-1", "reverse"}

Progress = Callable[[str], None]


# -- tag parsing ----------------------------------------------------------------------------------------
def parse_maxspeed(value: object) -> float:
    """Return a ``maxspeed`` tag in km/h (NaN if absent or not a speed).

    Examples: "50" → 50, "30 mph" → 48.3, "VN:urban" → 50, "40;60" → 40, "none"/"signals" → NaN.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan")
    text = str(value).strip().lower()
    speeds = []
    for raw in re.split(r"[;|,]", text):
        part = raw.strip()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?", part)
        if m:
            speeds.append(float(m.group(1)) * (1.609344 if m.group(2) == "mph" else 1.0))
        elif ":" in part and part.split(":", 1)[1] in ZONE_SPEED_KMH:
            speeds.append(ZONE_SPEED_KMH[part.split(":", 1)[1]])
        elif part == "walk":
            speeds.append(7.0)
    speeds = [s for s in speeds if s > 0]
    return min(speeds) if speeds else float("nan")


def parse_lanes(value: object) -> float:
    """Return a ``lanes`` tag as a number (the smallest of "2;3"); NaN if absent or not a number."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan")
    nums = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", str(value))]
    nums = [x for x in nums if x > 0]
    return float(int(min(nums))) if nums else float("nan")


def oneway_direction(oneway: object, junction: object = None, highway: object = None) -> int:
    """Return +1 (one-way along the way), -1 (against it) or 0 (two-way) from the tags."""
    text = "" if oneway is None or (isinstance(oneway, float) and np.isnan(oneway)) else str(oneway)
    text = text.strip().lower()
    if text in _ONEWAY_YES:
        return 1
    if text in _ONEWAY_REV:
        return -1
    if text in {"no", "false", "0", "reversible", "alternating"}:
        return 0
    if str(junction).lower() in {"roundabout", "circular"} or str(highway) == "motorway":
        return 1
    return 0


def link_attributes(
    road_class: pd.Series,
    lanes_total: pd.Series,
    lanes_dir: pd.Series,
    maxspeed: pd.Series,
    oneway: pd.Series,
) -> pd.DataFrame:
    """Return lanes (per direction), speed_kmh and capacity_pcu_h for each way piece.

    `lanes_total` counts both directions (the OSM ``lanes`` tag); `lanes_dir` is the directional tag
    (``lanes:forward``/``backward``) when one applies, else NaN. Missing values take the class
    defaults of `twin.network.ROAD_CLASSES`.
    """
    default_lanes = road_class.map({c: v[0] for c, v in ROAD_CLASSES.items()}).astype(float)
    default_speed = road_class.map({c: v[1] for c, v in ROAD_CLASSES.items()}).astype(float)
    per_lane = road_class.map({c: v[2] for c, v in ROAD_CLASSES.items()}).astype(float)
    two_way = oneway.to_numpy() == 0
    from_total = np.where(two_way, np.floor(lanes_total.to_numpy() / 2), lanes_total.to_numpy())
    lanes = np.where(np.isnan(lanes_dir.to_numpy()), from_total, lanes_dir.to_numpy())
    lanes = np.where(np.isnan(lanes) | (lanes < 1), default_lanes.to_numpy(), lanes)
    lanes = np.maximum(lanes, 1).astype(np.int64)
    speed = maxspeed.to_numpy(dtype=float)
    speed = np.where(np.isnan(speed), default_speed.to_numpy(), speed)
    return pd.DataFrame(
        {"lanes": lanes, "speed_kmh": speed, "capacity_pcu_h": per_lane.to_numpy() * lanes},
        index=road_class.index,
    )


# -- the PBF path ---------------------------------------------------------------------------------------
def read_pbf(
    path: Path,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    boundary: BaseGeometry | None = None,
    largest_scc: bool = True,
    progress: Progress | None = None,
) -> RoadNetwork:
    """Import the drivable roads of an ``.osm.pbf`` extract as a `RoadNetwork` (see the module doc).

    Parameters
    ----------
    path
        The ``.osm.pbf`` file.
    bbox
        ``(west, south, east, north)`` in degrees: keep only roads inside it.
    boundary
        A (Multi)Polygon in EPSG:4326: keep only roads inside it (applied after `bbox`).
    largest_scc
        Keep only the largest strongly connected component (default), else every link.
    progress
        Called with a short description of each stage.

    Raises
    ------
    DataError
        The file is missing, is not a valid PBF, or has no drivable roads in the area.
    """
    path = Path(path)
    say = progress or (lambda _msg: None)
    if not path.is_file():
        raise DataError(f"{path}: OSM file not found", hint="check the path of the .osm.pbf extract")
    area = _area(bbox, boundary)
    say(f"reading {path.name}")
    try:
        with warnings.catch_warnings():
            # an empty area is reported below as a DataError, not as pyrosm's warning
            warnings.filterwarnings("ignore", message="Could not find any", category=UserWarning)
            reader = pyrosm.OSM(str(path), bounding_box=list(area.bounds) if area is not None else None)
            result = reader.get_network(network_type="driving", nodes=True)
    except (PBFException, ValueError, OSError, KeyError, IndexError, RuntimeError, TypeError) as e:
        reason = str(e).split(". ")[0].replace(f"'{path}' ", "")
        raise DataError(
            f"{path}: not a readable OSM PBF file ({type(e).__name__}: {reason})",
            hint="give an .osm.pbf extract (e.g. from download.geofabrik.de)",
        ) from e
    if result is None or result[1] is None or len(result[1]) == 0:
        raise DataError(f"{path}: no drivable roads in the file or area", hint="check the bbox/boundary")
    nodes, edges = result
    say("splitting ways at intersections")
    segments = _segments_from_pyrosm(edges)
    coords = pd.DataFrame(
        {"lon": nodes["lon"].to_numpy(float), "lat": nodes["lat"].to_numpy(float)},
        index=nodes["id"].to_numpy(np.int64),
    )
    coords = coords[~coords.index.duplicated()]
    signals = _signal_ids(nodes)
    prov = Provenance(
        name="roads_osm",
        source="real",
        licence=ODBL,
        description=f"OpenStreetMap drivable roads imported from {path.name} (© OpenStreetMap contributors)",
        url=OSM_URL,
        params={"file": path.name, "bbox": list(bbox) if bbox else None, "clipped": boundary is not None},
    )
    net = network_from_segments(segments, coords, signals, prov, area=area, largest_scc=largest_scc)
    net.meta.update({"file": str(path), "importer_version": IMPORTER_VERSION})
    say(f"{net.n_nodes} nodes, {net.n_links} links")
    return net


def _area(
    bbox: tuple[float, float, float, float] | None, boundary: BaseGeometry | None
) -> BaseGeometry | None:
    area: BaseGeometry | None = None
    if bbox is not None:
        w, s, e, n = (float(x) for x in bbox)
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise InputError(
                "bbox", f"must be west,south,east,north in degrees with west<east, south<north; got {bbox}"
            )
        area = shapely.box(w, s, e, n)
    if boundary is not None:
        if boundary.is_empty or boundary.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError("boundary", "must be a non-empty Polygon or MultiPolygon in EPSG:4326")
        area = boundary if area is None else area.intersection(boundary)
    return area


def _tag(tags: pd.Series, key: str) -> pd.Series:
    """Return one key of pyrosm's JSON ``tags`` column (NaN where absent)."""

    def get(raw: object) -> object:
        if not isinstance(raw, str) or key not in raw:
            return np.nan
        try:
            return json.loads(raw).get(key, np.nan)
        except json.JSONDecodeError:
            return np.nan

    return tags.map(get) if len(tags) else pd.Series(dtype=object)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype(object)
    return pd.Series(np.nan, index=frame.index, dtype=object)


def _segments_from_pyrosm(edges: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return pyrosm's node-to-node edges as the segment table of `network_from_segments`."""
    tags = _col(edges, "tags")
    out = pd.DataFrame(
        {
            "way": edges["id"].to_numpy(np.int64),
            "u": edges["u"].to_numpy(np.int64),
            "v": edges["v"].to_numpy(np.int64),
            "highway": _col(edges, "highway"),
            "oneway": _col(edges, "oneway"),
            "junction": _col(edges, "junction").fillna(_tag(tags, "junction")),
            "lanes": _col(edges, "lanes"),
            "lanes_forward": _tag(tags, "lanes:forward"),
            "lanes_backward": _tag(tags, "lanes:backward"),
            "maxspeed": _col(edges, "maxspeed"),
            "bridge": _col(edges, "bridge"),
            "name": _col(edges, "name").fillna(_col(edges, "ref")).fillna(_tag(tags, "ref")),
        }
    )
    return out.reset_index(drop=True)


def _signal_ids(nodes: gpd.GeoDataFrame) -> set[int]:
    if "tags" not in nodes.columns:
        return set()
    ids = nodes["id"].to_numpy(np.int64)
    out = set()
    for i, raw in zip(ids.tolist(), nodes["tags"].tolist(), strict=True):
        tags = raw
        if isinstance(raw, str):
            try:
                tags = json.loads(raw)
            except json.JSONDecodeError:
                continue
        if isinstance(tags, dict) and tags.get("highway") == "traffic_signals":
            out.add(i)
    return out


def network_from_segments(
    segments: pd.DataFrame,
    coords: pd.DataFrame,
    signals: set[int],
    prov: Provenance,
    *,
    area: BaseGeometry | None = None,
    largest_scc: bool = True,
) -> RoadNetwork:
    """Build a `RoadNetwork` from OSM way segments (the pure core of the importer).

    Parameters
    ----------
    segments
        One row per consecutive node pair of a way, in way order: ``way``, ``u``, ``v`` (OSM node
        ids) and the way's tags ``highway``, ``oneway``, ``junction``, ``lanes``, ``lanes_forward``,
        ``lanes_backward``, ``maxspeed``, ``bridge``, ``name``.
    coords
        ``lon``, ``lat`` indexed by OSM node id.
    signals
        OSM ids of the nodes tagged ``highway=traffic_signals``.
    prov
        Provenance of the result.
    area
        Keep only segments with both nodes inside this polygon (EPSG:4326).
    largest_scc
        Keep only the largest strongly connected component.
    """
    seg = segments.copy()
    seg["road_class"] = seg["highway"].map(HIGHWAY_CLASS)
    n_ways_in = int(seg["way"].nunique())
    seg = seg[seg["road_class"].notna() & seg["u"].isin(coords.index) & seg["v"].isin(coords.index)]
    seg = seg[seg["u"] != seg["v"]]
    ulon, ulat = coords.loc[seg["u"], "lon"].to_numpy(), coords.loc[seg["u"], "lat"].to_numpy()
    vlon, vlat = coords.loc[seg["v"], "lon"].to_numpy(), coords.loc[seg["v"], "lat"].to_numpy()
    if area is not None and len(seg):
        inside = shapely.contains_xy(area, ulon, ulat) & shapely.contains_xy(area, vlon, vlat)
        seg, ulon, ulat, vlon, vlat = seg[inside], ulon[inside], ulat[inside], vlon[inside], vlat[inside]
    if len(seg) == 0:
        raise DataError("no drivable OSM roads inside the requested area", hint="check the bbox/boundary")
    seg = seg.reset_index(drop=True)
    way = seg["way"].to_numpy(np.int64)
    u = seg["u"].to_numpy(np.int64)
    v = seg["v"].to_numpy(np.int64)
    # runs: maximal chains of consecutive segments of one way
    run_start = np.ones(len(seg), dtype=bool)
    run_start[1:] = (way[1:] != way[:-1]) | (u[1:] != v[:-1])
    run_end = np.ones(len(seg), dtype=bool)
    run_end[:-1] = run_start[1:]
    # junctions: way ends, nodes on two or more ways, nodes with three or more neighbours
    node_way = pd.DataFrame(
        {"node": np.concatenate((u, v)), "way": np.concatenate((way, way))}
    ).drop_duplicates()
    n_ways = node_way["node"].value_counts()
    pairs = pd.DataFrame({"a": np.minimum(u, v), "b": np.maximum(u, v)}).drop_duplicates()
    degree = pd.concat((pairs["a"], pairs["b"])).value_counts()
    junction = set(n_ways.index[n_ways.to_numpy() >= 2].tolist()) | set(
        degree.index[degree.to_numpy() >= 3].tolist()
    )
    junction |= set(u[run_start].tolist()) | set(v[run_end].tolist())
    split = run_start | np.isin(u, np.fromiter(junction, dtype=np.int64, count=len(junction)))
    piece = np.cumsum(split) - 1
    n_pieces = int(piece[-1]) + 1
    first = np.flatnonzero(split)
    last = np.r_[first[1:] - 1, len(seg) - 1]
    seg_len = haversine_m(ulon, ulat, vlon, vlat)
    length = np.bincount(piece, weights=seg_len, minlength=n_pieces)
    # geometry: the first node of each piece, then the end node of each of its segments
    idx = np.concatenate((piece[first], piece))
    order = np.argsort(np.concatenate((first * 2, np.arange(len(seg)) * 2 + 1)), kind="stable")
    xs = np.concatenate((ulon[first], vlon))[order]
    ys = np.concatenate((ulat[first], vlat))[order]
    geom = np.asarray(shapely.linestrings(xs, ys, indices=idx[order]), dtype=object)
    pu, pv = u[first], v[last]
    attrs = seg.iloc[first].reset_index(drop=True)
    keep = (pu != pv) & (length > 0)
    n_loops = int((~keep).sum())
    interior_signals = _move_signals(
        signals, junction=junction, u=u, piece=piece, pu=pu, pv=pv, coords=coords
    )
    attrs, geom, length, pu, pv = (
        attrs[keep].reset_index(drop=True),
        geom[keep],
        length[keep],
        pu[keep],
        pv[keep],
    )
    oneway = np.array(
        [
            oneway_direction(o, j, h)
            for o, j, h in zip(
                attrs["oneway"].tolist(), attrs["junction"].tolist(), attrs["highway"].tolist(), strict=True
            )
        ],
        dtype=np.int64,
    )
    lanes_total = attrs["lanes"].map(parse_lanes).astype(float)
    fwd_tag = attrs["lanes_forward"].map(parse_lanes).astype(float)
    bwd_tag = attrs["lanes_backward"].map(parse_lanes).astype(float)
    maxspeed = attrs["maxspeed"].map(parse_maxspeed).astype(float)
    one = pd.Series(oneway)
    fwd = link_attributes(attrs["road_class"], lanes_total, fwd_tag, maxspeed, one)
    bwd = link_attributes(attrs["road_class"], lanes_total, bwd_tag, maxspeed, one)
    along = np.flatnonzero(oneway >= 0)
    against = np.flatnonzero(oneway <= 0)
    bridge = (
        attrs["bridge"]
        .map(lambda b: isinstance(b, str) and b.strip().lower() not in ("", "no"))
        .to_numpy(bool)
    )
    name = attrs["name"].map(lambda x: x if isinstance(x, str) else "").to_numpy(object)
    rev_geom = shapely.reverse(geom[against])
    node_ids = np.unique(np.concatenate((pu, pv)))
    lid = pd.Series(np.arange(len(node_ids)), index=node_ids)
    lu = np.concatenate((pu[along], pv[against]))
    lv = np.concatenate((pv[along], pu[against]))
    pick = np.concatenate((along, against))
    side = pd.concat((fwd.iloc[along], bwd.iloc[against]), ignore_index=True)
    links = gpd.GeoDataFrame(
        {
            "u": lid.loc[lu].to_numpy(np.int64),
            "v": lid.loc[lv].to_numpy(np.int64),
            "length_m": np.round(length[pick], 3),
            "lanes": side["lanes"].to_numpy(np.int64),
            "speed_kmh": side["speed_kmh"].to_numpy(float),
            "capacity_pcu_h": side["capacity_pcu_h"].to_numpy(float),
            "road_class": attrs["road_class"].to_numpy(object)[pick].astype(str),
            "oneway": oneway[pick] != 0,
            "bridge": bridge[pick],
            "name": name[pick].astype(str),
            "highway": attrs["highway"].to_numpy(object)[pick].astype(str),
            "osm_way_id": attrs["way"].to_numpy(np.int64)[pick],
        },
        geometry=np.concatenate((geom[along], rev_geom)),
        crs=WGS84,
    )
    links = links.sort_values(["u", "v", "osm_way_id"], kind="stable").reset_index(drop=True)
    links.index.name = "link_id"
    lon = coords.loc[node_ids, "lon"].to_numpy(float)
    lat = coords.loc[node_ids, "lat"].to_numpy(float)
    is_signal = np.isin(node_ids, np.fromiter(signals | interior_signals, dtype=np.int64))
    nodes = gpd.GeoDataFrame(
        {"x": lon, "y": lat, "signal": is_signal, "osm_id": node_ids},
        geometry=shapely.points(lon, lat),
        crs=WGS84,
        index=pd.RangeIndex(len(node_ids), name="node_id"),
    )
    meta: dict[str, Any] = {
        "importer": "gis_data.osm",
        "ways_read": n_ways_in,
        "segments_kept": len(seg),
        "self_loops_dropped": n_loops,
    }
    net = RoadNetwork.from_frames(nodes, links, prov, meta)
    if largest_scc and net.n_nodes:
        scc = net.largest_scc()
        meta["dropped_nodes_outside_scc"] = net.n_nodes - scc.n_nodes
        net = RoadNetwork.from_frames(
            scc.nodes.drop(columns="orig_id"), scc.links.drop(columns="orig_id"), prov, meta
        )
    return net


def _move_signals(
    signals: set[int],
    *,
    junction: set[int],
    u: npt.NDArray[np.int64],
    piece: npt.NDArray[np.int64],
    pu: npt.NDArray[np.int64],
    pv: npt.NDArray[np.int64],
    coords: pd.DataFrame,
) -> set[int]:
    """Return the link ends that inherit signals sitting inside merged links (the nearer end)."""
    inner = [s for s in signals if s not in junction]
    if not inner:
        return set()
    out = set()
    pos = pd.Series(piece, index=u)
    pos = pos[~pos.index.duplicated()]
    for s in inner:
        if s not in pos.index:
            continue
        k = int(pos.loc[s])
        a, b = int(pu[k]), int(pv[k])
        sx, sy = coords.loc[s, ["lon", "lat"]]
        da = haversine_m(
            np.array([sx]), np.array([sy]), np.array([coords.loc[a, "lon"]]), np.array([coords.loc[a, "lat"]])
        )[0]
        db = haversine_m(
            np.array([sx]), np.array([sy]), np.array([coords.loc[b, "lon"]]), np.array([coords.loc[b, "lat"]])
        )[0]
        out.add(a if da <= db else b)
    return out


# -- the download path (internet) ----------------------------------------------------------------------
def download(polygon: BaseGeometry, *, largest_scc: bool = True) -> RoadNetwork:
    """Download the drivable roads inside `polygon` (EPSG:4326) from Overpass via osmnx.

    Needs internet. The osmnx graph (simplified to intersections) goes through the same tag mapping
    as the PBF path (`from_osmnx`). For Lạng Sơn, the old city is OSM relation 7106070.
    """
    import osmnx as ox  # noqa: PLC0415  (osmnx is slow to import and only this path needs it)

    try:
        graph = ox.graph_from_polygon(polygon, network_type="drive", simplify=True, retain_all=True)  # type: ignore[arg-type]
    except (ValueError, OSError, ox._errors.InsufficientResponseError) as e:
        raise DataError(
            f"OSM download failed ({e})", hint="check the internet connection or use a .osm.pbf file"
        ) from e
    return from_osmnx(graph, largest_scc=largest_scc)


def from_osmnx(graph: nx.MultiDiGraph, *, largest_scc: bool = True, name: str = "roads_osm") -> RoadNetwork:
    """Convert an osmnx drive graph (directed, one edge per direction) into a `RoadNetwork`.

    osmnx already resolves one-way tags into edge directions; its ``lanes`` counts both directions
    of a two-way way, as in OSM. List-valued tags of simplified edges take the most important class,
    the smallest lane count and the lowest speed.
    """
    rows = []
    for a, b, data in graph.edges(data=True):
        highway = _as_list(data.get("highway"))
        classes = [HIGHWAY_CLASS[h] for h in highway if h in HIGHWAY_CLASS]
        if not classes:
            continue
        cls = min(classes, key=list(ROAD_CLASSES).index)
        lanes = [parse_lanes(x) for x in _as_list(data.get("lanes"))]
        speeds = [parse_maxspeed(x) for x in _as_list(data.get("maxspeed"))]
        geom = data.get("geometry")
        if geom is None:
            geom = shapely.LineString(
                [(graph.nodes[a]["x"], graph.nodes[a]["y"]), (graph.nodes[b]["x"], graph.nodes[b]["y"])]
            )
        rows.append(
            {
                "a": a,
                "b": b,
                "road_class": cls,
                "highway": highway[0],
                "lanes_total": np.nanmin(lanes) if not all(np.isnan(lanes)) else np.nan,
                "maxspeed": np.nanmin(speeds) if not all(np.isnan(speeds)) else np.nan,
                "oneway_flag": 1 if bool(data.get("oneway", False)) else 0,
                "bridge": any(
                    str(x).lower() not in ("no", "nan", "none", "") for x in _as_list(data.get("bridge"))
                ),
                "name": next(
                    (
                        str(x)
                        for x in _as_list(data.get("name")) + _as_list(data.get("ref"))
                        if isinstance(x, str)
                    ),
                    "",
                ),
                "osm_way_id": int(_as_list(data.get("osmid"))[0]) if data.get("osmid") is not None else -1,
                "geometry": geom,
            }
        )
    if not rows:
        raise DataError("the OSM graph has no drivable roads", hint="check the area")
    df = pd.DataFrame(rows)
    attrs = link_attributes(
        df["road_class"],
        df["lanes_total"].astype(float),
        pd.Series(np.nan, index=df.index),
        df["maxspeed"].astype(float),
        df["oneway_flag"],
    )
    node_ids = np.unique(np.concatenate((df["a"].to_numpy(np.int64), df["b"].to_numpy(np.int64))))
    lid = pd.Series(np.arange(len(node_ids)), index=node_ids)
    geoms = gpd.GeoSeries(df["geometry"].to_numpy(), crs=graph.graph.get("crs", WGS84)).to_crs(WGS84)
    lon_lat = np.asarray(geoms.values)
    lengths = np.array([_line_length_m(g) for g in lon_lat])
    links = gpd.GeoDataFrame(
        {
            "u": lid.loc[df["a"].to_numpy(np.int64)].to_numpy(),
            "v": lid.loc[df["b"].to_numpy(np.int64)].to_numpy(),
            "length_m": np.round(lengths, 3),
            "lanes": attrs["lanes"].to_numpy(np.int64),
            "speed_kmh": attrs["speed_kmh"].to_numpy(float),
            "capacity_pcu_h": attrs["capacity_pcu_h"].to_numpy(float),
            "road_class": df["road_class"].astype(str).to_numpy(),
            "oneway": df["oneway_flag"].to_numpy() == 1,
            "bridge": df["bridge"].to_numpy(bool),
            "name": df["name"].astype(str).to_numpy(),
            "highway": df["highway"].astype(str).to_numpy(),
            "osm_way_id": df["osm_way_id"].to_numpy(np.int64),
        },
        geometry=lon_lat,
        crs=WGS84,
    )
    links = (
        links[links["length_m"] > 0]
        .sort_values(["u", "v", "osm_way_id"], kind="stable")
        .reset_index(drop=True)
    )
    links.index.name = "link_id"
    pts = gpd.GeoSeries(
        [shapely.Point(graph.nodes[i]["x"], graph.nodes[i]["y"]) for i in node_ids.tolist()],
        crs=graph.graph.get("crs", WGS84),
    ).to_crs(WGS84)
    signal = np.array(
        [graph.nodes[i].get("highway") == "traffic_signals" for i in node_ids.tolist()], dtype=bool
    )
    nodes = gpd.GeoDataFrame(
        {"x": pts.x.to_numpy(), "y": pts.y.to_numpy(), "signal": signal, "osm_id": node_ids},
        geometry=pts.to_numpy(),
        crs=WGS84,
        index=pd.RangeIndex(len(node_ids), name="node_id"),
    )
    prov = Provenance(
        name=name,
        source="real",
        licence=ODBL,
        description="OpenStreetMap drivable roads downloaded through osmnx (© OpenStreetMap contributors)",
        url=OSM_URL,
    )
    net = RoadNetwork.from_frames(nodes, links, prov, {"importer": "gis_data.osm.from_osmnx"})
    if largest_scc and net.n_nodes:
        scc = net.largest_scc()
        net = RoadNetwork.from_frames(
            scc.nodes.drop(columns="orig_id"), scc.links.drop(columns="orig_id"), prov, net.meta
        )
    return net


def _as_list(value: object) -> list[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _line_length_m(line: BaseGeometry) -> float:
    c = shapely.get_coordinates(line)
    if len(c) < 2:
        return 0.0
    return float(haversine_m(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1]).sum())
